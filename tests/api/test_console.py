"""What the web console needs from the API: the page at `/` for browsers, its files, the step
parameter schemas its forms are built from, and the training curves."""

from __future__ import annotations

import json

import pytest

from sovits_api import console
from sovits_core.catalog import STEP_ORDER

from .conftest import TOKEN_B, Api

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"


@pytest.mark.parametrize(
    ("accept", "html"),
    [
        (BROWSER_ACCEPT, True),
        ("*/*", False),
        ("application/json", False),
        (None, False),
        ("application/json, text/html", False),
    ],
)
def test_the_console_is_for_clients_that_ask_for_html_first(accept: str | None, html: bool) -> None:
    assert console.wants_html(accept) is html


def test_a_browser_at_the_root_gets_the_console_and_a_client_the_seeds_json(local_api: Api) -> None:
    page = local_api.client.get("/", headers={"Accept": BROWSER_ACCEPT})
    assert page.headers["content-type"].startswith("text/html")
    assert 'src="console/app.js"' in page.text
    assert local_api.client.get("/").json()["docs_url"] == "/docs"


def test_the_consoles_files_are_served_without_a_token(local_api: Api) -> None:
    for name in ("app.js", "api.js", "pages/task.js", "style.css"):
        response = local_api.client.get(f"/console/{name}")
        assert response.status_code == 200, name
    assert "javascript" in local_api.client.get("/console/app.js").headers["content-type"]


def test_steps_are_listed_in_order_with_their_parameter_schemas(local_api: Api) -> None:
    assert local_api.client.get("/api/v1/steps").status_code == 401
    steps = local_api.request("GET", "/api/v1/steps").json()
    assert [s["name"] for s in steps] == list(STEP_ORDER)
    slice_audio = steps[1]
    assert slice_audio["prerequisites"] == ["convert_audio"]
    min_length = slice_audio["params_schema"]["properties"]["min_length"]
    assert (min_length["default"], min_length["maximum"]) == (4000, 600_000)
    assert "_max" in slice_audio["params_schema"]["properties"], "upstream's names, as POST takes them"


def test_training_curves_are_read_from_the_training_steps_progress_reports(local_api: Api) -> None:
    task_id = local_api.create()["task_id"]
    assert local_api.request("GET", f"/api/v1/task/{task_id}/metrics").json() == {"steps": {}}
    task = local_api.services.tasks.get(local_api.backend.namespace, task_id)
    files = local_api.services.task_files(task)
    metrics = {"loss_mel": [[0, 40.0], [1, 20.0]], "loss_gen": [[0, 3.0], [1, 2.5]]}
    report = {"step": "train_sovits", "progress": 52.5, "message": "training", "metrics": metrics}
    files.put_bytes("progress/train_sovits.json", json.dumps(report).encode())
    files.put_bytes("progress/train_gpt.json", json.dumps({"step": "train_gpt", "progress": 0.0}).encode())

    curves = local_api.request("GET", f"/api/v1/task/{task_id}/metrics").json()["steps"]

    assert list(curves) == ["train_sovits"], "a report without metrics adds no curves"
    assert curves["train_sovits"]["series"]["loss_mel"] == [[0, 40.0], [1, 20.0]]
    assert curves["train_sovits"]["progress"] == 52.5


def test_another_tenants_curves_are_not_found(local_api: Api) -> None:
    task_id = local_api.create()["task_id"]
    other = Api(local_api.client, local_api.services, local_api.backend, token=TOKEN_B)
    assert other.request("GET", f"/api/v1/task/{task_id}/metrics").status_code == 404
