"""`sovits local` as a real process: the client runs the audio steps, cancel kills the step's
process, a restart mid-step runs the step again, and --max-parallel makes tasks take turns."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import requests

from sovits_api import webhook_targets
from sovits_api.client import ApiError, TrainingClient
from sovits_core import storage
from sovits_core.model import TrainingTask
from sovits_core.settings import Settings
from sovits_local.server import local_settings
from tests.support.audio import encode, join_with_pauses, speech, white_noise
from tests.support.local_process import REPO, LocalService, alive, frozen_step, step_pids
from tests.support.processes import wait_for
from tests.support.seaweed import S3Store

SENTENCES = (
    "the weather is lovely today and we are going for a walk",
    "please remember to bring the green umbrella with you",
    "seven small boats sailed across the quiet harbour",
)


@pytest.fixture
def local(tmp_path: Path) -> Iterator[LocalService]:
    service = LocalService(tmp_path / "data").start()
    yield service
    service.stop()


@pytest.fixture(scope="module")
def voices(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Three speakers' recordings with pauses, in three of the seed's formats."""
    folder = tmp_path_factory.mktemp("voices")
    files = []
    for i, (sentence, suffix) in enumerate(zip(SENTENCES, (".wav", ".mp3", ".flac"), strict=True)):
        samples, _ = join_with_pauses([speech(sentence), speech(sentence)], [0.8])
        files.append(encode(samples, folder / f"speaker{i}{suffix}"))
    return files


@pytest.fixture(scope="module")
def long_recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Ten minutes at 44.1 kHz stereo: converting it takes long enough to catch the step live."""
    noise = white_noise(600.0, rate=44100, std=0.05)
    return encode(noise, tmp_path_factory.mktemp("long") / "long_take.wav", rate=44100, channels=2)


def new_task(client: TrainingClient, name: str = "local test") -> str:
    task = client.create_task(name, {"exp_name": "spk", "language": "en", "gpu_id": "0"})
    return str(task["task_id"])


def test_the_client_runs_the_audio_steps_on_three_formats_and_gets_a_transcript(
    local: LocalService, voices: list[Path], tmp_path: Path
) -> None:
    client = local.client()
    task_id = new_task(client)
    for path in voices:
        assert client.upload_audio(task_id, path)["filename"] == path.name

    for step, params in (
        ("convert_audio", {}),
        ("slice_audio", {"min_length": 1000, "min_interval": 300, "max_sil_kept": 300}),
        ("denoise_audio", {}),
        ("asr_transcribe", {"backend": "pocketsphinx"}),
    ):
        assert "message" in client.execute_step(task_id, step, params)
        status = client.wait_for_completion(task_id, timeout=300, interval=0.5)
        assert status["status"] == "completed", status
        assert status["current_step"] == step

    transcript = client.download(task_id, "transcripts/denoised.list", tmp_path)
    lines = transcript.read_text(encoding="utf-8").splitlines()
    clips = [f["name"] for f in client.list_files(task_id) if f["name"].startswith("denoised/")]
    assert len(clips) >= len(voices)
    assert len(lines) == len(clips)
    for line in lines:
        path, speaker, language, text = line.split("|")
        assert path in clips
        assert speaker == "spk"
        assert language == "EN"
        assert text.strip()
    assert "sliced" in client.logs(task_id, step="slice_audio")
    assert client.get_task_status(task_id)["progress"] == 100.0


def test_cancel_mid_step_kills_the_step_process(local: LocalService, long_recording: Path) -> None:
    client = local.client()
    task_id = new_task(client)
    client.upload_audio(task_id, long_recording)
    client.execute_step(task_id, "convert_audio")
    pid = frozen_step(task_id, "convert_audio")

    client.cancel_task(task_id)

    wait_for(lambda: not alive(pid), timeout=30, what="the step process gone")
    status = wait_for(lambda: (s := client.get_task_status(task_id))["status"] == "cancelled" and s)
    assert status["status"] == "cancelled"
    assert step_pids(task_id, "convert_audio") == []


def test_a_restart_mid_step_marks_it_interrupted_and_runs_it_again(local: LocalService, long_recording: Path) -> None:
    client = local.client()
    task_id = new_task(client)
    client.upload_audio(task_id, long_recording)
    client.execute_step(task_id, "convert_audio")
    first = frozen_step(task_id, "convert_audio")

    local.kill()
    assert alive(first)  # the step outlived the service (its own session), as after a crash
    local.start()

    status = client.wait_for_completion(task_id, timeout=120, interval=0.5)
    assert status["status"] == "completed"
    assert not alive(first)
    tasks = client.list_tasks()
    assert [t["task_id"] for t in tasks] == [task_id]  # nothing lost, nothing duplicated
    converted = [f for f in client.list_files(task_id) if f["name"].startswith("converted_wav/")]
    assert [f["name"] for f in converted] == ["converted_wav/long_take.wav"]
    assert "interrupted" in (local.log.read_text())


def test_restarts_during_a_step_use_up_none_of_its_attempts(local: LocalService, long_recording: Path) -> None:
    client = local.client()
    task_id = new_task(client)
    client.upload_audio(task_id, long_recording)
    client.execute_step(task_id, "convert_audio")

    for _ in range(3):  # as many restarts as the step has attempts (operator.max_attempts)
        frozen_step(task_id, "convert_audio")
        local.kill()
        local.start()

    status = client.wait_for_completion(task_id, timeout=120, interval=0.5)
    assert status["status"] == "completed", status
    record = _stored_task(local, task_id).status.steps[-1]
    assert (record.attempts, record.interruptions) == (1, 3)


def test_a_step_killed_from_outside_is_a_failed_attempt_naming_the_signal_and_runs_again(
    local: LocalService, long_recording: Path
) -> None:
    client = local.client()
    task_id = new_task(client)
    client.upload_audio(task_id, long_recording)
    client.execute_step(task_id, "convert_audio")
    pid = frozen_step(task_id, "convert_audio")

    os.kill(pid, signal.SIGKILL)  # what the OOM killer does

    status = client.wait_for_completion(task_id, timeout=120, interval=0.5)
    assert status["status"] == "completed", status
    assert "convert_audio attempt 1 of 3 failed: killed by SIGKILL" in local.log.read_text()
    assert _stored_task(local, task_id).status.steps[-1].attempts == 2


def leftovers(data_dir: Path, task_id: str) -> list[Path]:
    """Anything of the task under the data directory: its files, its run folders."""
    return [p for p in data_dir.rglob("*") if task_id in p.name]


def test_a_deleted_task_leaves_nothing_even_when_the_service_is_killed_right_after(
    local: LocalService, voices: list[Path]
) -> None:
    client = local.client()
    ran = new_task(client, "ran a step")
    client.upload_audio(ran, voices[0])
    client.execute_step(ran, "convert_audio")
    client.wait_for_completion(ran, timeout=120, interval=0.3)
    assert (local.data_dir / "runs" / ran).is_dir()
    just_made = new_task(client, "deleted right after its upload")
    client.upload_audio(just_made, voices[1])

    client.delete_task(ran)
    client.delete_task(just_made)
    local.kill()
    local.start()

    wait_for(lambda: not leftovers(local.data_dir, ran) and not leftovers(local.data_dir, just_made),
             timeout=30, what="nothing of the deleted tasks left")  # fmt: skip


def test_a_task_deleted_right_after_its_upload_leaves_no_file(local: LocalService, voices: list[Path]) -> None:
    client = local.client()
    for _ in range(3):
        task_id = new_task(client)
        client.upload_audio(task_id, voices[0])
        client.delete_task(task_id)

        wait_for(lambda: not leftovers(local.data_dir, task_id), timeout=30, what="the deleted task's files gone")  # noqa: B023


def send_part_of_an_upload(service: LocalService, task_id: str, recording: Path, size: int) -> socket.socket:
    """An upload announced in full whose body stops after ``size`` bytes, the socket left open."""
    head = b'--b\r\nContent-Disposition: form-data; name="file"; filename="cut.wav"\r\n\r\n'
    total = len(head) + recording.stat().st_size + len(b"\r\n--b--\r\n")
    sock = socket.create_connection(("127.0.0.1", service.port))
    sock.sendall(
        f"POST /api/v1/task/{task_id}/files/upload HTTP/1.1\r\nHost: x\r\n"
        f"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: {total}\r\n\r\n".encode()
        + head + recording.read_bytes()[:size]
    )  # fmt: skip
    return sock


def test_a_partial_upload_cut_by_a_crash_is_removed_at_the_next_start(
    local: LocalService, long_recording: Path
) -> None:
    task_id = new_task(local.client())
    sock = send_part_of_an_upload(local, task_id, long_recording, 20 * 1024 * 1024)  # over one 8 MiB write
    partial = local.data_dir / "store" / storage.PARTIAL_WRITES
    wait_for(lambda: [p for p in partial.glob("*") if p.stat().st_size > 0], what="the upload being written")

    local.kill()
    sock.close()
    assert list(partial.iterdir())  # what the crash left
    local.start()

    assert list(partial.iterdir()) == []
    assert local.client().list_files(task_id) == []


def test_a_client_gone_mid_upload_is_one_info_line_and_stores_nothing(
    local: LocalService, long_recording: Path
) -> None:
    task_id = new_task(local.client())
    sock = send_part_of_an_upload(local, task_id, long_recording, 1024 * 1024)
    partial = local.data_dir / "store" / storage.PARTIAL_WRITES
    wait_for(lambda: list(partial.glob("*")), what="the upload being written")

    sock.close()

    gone = "the client went away before sending the whole body"
    wait_for(lambda: gone in local.log.read_text(), timeout=30, what="the disconnect logged")
    time.sleep(0.5)  # anything else the server would log about it
    log = local.log.read_text()
    assert log.count(gone) == 1
    assert f"INFO sovits_api.errors: POST /api/v1/task/{task_id}/files/upload: {gone}" in log
    assert "Traceback" not in log
    assert " ERROR " not in log
    assert local.client().list_files(task_id) == []


def test_sovits_local_lets_webhooks_reach_local_receivers(tmp_path: Path) -> None:
    settings = local_settings(Settings(), tmp_path, None)

    assert webhook_targets.refusal("http://127.0.0.1:9000/hook", settings.api.webhook_allowed_networks) is None


def _stored_task(service: LocalService, task_id: str) -> TrainingTask:
    from sovits_local.store import SqliteTaskStore

    store = SqliteTaskStore.open(service.data_dir / "tasks.db")
    try:
        return store.get("default", task_id)
    finally:
        store.close()


def test_with_max_parallel_one_a_second_task_waits_visibly_until_the_first_finishes(
    tmp_path: Path, voices: list[Path], long_recording: Path
) -> None:
    service = LocalService(tmp_path / "data", max_parallel=1).start()
    try:
        client = service.client()
        first, second = new_task(client, "first"), new_task(client, "second")
        client.upload_audio(first, long_recording)
        client.upload_audio(second, voices[2])
        client.execute_step(first, "convert_audio")
        pid = frozen_step(first, "convert_audio")

        client.execute_step(second, "convert_audio")
        time.sleep(2)  # several runtime passes: the second must still be waiting
        assert step_pids(second, "convert_audio") == []
        waiting = client.get_task_status(second)
        assert waiting["status"] == "running"
        assert "waiting for a free slot" in str(_ready_message(service, second))

        os.kill(pid, signal.SIGCONT)
        done_first = client.wait_for_completion(first, timeout=120, interval=0.3)
        done_second = client.wait_for_completion(second, timeout=120, interval=0.3)
    finally:
        service.stop()
    assert done_first["status"] == done_second["status"] == "completed"
    assert np.datetime64(done_second["updated_at"].rstrip("Z")) >= np.datetime64(done_first["updated_at"].rstrip("Z"))


def _ready_message(service: LocalService, task_id: str) -> str:
    """The task's conditions as the local store keeps them (the seed's JSON has no conditions)."""
    return " ".join(c.message for c in _stored_task(service, task_id).status.conditions)


def test_the_service_refuses_a_non_loopback_address_without_tokens(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sovits_cli.main", "local", "--host", "0.0.0.0", "--port", "0",
         "--data-dir", str(tmp_path / "data")],
        cwd=REPO, capture_output=True, text=True, timeout=60,
        env={k: v for k, v in os.environ.items() if not k.startswith("SOVITS_")},
    )  # fmt: skip

    assert result.returncode == 2
    assert "refusing to serve on 0.0.0.0 without API tokens" in result.stderr


def test_an_unknown_task_is_a_404_through_the_client(local: LocalService) -> None:
    with pytest.raises(ApiError) as info:
        local.client().get_task_status("00000000-0000-0000-0000-000000000000")

    assert info.value.status == 404


def test_files_live_in_s3_when_storage_is_configured_for_it(
    tmp_path: Path, voices: list[Path], s3_store: S3Store
) -> None:
    service = LocalService(tmp_path / "data", settings_env=s3_store.env()).start()
    try:
        client = service.client()
        task_id = new_task(client)
        client.upload_audio(task_id, voices[0])
        client.execute_step(task_id, "convert_audio")
        status = client.wait_for_completion(task_id, timeout=120, interval=0.3)
    finally:
        service.stop()

    listed = s3_store.client().list_objects_v2(Bucket=s3_store.bucket, Prefix=f"tasks/{task_id}/")
    keys = {o["Key"] for o in listed.get("Contents", [])}
    assert status["status"] == "completed"
    assert f"tasks/{task_id}/input_audio/{voices[0].name}" in keys
    assert f"tasks/{task_id}/converted_wav/speaker0.wav" in keys
    assert not (tmp_path / "data" / "store").exists()  # nothing went to the data directory


def test_a_client_following_a_task_does_not_hold_the_service_at_stop(local: LocalService) -> None:
    task_id = new_task(local.client())
    with requests.get(f"{local.url}/api/v1/task/{task_id}/events", stream=True, timeout=30) as events:
        assert events.status_code == 200  # the task never rests: the stream stays open
        local.stop()  # SIGTERM, SIGKILL after 30 s
    assert local.proc is not None and local.proc.returncode != -signal.SIGKILL, "it stopped by itself, not killed"
