"""`sovits task ...` against a real `sovits local`: the commands a README reader types."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sovits_core.settings import Settings
from sovits_local.store import SqliteTaskStore
from tests.support.audio import encode, speech, speech_like
from tests.support.local_process import REPO, LocalService
from tests.support.processes import wait_for


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalService]:
    running = LocalService(tmp_path_factory.mktemp("cli") / "data").start()
    yield running
    running.stop()


def sovits_task(service: LocalService, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SOVITS_URL": service.url}
    return subprocess.run(
        [sys.executable, "-m", "sovits_cli.main", "task", "--quiet", *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_create_upload_run_and_download_through_the_command_line(service: LocalService, tmp_path: Path) -> None:
    audio = encode(speech("good morning and welcome to the recording session"), tmp_path / "take 1.mp3")

    task = json.loads(ok(sovits_task(service, "create", "--name", "cli", "--exp-name", "spk", "--language", "en")))
    task_id = task["task_id"]
    (uploaded,) = json.loads(ok(sovits_task(service, "upload", task_id, str(audio))))
    finished = json.loads(ok(sovits_task(service, "run", task_id, "convert_audio")))
    status = json.loads(ok(sovits_task(service, "status", task_id)))
    files = json.loads(ok(sovits_task(service, "files", task_id)))
    saved = ok(sovits_task(service, "download", task_id, "converted_wav/take 1.wav", "-o", str(tmp_path))).strip()

    assert task["status"] == "created"
    assert uploaded["filename"] == "take 1.mp3"
    assert finished["status"] == "completed"
    assert status["current_step"] == "convert_audio"
    assert "converted_wav/take 1.wav" in [f["name"] for f in files]
    assert Path(saved).read_bytes()[:4] == b"RIFF"
    assert "convert_audio" in ok(sovits_task(service, "logs", task_id, "--step", "convert_audio"))


def test_a_failing_step_exits_non_zero_with_the_reason(service: LocalService) -> None:
    task_id = json.loads(ok(sovits_task(service, "create", "--name", "empty", "--exp-name", "spk")))["task_id"]

    result = sovits_task(service, "run", task_id, "convert_audio")

    assert result.returncode == 1
    final = json.loads(result.stdout)
    assert final["status"] == "failed"
    assert "input_audio" in final["error_message"]


def test_a_bad_request_prints_the_servers_detail(service: LocalService) -> None:
    task_id = json.loads(ok(sovits_task(service, "create", "--name", "x", "--exp-name", "spk")))["task_id"]

    bad_params = sovits_task(service, "run", task_id, "slice_audio", "--params", '{"min_length": -34}')
    too_early = sovits_task(service, "run", task_id, "slice_audio")

    assert bad_params.returncode == 1
    assert "HTTP 422: slice_audio.params.min_length" in bad_params.stderr
    assert too_early.returncode == 1
    assert "HTTP 400" in too_early.stderr
    assert "convert_audio" in too_early.stderr


def test_cancel_and_delete(service: LocalService, tmp_path: Path) -> None:
    task_id = json.loads(ok(sovits_task(service, "create", "--name", "gone", "--exp-name", "spk")))["task_id"]
    audio = encode(speech("a recording to be deleted"), tmp_path / "gone.wav")
    ok(sovits_task(service, "upload", task_id, str(audio)))
    files = service.data_dir / "store" / "tasks" / task_id
    assert (files / "input_audio" / "gone.wav").exists()

    ok(sovits_task(service, "cancel", task_id))
    cancelled = json.loads(ok(sovits_task(service, "status", task_id)))
    ok(sovits_task(service, "delete", task_id))
    missing = sovits_task(service, "status", task_id)

    assert cancelled["status"] == "cancelled"
    assert missing.returncode == 1
    assert "HTTP 404" in missing.stderr
    wait_for(lambda: not files.exists() or not any(files.rglob("*.*")), timeout=30, what="the task's files removed")


def test_the_dataset_report_exists_once_asr_transcribe_completes_and_prints_as_a_table(
    service: LocalService, tmp_path: Path
) -> None:
    audio = encode(speech_like(14.0, seed=3, pauses=(0.6, 0.9)), tmp_path / "session.wav")
    task_id = json.loads(ok(sovits_task(service, "create", "--name", "ds", "--exp-name", "spk", "--language", "en")))[
        "task_id"
    ]
    ok(sovits_task(service, "upload", task_id, str(audio)))
    early = sovits_task(service, "dataset", task_id)
    assert early.returncode == 1 and "run step asr_transcribe first" in early.stderr

    for step in ("convert_audio", "slice_audio", "denoise_audio"):
        ok(sovits_task(service, "run", task_id, step))
    ok(sovits_task(service, "run", task_id, "asr_transcribe", "--params", '{"backend": "pocketsphinx"}'))
    table = ok(sovits_task(service, "dataset", task_id)).splitlines()
    report = json.loads(ok(sovits_task(service, "dataset", task_id, "--json")))

    assert table[0].split() == [
        "clip",
        "seconds",
        "peak",
        "rms",
        "snr",
        "clip%",
        "lead",
        "trail",
        "chars/s",
        "x",
        "flags",
    ]
    assert [row.split()[0] for row in table[1 : 1 + len(report["clips"])]] == [c["clip"] for c in report["clips"]]
    assert all(c["source"] == "session.wav" for c in report["clips"]) and len(report["clips"]) >= 2
    assert f"verdict: {report['summary']['verdict']} - " in "\n".join(table)
    # sovits local here has no upstream checkout: the lightweight embedding, and the table says so
    assert report["summary"]["speaker_model"] == "cepstral" and table[-1] == "speaker similarity: cepstral embedding"
    # sovits local keeps the summary in the task's status, as the operator does in a cluster.
    namespace = Settings.model_validate({}).api.default_namespace
    stored = SqliteTaskStore.open(service.data_dir / "tasks.db").get(namespace, task_id).status.dataset
    assert stored is not None and stored.verdict == report["summary"]["verdict"]
    assert stored.usable_minutes == report["summary"]["usable_minutes"] and stored.clips == len(report["clips"])
