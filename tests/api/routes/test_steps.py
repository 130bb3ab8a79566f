"""Step requests through the API: the seed's status words and error codes, no stale completed."""

from __future__ import annotations

import uuid

from ..conftest import Api


def post_step(api: Api, task_id: str, step: str, params: dict[str, object] | None = None) -> object:
    return api.request("POST", f"/api/v1/task/{task_id}/step/{step}", json={"params": params or {}})


def test_posted_step_reads_running_with_that_step_until_the_operator_finishes_it(api: Api) -> None:
    task_id = api.create()["task_id"]
    response = api.request("POST", f"/api/v1/task/{task_id}/step/convert_audio", json={"params": {}})
    assert response.status_code == 200
    accepted = response.json()
    assert accepted["message"]
    assert accepted["step"] == "convert_audio"
    task = api.request("GET", f"/api/v1/task/{task_id}").json()
    assert (task["status"], task["current_step"]) == ("running", "convert_audio")

    # The operator records the step as completed: the client now sees it.
    record = {"name": "convert_audio", "phase": "completed", "requestId": accepted["request_id"]}
    api.write_status(task_id, phase="completed", progress=2.0, steps=[record])
    assert api.request("GET", f"/api/v1/task/{task_id}").json()["status"] == "completed"

    # The next step: the previous "completed" must not leak through.
    nxt = api.request("POST", f"/api/v1/task/{task_id}/step/slice_audio", json={"params": {}})
    assert nxt.status_code == 200
    task = api.request("GET", f"/api/v1/task/{task_id}").json()
    assert (task["status"], task["current_step"]) == ("running", "slice_audio")


def test_step_body_may_be_omitted(api: Api) -> None:
    task_id = api.create()["task_id"]
    assert api.request("POST", f"/api/v1/task/{task_id}/step/convert_audio").status_code == 200


def test_unknown_step_is_400(api: Api) -> None:
    task_id = api.create()["task_id"]
    response = api.request("POST", f"/api/v1/task/{task_id}/step/make_coffee", json={"params": {}})
    assert response.status_code == 400
    assert "make_coffee" in response.json()["detail"]


def test_step_while_another_runs_is_400(api: Api) -> None:
    task_id = api.create()["task_id"]
    assert api.request("POST", f"/api/v1/task/{task_id}/step/convert_audio").status_code == 200
    response = api.request("POST", f"/api/v1/task/{task_id}/step/convert_audio")
    assert response.status_code == 400
    assert response.json()["code"] == "task_busy"


def test_missing_prerequisites_are_400_naming_them(api: Api) -> None:
    task_id = api.create()["task_id"]
    response = api.request("POST", f"/api/v1/task/{task_id}/step/slice_audio", json={"params": {}})
    assert response.status_code == 400
    assert "convert_audio" in response.json()["detail"]


def test_negative_min_length_is_422_saying_so(api: Api) -> None:
    task_id = api.create()["task_id"]
    api.request("POST", f"/api/v1/task/{task_id}/step/convert_audio")
    response = api.request("POST", f"/api/v1/task/{task_id}/step/slice_audio", json={"params": {"min_length": -34}})
    assert response.status_code == 422
    assert response.json()["field"] == "min_length"
    assert "min_length" in response.json()["detail"]


def test_a_boolean_where_a_number_belongs_is_422_not_coerced(api: Api) -> None:
    task_id = api.create()["task_id"]
    api.request("POST", f"/api/v1/task/{task_id}/step/convert_audio")
    response = api.request("POST", f"/api/v1/task/{task_id}/step/slice_audio", json={"params": {"alpha": True}})
    assert (response.status_code, response.json()["field"]) == (422, "alpha")


def test_unknown_body_key_is_422(api: Api) -> None:
    task_id = api.create()["task_id"]
    response = api.request("POST", f"/api/v1/task/{task_id}/step/convert_audio", json={"parameters": {}})
    assert (response.status_code, response.json()["field"]) == (422, "parameters")


def test_step_on_an_unknown_task_is_404_even_for_an_unknown_step(api: Api) -> None:
    response = api.request("POST", f"/api/v1/task/{uuid.uuid4()}/step/make_coffee")
    assert response.status_code == 404


def test_failed_step_reads_failed_with_its_message(api: Api) -> None:
    task_id = api.create()["task_id"]
    request_id = api.request("POST", f"/api/v1/task/{task_id}/step/convert_audio").json()["request_id"]
    record = {"name": "convert_audio", "phase": "failed", "requestId": request_id}
    api.write_status(task_id, phase="failed", errorMessage="input_audio/: no audio files", steps=[record])
    task = api.request("GET", f"/api/v1/task/{task_id}").json()
    assert (task["status"], task["error_message"]) == ("failed", "input_audio/: no audio files")
