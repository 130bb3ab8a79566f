"""`sovits step` as a subprocess against the real SeaweedFS store."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sovits_core import contract as c
from sovits_core.errors import InvalidInput, StorageUnavailable
from sovits_steps.runner import keys_for, one_line, outcome
from tests.support import tcp_relay
from tests.support.audio import encode, speech
from tests.support.ports import free_ports
from tests.support.processes import wait_for
from tests.support.seaweed import S3Store

pytestmark = pytest.mark.s3
SOVITS = str(Path(sys.executable).with_name("sovits"))
TASK = "voice-1"


class Task:
    def __init__(self, s3: S3Store, prefix: str, tmp: Path) -> None:
        self.client = s3.client()
        self.bucket = s3.bucket
        self.prefix = f"{prefix}tasks/{TASK}/"
        self.termination = tmp / "termination-log"
        self.env = {
            **os.environ,
            **s3.env(),
            c.ENV_TASK_ID: TASK,
            c.ENV_PREFIX: self.prefix,
            c.ENV_TERMINATION_LOG: str(self.termination),
        }

    def put(self, rel: str, body: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self.prefix + rel, Body=body)

    def get(self, rel: str) -> bytes:
        return bytes(self.client.get_object(Bucket=self.bucket, Key=self.prefix + rel)["Body"].read())

    def names(self, folder: str) -> list[str]:
        listing = self.client.list_objects_v2(Bucket=self.bucket, Prefix=f"{self.prefix}{folder}/")
        return [item["Key"].rsplit("/", 1)[-1] for item in listing.get("Contents", [])]

    def step(self, name: str, params: dict[str, Any] | None = None, **env: str) -> subprocess.CompletedProcess[str]:
        full = {**self.env, c.ENV_PARAMS: json.dumps(params or {}), **env}
        return subprocess.run(
            [SOVITS, "step", name, "--task", TASK], env=full, capture_output=True, text=True, timeout=300
        )

    @property
    def reason(self) -> str:
        return self.termination.read_text(encoding="utf-8")


@pytest.fixture
def task(s3_store: S3Store, s3_prefix: str, tmp_path: Path) -> Task:
    return Task(s3_store, s3_prefix, tmp_path)


def test_a_step_told_to_stop_mid_download_exits_at_once_and_says_why(
    task: Task, s3_store: S3Store, tmp_path: Path
) -> None:
    task.put("input_audio/long.wav", bytes(4 << 20))  # 4 MiB at 64 KiB/s: a download of a minute
    with tcp_relay.throttled("127.0.0.1", s3_store.port, 64 << 10) as slow:
        env = {**task.env, c.ENV_PARAMS: "{}", "SOVITS_STORAGE__ENDPOINT_URL": f"http://{slow}"}
        with (tmp_path / "stderr").open("wb") as stderr:
            step = subprocess.Popen([SOVITS, "step", "convert_audio", "--task", TASK], env=env, stderr=stderr)
        try:
            wait_for(lambda: task.names("progress"), what="step started")
            step.send_signal(signal.SIGTERM)
            code = step.wait(timeout=20)  # well inside the kubelet's 30 s grace period, far short of the download
        finally:
            step.kill()
            step.wait()

    assert code == c.EXIT_RETRYABLE
    assert task.reason == "terminated: stopped by SIGTERM (evicted, preempted or cancelled)\n"
    assert "stopped by SIGTERM" in task.get("logs/convert_audio.log").decode()
    assert task.names("converted_wav") == []


def test_convert_succeeds_with_progress_log_and_summary(task: Task, tmp_path: Path) -> None:
    task.put("input_audio/hello.mp3", encode(speech("hello from the object store"), tmp_path / "h.mp3").read_bytes())
    task.put("input_audio/junk.wav", b"definitely not audio")

    proc = task.step("convert_audio")

    assert proc.returncode == c.EXIT_OK, proc.stderr
    assert task.names("converted_wav") == ["hello.wav"]
    progress = json.loads(task.get("progress/convert_audio.json"))
    assert (progress["step"], progress["progress"]) == ("convert_audio", 100)
    assert {"message", "updated_at"} <= set(progress)
    log = task.get("logs/convert_audio.log").decode()
    assert "skipped input_audio/junk.wav" in log and "converted input_audio/hello.mp3" in log
    assert task.reason.startswith("converted 1 files (")
    assert task.reason.endswith("s of audio), skipped 1: junk.wav\n")


def test_bad_input_exits_with_its_code_a_one_line_reason_and_the_log(task: Task) -> None:
    task.put("input_audio/a.wav", b"")
    task.put("input_audio/b.wav", b"text\nwith\nnewlines")

    proc = task.step("convert_audio")

    assert proc.returncode == c.EXIT_BAD_INPUT
    assert task.reason.startswith("bad input: input_audio: no usable audio")
    assert task.reason.count("\n") == 1
    assert "skipped input_audio/a.wav: is empty" in task.get("logs/convert_audio.log").decode()
    assert json.loads(task.get("progress/convert_audio.json"))["message"].startswith("failed: bad input")


def test_invalid_params_are_bad_input_naming_the_field(task: Task) -> None:
    proc = task.step("slice_audio", {"min_length": -34})
    assert proc.returncode == c.EXIT_BAD_INPUT
    assert "slice_audio.params.min_length" in task.reason
    assert task.names("logs") == ["slice_audio.log"]


def test_unknown_step_is_bad_input(task: Task) -> None:
    proc = task.step("make_coffee")
    assert proc.returncode == c.EXIT_BAD_INPUT
    assert "unknown step 'make_coffee'" in task.reason


def test_unreachable_store_exits_retryable(task: Task) -> None:
    (port,) = free_ports(1)
    proc = task.step(
        "convert_audio",
        SOVITS_STORAGE__ENDPOINT_URL=f"http://127.0.0.1:{port}",
        SOVITS_STORAGE__MAX_ATTEMPTS="1",
    )
    assert proc.returncode == c.EXIT_RETRYABLE
    assert task.reason.startswith("storage_unavailable:")
    assert "could not upload logs/convert_audio.log" in proc.stderr


def test_an_unwritable_termination_log_is_ignored(task: Task, tmp_path: Path) -> None:
    task.put("input_audio/v.ogg", encode(speech("termination"), tmp_path / "v.ogg").read_bytes())
    proc = task.step("convert_audio", SOVITS_TERMINATION_LOG="/proc/no-such-dir/termination-log")
    assert proc.returncode == c.EXIT_OK, proc.stderr


def test_outcome_maps_bad_input_to_its_code_and_everything_else_to_retryable() -> None:
    assert outcome(InvalidInput("x: bad"))[0] == c.EXIT_BAD_INPUT
    assert outcome(StorageUnavailable("down")) == (c.EXIT_RETRYABLE, "storage_unavailable: down")
    assert outcome(KeyError("k"))[0] == c.EXIT_RETRYABLE


def test_shards_write_their_own_log_and_progress_and_shard_zero_the_step_progress() -> None:
    assert keys_for("slice_audio", 0, 1) == ("logs/slice_audio.log", ["progress/slice_audio.json"])
    assert keys_for("slice_audio", 0, 2) == (
        "logs/slice_audio.0.log",
        ["progress/slice_audio.0.json", "progress/slice_audio.json"],
    )
    assert keys_for("slice_audio", 1, 2) == ("logs/slice_audio.1.log", ["progress/slice_audio.1.json"])


def test_reasons_are_one_bounded_line() -> None:
    assert one_line("a\nb\t c") == "a b c"
    assert len(one_line("x " * 5000)) == 1024
