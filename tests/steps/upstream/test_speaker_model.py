"""The dataset report's speaker similarity through upstream's v2Pro speaker-verification model.

Real upstream code (ERes2NetV2 and its fbank, from the pinned checkout) in upstream's
interpreter, run by asr_transcribe as the step image runs it. What stands in: the model's
weights (random, made with upstream's class by ``stand_in_models.py``), so the similarities
say nothing about voices here; what is checked is that the report's embedding is that model's
output for each clip, and that without the model the report says it used the cepstral one.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sovits_core import contract as c
from sovits_core import dataset_store
from sovits_core.model import TrainingTaskSpec
from sovits_steps.upstream import speaker_model
from tests.steps.upstream.real import CLIPS, ImageTask, Run, new_task, upstream_env
from tests.support.upstream import Upstream

pytestmark = [pytest.mark.upstream, pytest.mark.timeout(900)]

# The model's embedding of one clip, computed here with torchaudio's own Kaldi fbank (not
# upstream's copy of it) and soundfile, from the stand-in checkpoint.
EMBED = """
import json, sys
import soundfile, torch, torchaudio
from ERes2NetV2 import ERes2NetV2
model = ERes2NetV2(baseWidth=24, scale=4, expansion=4)
model.load_state_dict(torch.load(sys.argv[1], map_location="cpu"))
model.eval()
samples, rate = soundfile.read(sys.argv[2], dtype="float32")
wav = torchaudio.functional.resample(torch.from_numpy(samples), rate, 16000)
feat = torchaudio.compliance.kaldi.fbank(wav.unsqueeze(0), num_mel_bins=80, sample_frequency=16000, dither=0)
with torch.no_grad():
    print(json.dumps(model((feat - feat.mean(0)).unsqueeze(0))[0].tolist()))
"""


def transcribe(task: ImageTask, choice: str) -> Run:
    """asr_transcribe over the task's clips with their transcript uploaded (no recogniser needed)."""
    if not task.store.exists("input_audio/clips.list"):
        task.store.put_bytes("input_audio/clips.list", task.store.get_bytes(c.ASR_TRANSCRIPT_KEY))
        task.store.delete(c.ASR_TRANSCRIPT_KEY)
    return task.run("asr_transcribe", {"speaker_model": choice})


def transcribed(task: ImageTask, choice: str) -> list[dict[str, Any]]:
    """The measurements asr_transcribe stored."""
    run = transcribe(task, choice)
    assert run.code == c.EXIT_OK, f"{run.reason}\n{task.log('asr_transcribe')[-4000:]}"
    measured: list[dict[str, Any]] = json.loads(task.store.get_bytes(c.DATASET_AUDIO_KEY))["clips"]
    return measured


def test_with_the_model_in_the_store_each_clip_is_embedded_by_upstreams_speaker_verification_model(
    upstream: Upstream, tiny_checkout: Path, model_store: Path, clips: dict[str, Path]
) -> None:
    task = new_task(upstream, tiny_checkout, model_store, clips, "t-sv-model", "v2Pro")
    measured = {m["clip"]: m for m in transcribed(task, "eres2netv2")}  # asked for by name: on the CPU too

    assert set(CLIPS) <= set(measured)  # and the inference reference, also in denoised/
    assert {m["speaker_model"] for m in measured.values()} == {"eres2netv2"}
    clip = sorted(CLIPS)[0]
    weights = model_store / "models" / "sv" / "pretrained_eres2netv2w24s4ep4.ckpt"
    done = subprocess.run(
        [str(upstream.python), "-s", "-c", EMBED, str(weights), str(clips[clip])],
        cwd=tiny_checkout,
        env={**upstream_env(tiny_checkout), "PYTHONPATH": str(tiny_checkout / "GPT_SoVITS" / "eres2net")},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    expected = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(expected) == len(measured[clip]["embedding"]) == 192
    np.testing.assert_allclose(measured[clip]["embedding"], expected, rtol=1e-3, atol=1e-4)
    assert measured[sorted(CLIPS)[1]]["embedding"] != measured[clip]["embedding"]

    report = dataset_store.report_of(task.store)
    assert report is not None and report["summary"]["speaker_model"] == "eres2netv2"
    assert "sv/pretrained_eres2netv2w24s4ep4.ckpt from the model store" in task.log("asr_transcribe")

    # auto, on a step without a GPU: the model would take about half the audio's length on the CPU
    assert {m["speaker_model"] for m in transcribed(task, "auto")} == {"cepstral"}
    assert "no GPU for this step" in task.log("asr_transcribe")


def test_without_the_model_in_the_store_the_report_is_cepstral_unless_the_model_was_asked_for(
    upstream: Upstream, tiny_checkout: Path, clips: dict[str, Path], tmp_path: Path
) -> None:
    task = new_task(upstream, tiny_checkout, tmp_path / "store", clips, "t-no-sv-model", "v2Pro")
    measured = transcribed(task, "cepstral")

    assert {m["speaker_model"] for m in measured} == {"cepstral"}
    assert {len(m["embedding"]) for m in measured} == {38}
    report = dataset_store.report_of(task.store)
    assert report is not None and report["summary"]["speaker_model"] == "cepstral"

    asked = transcribe(task, "eres2netv2")
    assert asked.code == c.EXIT_BAD_INPUT
    assert "speaker_model: models/sv/pretrained_eres2netv2w24s4ep4.ckpt is not in the model store" in asked.reason


@pytest.mark.parametrize(
    ("count", "visible", "expected"),
    [(0, None, False), (1, None, True), (1, "", False), (2, "3,5", True), (1, "GPU-4a1c2e7f", True)],
)
def test_auto_counts_a_gpu_the_task_asked_for_and_the_step_can_see(
    count: int, visible: str | None, expected: bool
) -> None:
    spec = TrainingTaskSpec.model_validate({"expName": "alice", "gpu": {"count": count}})
    environ = {} if visible is None else {"CUDA_VISIBLE_DEVICES": visible}
    assert speaker_model.has_gpu(spec, environ) is expected
