"""Bearer tokens, tenants and the routes that stay open."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from sovits_api.app import create_app
from sovits_api.auth import Tenants, tokens_from_secret_data
from sovits_api.services import Services
from sovits_core import storage
from sovits_core.settings import Settings

from .conftest import TOKEN_B, Api, Backend


def test_a_request_without_a_token_is_401_with_a_bearer_challenge(api: Api) -> None:
    response = api.client.get("/api/v1/tasks")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_an_unknown_token_is_401(api: Api) -> None:
    response = api.client.get("/api/v1/tasks", headers={"Authorization": "Bearer guess"})
    assert response.status_code == 401


def test_another_tenants_task_is_404_not_403(api: Api) -> None:
    task_id = api.create()["task_id"]
    other = {"Authorization": f"Bearer {TOKEN_B}"}
    for method, path in [("GET", ""), ("POST", "/cancel"), ("DELETE", ""), ("GET", "/files"), ("GET", "/logs")]:
        assert api.client.request(method, f"/api/v1/task/{task_id}{path}", headers=other).status_code == 404
    assert task_id not in {t["task_id"] for t in api.client.get("/api/v1/tasks", headers=other).json()}
    assert api.request("GET", f"/api/v1/task/{task_id}").status_code == 200


@pytest.mark.parametrize("path", ["/", "/healthz", "/readyz", "/docs", "/openapi.json"])
def test_service_routes_need_no_token(api: Api, path: str) -> None:
    assert api.client.get(path).status_code == 200


def test_metrics_need_a_token(api: Api) -> None:
    assert api.client.get("/metrics").status_code == 401
    assert api.request("GET", "/metrics").status_code == 200


@pytest.fixture
def open_api(sqlite_backend: Backend, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings.model_validate({"storage": {"backend": "local", "local_root": str(tmp_path / "s")}})
    services = Services(
        settings=settings,
        tasks=sqlite_backend.store,
        objects=storage.open_store(settings.storage),
        tenants=Tenants({}, disabled_namespace="local"),
        webhooks=False,
    )
    with TestClient(create_app(services)) as client:
        yield client


def test_auth_switched_off_explicitly_serves_everyone_as_one_tenant(open_api: TestClient) -> None:
    created = open_api.post("/api/v1/task/create", json={"task_name": "t", "config": {"exp_name": "s"}})
    assert created.status_code == 200
    assert open_api.get(f"/api/v1/task/{created.json()['task_id']}").status_code == 200


def test_no_tokens_configured_refuses_everyone() -> None:
    with pytest.raises(Exception, match="unknown bearer token"):
        Tenants({}).authenticate("Bearer anything")


def test_secret_tokens_replace_the_previous_ones() -> None:
    tenants = Tenants({"static": "a"})
    data = {"t1": base64.b64encode(b"team-1").decode(), "bad": "%%%"}
    tenants.replace_secret_tokens(tokens_from_secret_data(data))
    assert tenants.authenticate("Bearer t1").namespace == "team-1"
    assert tenants.authenticate("bearer static").namespace == "a"
    tenants.replace_secret_tokens({})
    with pytest.raises(Exception, match="unknown"):
        tenants.authenticate("Bearer t1")
    assert tenants.namespaces() == {"a"}
