"""`sovits api` as a real process against the test control plane and SeaweedFS: the seed's
TrainingClient, unchanged, creates a task, uploads three files and starts the first step."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.ports import free_ports
from tests.support.seaweed import S3Store

TOKEN = "cli-token"


def test_api_without_tokens_refuses_to_start(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOVITS_")}
    result = subprocess.run(
        [sys.executable, "-m", "sovits_cli.main", "api"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "no API tokens" in result.stderr


@pytest.fixture
def api_process(cluster: Any, namespace: str, s3_store: S3Store, s3_prefix: str, tmp_path: Path) -> Iterator[str]:
    (port,) = free_ports(1)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SOVITS_")},
        **s3_store.env(),
        "SOVITS_STORAGE__TASKS_PREFIX": f"{s3_prefix}tasks/",
        "SOVITS_API__TOKENS": json.dumps({TOKEN: namespace}),
        "SOVITS_API__DEFAULT_NAMESPACE": namespace,
    }
    log = tmp_path / "api.log"
    with log.open("wb") as out:  # a file, not a pipe nobody drains: the child keeps its own descriptor
        proc = subprocess.Popen(
            [sys.executable, "-m", "sovits_cli.main", "api", "--port", str(port),
             "--kubeconfig", str(cluster.kubeconfig)],
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text(errors="replace")
            try:
                if requests.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.3)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)


class TrainingClient:
    """The seed's example client (seed-api.md), with only the bearer token added to each call."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {TOKEN}"

    def create_task(self, task_name: str, config: dict[str, Any]) -> Any:
        response = self.session.post(f"{self.base_url}/task/create", json={"task_name": task_name, "config": config})
        return response.json()

    def upload_audio(self, task_id: str, audio_file_path: Path) -> Any:
        with open(audio_file_path, "rb") as f:
            files = {"file": f}
            response = self.session.post(f"{self.base_url}/task/{task_id}/files/upload", files=files)
        return response.json()

    def execute_step(self, task_id: str, step_name: str, params: dict[str, Any] | None = None) -> Any:
        data = {"params": params or {}}
        response = self.session.post(f"{self.base_url}/task/{task_id}/step/{step_name}", json=data)
        return response.json()

    def get_task_status(self, task_id: str) -> Any:
        return self.session.get(f"{self.base_url}/task/{task_id}").json()


def test_seed_client_creates_uploads_and_starts_a_step(api_process: str, audio_dir: Path, tmp_path: Path) -> None:
    client = TrainingClient(f"{api_process}/api/v1")
    config = {"exp_name": "my_speaker", "language": "zh", "batch_size": 16, "epochs_s2": 20, "epochs_s1": 8,
              "gpu_id": "0"}  # fmt: skip
    task = client.create_task("语音克隆测试", config)
    task_id = task["task_id"]
    for name in ("audio1.wav", "audio2.wav", "audio3.wav"):
        (tmp_path / name).write_bytes((audio_dir / "speech.wav").read_bytes())
        assert client.upload_audio(task_id, tmp_path / name)["filename"] == name
    assert client.execute_step(task_id, "convert_audio")["message"]
    status = client.get_task_status(task_id)
    # What the seed's wait_for_completion reads: not completed/failed until the step ends.
    assert status["status"] not in ("completed", "failed")
    assert f"{status['progress']:.1f}" == "0.0"
    assert status["current_step"] == "convert_audio"
