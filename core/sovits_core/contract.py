"""The contract between whoever starts a step (a Job, the local runtime) and the step runner.

Both sides import these names, so the environment a step pod gets and the one the runner
reads cannot drift apart.
"""

from __future__ import annotations

import re
from typing import Final

# Exit codes of `sovits step`.
EXIT_OK: Final = 0
EXIT_RETRYABLE: Final = 75  # EX_TEMPFAIL: storage unreachable, preempted, OOM-ish; try again
EXIT_BAD_INPUT: Final = 65  # EX_DATAERR: the same input will fail again; do not retry
# CUDA ran out of memory (upstream said so in its output): run again with half the batch size.
# Outside sysexits' 64-78, so no other meaning is read into it.
EXIT_OUT_OF_MEMORY: Final = 79

# Environment of a step process. Storage settings travel as SOVITS_STORAGE__* (see settings).
ENV_TASK_ID: Final = "SOVITS_TASK_ID"
ENV_NAMESPACE: Final = "SOVITS_TASK_NAMESPACE"
ENV_STEP: Final = "SOVITS_STEP"
ENV_ATTEMPT: Final = "SOVITS_ATTEMPT"
ENV_PARAMS: Final = "SOVITS_STEP_PARAMS"  # JSON object, already validated by the step's model
ENV_SPEC: Final = "SOVITS_TASK_SPEC"  # JSON of the TrainingTask spec (by alias), steps excluded
ENV_PREFIX: Final = "SOVITS_TASK_PREFIX"  # the task's key prefix in the store, e.g. tasks/<id>/
ENV_SHARD_INDEX: Final = "JOB_COMPLETION_INDEX"  # set by Kubernetes for Indexed Jobs
ENV_SHARD_COUNT: Final = "SOVITS_SHARD_COUNT"
ENV_TERMINATION_LOG: Final = "SOVITS_TERMINATION_LOG"
DEFAULT_TERMINATION_LOG: Final = "/dev/termination-log"
# Seconds between the runner's progress writes (default 5); tests of short real runs shorten it.
ENV_PROGRESS_INTERVAL: Final = "SOVITS_PROGRESS_INTERVAL_S"
# A completed step's termination message is its summary, then, for a step with a result the
# status records (test_inference: its quality score), this mark and a one-line JSON object.
RESULT_MARK: Final = " | result: "

# The folders under a task's prefix, one name each; the catalog says which step reads and
# writes which (StepDef.inputs/outputs), and everything else takes the names from there.
INPUT_AUDIO: Final = "input_audio"  # the user's uploads
CONVERTED_WAV: Final = "converted_wav"
SLICED: Final = "sliced"
DENOISED: Final = "denoised"
TRANSCRIPTS: Final = "transcripts"
EXPERIMENTS: Final = "experiments"  # upstream's experiment folders, experiments/{exp_name}/...
REPORTS: Final = "reports"
OUTPUT: Final = "output"

# Keys under a task's prefix.
PROGRESS_KEY: Final = "progress/{step}.json"  # {"step", "progress" (0-100), "message", "updated_at"}
LOG_KEY: Final = "logs/{step}.log"
# Shards of an Indexed Job each keep their own log and progress; shard 0 also writes PROGRESS_KEY.
SHARD_PROGRESS_KEY: Final = "progress/{step}.{shard}.json"
SHARD_LOG_KEY: Final = "logs/{step}.{shard}.log"
# asr_transcribe's own result (upstream names the list after its input folder); any other
# .list under transcripts/ is an upload.
ASR_TRANSCRIPT_KEY: Final = f"{TRANSCRIPTS}/{DENOISED}.list"
TRANSCRIBED_CLIPS: Final = DENOISED  # the folder of the clips the list names
# The slicer names a slice after its source file and its sample range at 32 kHz.
SLICE_NAME: Final = re.compile(r"^(?P<source>.+)_(?P<start>\d{10})_(?P<end>\d{10})\.wav$")
# The dataset report (sovits_core.dataset): asr_transcribe's audio measurements of the
# clips, what extract_text_features left out, and the proofreading edits of the transcript.
DATASET_AUDIO_KEY: Final = f"{REPORTS}/dataset-audio.json"
DATASET_EXCLUDED_KEY: Final = f"{REPORTS}/dataset-excluded.json"
TRANSCRIPT_EDITS_KEY: Final = f"{REPORTS}/transcript-edits.json"
