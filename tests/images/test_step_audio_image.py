"""The step image's audio target, built by hack/images.sh: tini is PID 1, steps run as uid 1000,
and `sovits step` converts and slices real speech against SeaweedFS, run with the pod spec the
operator's Job builder makes for those steps."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
import soundfile as sf

from sovits_core.launch import StepLaunch
from sovits_core.model import TrainingTask
from sovits_core.settings import ImageSettings, Settings, StorageSettings
from sovits_core.storage import task_prefix
from sovits_operator.jobs import build_job
from sovits_steps.slicer import SLICE_NAME
from tests.operator.cluster.test_end_to_end import objects, recording, wav_format
from tests.support import forked_measure
from tests.support.audio import RATE, encode
from tests.support.containers import Images, run_args, tail
from tests.support.seaweed import S3Store
from tests.support.tasks import unique

# The first test pays for the session's cold image build (about 12 min on 2 shared cores).
pytestmark = pytest.mark.timeout(2400)


def test_tini_is_pid_1_and_the_step_runs_as_uid_1000(images: Images) -> None:
    # What a Job's args run: the image's entrypoint first, then the args.
    probe = "cat /proc/1/comm; echo $$; id -u; id -g"
    result = images.engine("run", "--rm", "--network", "host", images.built["step-audio"].ref, "sh", "-c", probe)

    assert result.returncode == 0, result.stderr
    pid1, shell, uid, gid = result.stdout.split()
    assert pid1 == "tini"
    assert shell != "1"  # the args run as tini's child, which reaps and forwards signals
    assert (uid, gid) == ("1000", "1000")


def test_the_step_environment_is_consistent_and_has_no_torch(images: Images) -> None:
    ref = images.built["step-audio"].ref
    check = images.engine("run", "--rm", "--network", "host", ref, "pip", "check")
    torch = images.engine("run", "--rm", "--network", "host", ref, "python", "-c", "import torch")

    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.strip() == "No broken requirements found."
    assert "No module named 'torch'" in torch.stderr


def task_named(name: str) -> TrainingTask:
    return TrainingTask.model_validate(
        {
            "metadata": {"name": name, "namespace": "voices", "uid": "uid-1"},
            "spec": {"expName": "speaker1", "steps": [{"name": "convert_audio"}, {"name": "slice_audio"}]},
        }
    )


def run_step_as_a_job(images: Images, s3: S3Store, task: TrainingTask, step: Any, tmp_path: Path) -> tuple[int, str]:
    """One attempt of a step, as the operator's Job for it, in a container; exit code and reason."""
    settings = Settings(
        storage=StorageSettings(endpoint_url=s3.endpoint_url, bucket=s3.bucket, region=s3.region),
        images=ImageSettings(default=images.built["step-audio"].ref),
    )
    launch = StepLaunch(job_name=f"{task.metadata.name}-{step}-1", step=step, attempt=1, params={}, shards=1,
                        gpus_per_pod=0)  # fmt: skip
    pod = build_job(task, launch, settings)["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    secrets = {settings.storage.credentials_secret: {"AWS_ACCESS_KEY_ID": s3.access_key,
                                                     "AWS_SECRET_ACCESS_KEY": s3.secret_key}}  # fmt: skip
    # The kubelet's part: a termination-log file the container can write.
    termination = tmp_path / f"{step}.termination-log"
    termination.write_text("")
    termination.chmod(0o666)
    flags = run_args(pod, container, engine=images.engine.command, secrets=secrets)
    flags += ["--mount", f"type=bind,source={termination},destination=/dev/termination-log"]
    result = images.engine(*flags, *tail(container["image"], container), timeout=600)
    assert result.returncode == 0 or termination.read_text(), result.stdout + result.stderr
    return result.returncode, termination.read_text()


def test_convert_and_slice_run_in_the_container_as_their_jobs_against_s3(
    images: Images, s3_store: S3Store, tmp_path: Path
) -> None:
    task = task_named(unique("img"))
    prefix = task_prefix(task, Settings())
    mp3 = encode(recording(0), tmp_path / "interview.mp3", rate=44100, channels=2)
    s3_store.client().upload_file(str(mp3), s3_store.bucket, f"{prefix}input_audio/interview.mp3")

    convert = run_step_as_a_job(images, s3_store, task, "convert_audio", tmp_path)
    slice_ = run_step_as_a_job(images, s3_store, task, "slice_audio", tmp_path)

    # The termination message is what `kubectl describe` and the task's status show.
    assert convert[0] == 0, convert
    assert re.fullmatch(r"converted 1 files \(\d+s of audio\)\n", convert[1])
    assert slice_[0] == 0, slice_

    converted = objects(s3_store, f"{prefix}converted_wav/")
    assert list(converted) == ["interview.wav"]
    assert wav_format(converted["interview.wav"]) == (RATE, 1, "PCM_16")
    sliced = objects(s3_store, f"{prefix}sliced/")
    matches = [SLICE_NAME.match(key) for key in sorted(sliced)]
    assert len(matches) == 3, sorted(sliced)  # one slice per stretch of speech
    total = sf.info(io.BytesIO(converted["interview.wav"])).frames
    for match, data in zip(matches, (sliced[k] for k in sorted(sliced)), strict=True):
        assert match is not None
        assert match["source"] == "interview.wav"
        # as upstream names it, the last slice ends at its last frame boundary, maybe past the file
        assert sf.info(io.BytesIO(data)).frames == min(int(match["end"]), total) - int(match["start"])
    logs = objects(s3_store, f"{prefix}logs/")
    assert "step convert_audio done: converted 1 files" in logs["convert_audio.log"].decode()
    assert "step slice_audio done" in logs["slice_audio.log"].decode()


def test_a_step_failing_on_bad_input_reports_the_reason_through_the_termination_log(
    images: Images, s3_store: S3Store, tmp_path: Path
) -> None:
    task = task_named(unique("img"))
    prefix = task_prefix(task, Settings())
    s3_store.client().put_object(Bucket=s3_store.bucket, Key=f"{prefix}input_audio/notes.mp3", Body=b"not audio")

    code, reason = run_step_as_a_job(images, s3_store, task, "convert_audio", tmp_path)

    assert code == 65  # contract.EXIT_BAD_INPUT: the operator does not retry it
    assert "notes.mp3" in reason


def test_clips_are_measured_in_forked_processes_inside_the_image_as_the_asr_job(
    images: Images, s3_store: S3Store
) -> None:
    task = task_named(unique("img"))
    settings = Settings(images=ImageSettings(default=images.built["step-audio"].ref))
    launch = StepLaunch(job_name=f"{task.metadata.name}-asr-1", step="asr_transcribe", attempt=1, params={},
                        shards=1, gpus_per_pod=0)  # fmt: skip
    pod = build_job(task, launch, settings)["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    secrets = {settings.storage.credentials_secret: {"AWS_ACCESS_KEY_ID": s3_store.access_key,
                                                     "AWS_SECRET_ACCESS_KEY": s3_store.secret_key}}  # fmt: skip
    flags = run_args(pod, container, engine=images.engine.command, secrets=secrets)

    result = images.engine(*flags, container["image"], "python", "-c", forked_measure.script(), timeout=300)

    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == {"forks": 2, "clips": 40, "same": True, "uid": 1000}
