"""Logs: stored step logs (SeaweedFS), per step and tailed; a running step's live log first."""

from __future__ import annotations

import uuid

from sovits_api.logs import MAX_LOG_BYTES, collect
from sovits_core import storage
from sovits_core.catalog import StepName
from sovits_core.model import TrainingTask

from ..conftest import Api


def objects(api: Api, task_id: str) -> storage.TaskFiles:
    return storage.TaskFiles(api.services.objects, f"{api.services.settings.storage.tasks_prefix}{task_id}/")


def test_no_logs_yet_is_an_empty_answer(api: Api) -> None:
    task_id = api.create()["task_id"]
    response = api.request("GET", f"/api/v1/task/{task_id}/logs")
    assert response.status_code == 200
    assert response.json() == {"logs": "", "steps": []}


def test_every_steps_stored_log_in_pipeline_order(api: Api) -> None:
    task_id = api.create()["task_id"]
    objects(api, task_id).put_bytes("logs/slice_audio.log", b"sliced 3 files\n")
    objects(api, task_id).put_bytes("logs/convert_audio.log", b"converted 3 files\n")
    body = api.request("GET", f"/api/v1/task/{task_id}/logs").json()
    assert body["steps"] == ["convert_audio", "slice_audio"]
    assert body["logs"] == "==> convert_audio <==\nconverted 3 files\n==> slice_audio <==\nsliced 3 files\n"


def test_one_step_tailed(api: Api) -> None:
    task_id = api.create()["task_id"]
    objects(api, task_id).put_bytes("logs/convert_audio.log", b"one\ntwo\nthree\n")
    body = api.request("GET", f"/api/v1/task/{task_id}/logs", params={"step": "convert_audio", "tail": 2}).json()
    assert body == {"logs": "two\nthree\n", "steps": ["convert_audio"]}


def test_a_log_over_the_limit_answers_its_newest_whole_lines(api: Api) -> None:
    task_id = api.create()["task_id"]
    lines = [f"line {n:07d} {'x' * 80}\n".encode() for n in range(60_000)]  # ~5.5 MiB
    objects(api, task_id).put_bytes("logs/train_sovits.log", b"".join(lines))

    whole = api.request("GET", f"/api/v1/task/{task_id}/logs", params={"step": "train_sovits"}).json()["logs"]
    assert len(whole.encode()) <= MAX_LOG_BYTES
    assert whole.startswith("line ") and whole.endswith(lines[-1].decode())

    tailed = api.request("GET", f"/api/v1/task/{task_id}/logs", params={"step": "train_sovits", "tail": 3}).json()
    assert tailed["logs"] == b"".join(lines[-3:]).decode()


def test_unknown_step_is_400(api: Api) -> None:
    task_id = api.create()["task_id"]
    assert api.request("GET", f"/api/v1/task/{task_id}/logs", params={"step": "nope"}).status_code == 400


def test_negative_tail_is_422(api: Api) -> None:
    task_id = api.create()["task_id"]
    response = api.request("GET", f"/api/v1/task/{task_id}/logs", params={"tail": -1})
    assert (response.status_code, response.json()["field"]) == (422, "tail")


def test_logs_of_an_unknown_task_are_404(api: Api) -> None:
    assert api.request("GET", f"/api/v1/task/{uuid.uuid4()}/logs").status_code == 404


class _Live:
    """A LiveLogs source with fixed output: this test is about which source is read when."""

    def __init__(self) -> None:
        self.asked: list[tuple[StepName, int | None]] = []

    def read(self, namespace: str, task: TrainingTask, step: StepName, tail: int | None) -> str | None:
        self.asked.append((step, tail))
        return "live line\n"


def test_a_running_step_is_read_live_and_finished_ones_from_storage(api: Api) -> None:
    task_id = api.create()["task_id"]
    request_id = api.request("POST", f"/api/v1/task/{task_id}/step/convert_audio").json()["request_id"]
    api.write_status(
        task_id, phase="running", currentStep="convert_audio",
        steps=[{"name": "convert_audio", "phase": "running", "requestId": request_id, "jobName": "j-1"}],
    )  # fmt: skip
    objects(api, task_id).put_bytes("logs/convert_audio.log", b"previous attempt\n")
    task = api.backend.store.get(api.backend.namespace, task_id)
    live = _Live()
    logs = collect(api.backend.namespace, task, objects(api, task_id), live, None, 5)
    assert logs.logs == "==> convert_audio <==\nlive line\n"
    assert live.asked == [("convert_audio", 5)]
