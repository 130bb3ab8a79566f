"""Task routes on both backends, files in SeaweedFS: the seed's create/get/list/cancel/delete."""

from __future__ import annotations

import uuid

import pytest

from ..conftest import Api
from ..test_schemas import ADDED_TASK_FIELDS, SEED_TASK_FIELDS


def test_seed_create_answers_the_seed_task(api: Api) -> None:
    task = api.create(language="zh", batch_size=16, epochs_s2=20, epochs_s1=8, gpu_id="0")
    assert list(task) == SEED_TASK_FIELDS + ADDED_TASK_FIELDS
    assert task["quality"] is None  # until test_inference has scored a sentence
    uuid.UUID(task["task_id"])
    assert task["status"] == "created"
    assert task["progress"] == 0.0
    assert task["config"]["epochs_s2"] == 20


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"exp_name": "s", "epochs": 3}, "config.epochs"),
        ({"language": "zh"}, "config.exp_name"),
        ({"exp_name": "s", "batch_size": 0}, "config.batch_size"),
        ({"exp_name": "bad name!"}, "config.exp_name"),
        ({"exp_name": "s", "gpu_id": "0,1"}, "config.gpu_id"),
        ({"exp_name": "s", "webhook_url": "ftp://x"}, "config.webhook_url"),
        ({"exp_name": "s", "webhook_url": "http://169.254.169.254/latest/meta-data/"}, "config.webhook_url"),
        ({"exp_name": "s", "webhook_url": "http://[::1/hook"}, "config.webhook_url"),
        ({"exp_name": "s", "webhook_url": "https://example.com:99999/hook"}, "config.webhook_url"),
        ({"exp_name": "s", "webhook_url": "http:///hook"}, "config.webhook_url"),
        ({"exp_name": "s", "batch_size": True}, "config.batch_size"),
        ({"exp_name": "s", "gpu_id": True}, "config.gpu_id"),
        ({"exp_name": "s", "epochs_s2": "20"}, "config.epochs_s2"),
    ],
)
def test_invalid_config_is_422_naming_the_field(api: Api, config: dict[str, object], field: str) -> None:
    response = api.request("POST", "/api/v1/task/create", json={"task_name": "t", "config": config})
    assert response.status_code == 422
    assert response.json()["field"] == field
    assert response.json()["detail"].startswith(field)


def test_malformed_json_is_422_naming_the_body_and_where_it_breaks(api: Api) -> None:
    response = api.request(
        "POST",
        "/api/v1/task/create",
        content=b'{"task_name": "t", "config": {',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["field"] == "body"
    assert response.json()["detail"].startswith("body: malformed JSON at character ")


def test_invalid_label_is_422(api: Api) -> None:
    body = {"task_name": "t", "config": {"exp_name": "s"}, "labels": {"team": "no spaces"}}
    response = api.request("POST", "/api/v1/task/create", json=body)
    assert (response.status_code, response.json()["field"]) == (422, "labels.team")


@pytest.mark.parametrize("task_id", [str(uuid.uuid4()), "Not_A_Name", "a" * 300])
def test_unknown_task_is_404(api: Api, task_id: str) -> None:
    response = api.request("GET", f"/api/v1/task/{task_id}")
    assert response.status_code == 404
    assert set(response.json()) >= {"detail"}


def test_plain_list_returns_every_task_as_the_seed_did(api: Api) -> None:
    ids = {api.create()["task_id"] for _ in range(3)}
    response = api.request("GET", "/api/v1/tasks")
    assert response.status_code == 200
    assert isinstance(response.json(), list)
    assert ids <= {t["task_id"] for t in response.json()}


def test_paged_list_hands_out_a_continue_token(api: Api) -> None:
    body = {"task_name": "t", "config": {"exp_name": "s"}, "labels": {"page": "yes"}}
    ids = {api.request("POST", "/api/v1/task/create", json=body).json()["task_id"] for _ in range(3)}
    seen: list[str] = []
    params: dict[str, object] = {"limit": 2, "label_selector": "page=yes"}
    while True:
        response = api.request("GET", "/api/v1/tasks", params=params)
        assert response.status_code == 200
        seen += [t["task_id"] for t in response.json()]
        token = response.headers.get("X-Continue-Token")
        if not token:
            break
        assert 'rel="next"' in response.headers["Link"]
        params = {**params, "continue": token}
    assert sorted(seen) == sorted(ids)


def test_the_plain_list_shows_what_the_paged_walk_shows_in_the_same_order(api: Api) -> None:
    label = f"walk-{uuid.uuid4().hex[:8]}"
    body = {"task_name": "t", "config": {"exp_name": "s"}, "labels": {"walk": label}}
    ids = [api.request("POST", "/api/v1/task/create", json=body).json()["task_id"] for _ in range(3)]
    api.request("POST", f"/api/v1/task/{ids[1]}/cancel")
    api.write_status(ids[2], phase="failed", errorMessage="ffmpeg: no audio stream")
    selector = f"walk={label}"

    walked: list[dict[str, object]] = []
    params: dict[str, object] = {"limit": 2, "label_selector": selector}
    while True:
        response = api.request("GET", "/api/v1/tasks", params=params)
        walked += response.json()
        if not (token := response.headers.get("X-Continue-Token")):
            break
        params = {**params, "continue": token}
    plain = api.request("GET", "/api/v1/tasks", params={"label_selector": selector})

    assert plain.status_code == 200 and plain.headers["content-type"] == "application/json"
    assert plain.json() == walked
    assert sorted(t["task_id"] for t in walked) == sorted(ids)
    shown = {t["task_id"]: (t["status"], t["error_message"]) for t in plain.json()}
    assert shown[ids[1]] == ("cancelled", None)
    assert shown[ids[2]] == ("failed", "ffmpeg: no audio stream")
    assert api.request("GET", f"/api/v1/task/{ids[2]}").json() in plain.json()


@pytest.mark.parametrize(
    ("params", "field"),
    [({"label_selector": "a b"}, "label_selector"), ({"limit": 1, "continue": "garbage"}, "continue"),
     ({"limit": 0}, "limit")],
)  # fmt: skip
def test_bad_list_parameters_are_422(api: Api, params: dict[str, object], field: str) -> None:
    response = api.request("GET", "/api/v1/tasks", params=params)
    assert (response.status_code, response.json()["field"]) == (422, field)


def test_cancel_reads_cancelled(api: Api) -> None:
    task_id = api.create()["task_id"]
    api.request("POST", f"/api/v1/task/{task_id}/step/convert_audio", json={"params": {}})
    response = api.request("POST", f"/api/v1/task/{task_id}/cancel")
    assert response.status_code == 200
    assert "message" in response.json()
    assert api.request("GET", f"/api/v1/task/{task_id}").json()["status"] == "cancelled"


def test_cancel_of_an_idle_task_reads_cancelled_until_a_new_step(api: Api) -> None:
    task_id = api.create()["task_id"]
    response = api.request("POST", f"/api/v1/task/{task_id}/cancel")
    assert response.status_code == 200
    assert api.request("GET", f"/api/v1/task/{task_id}").json()["status"] == "cancelled"

    assert api.request("POST", f"/api/v1/task/{task_id}/step/convert_audio", json={"params": {}}).status_code == 200
    body = api.request("GET", f"/api/v1/task/{task_id}").json()
    assert (body["status"], body["current_step"]) == ("running", "convert_audio")
    assert api.backend.store.get(api.backend.namespace, task_id).spec.cancel is False


def test_cancel_of_an_unknown_task_is_404(api: Api) -> None:
    assert api.request("POST", f"/api/v1/task/{uuid.uuid4()}/cancel").status_code == 404


def test_delete_removes_the_task(api: Api) -> None:
    task_id = api.create()["task_id"]
    response = api.request("DELETE", f"/api/v1/task/{task_id}")
    assert response.status_code == 200
    assert "message" in response.json()
    assert api.request("GET", f"/api/v1/task/{task_id}").status_code == 404
    assert api.request("DELETE", f"/api/v1/task/{task_id}").status_code == 404
