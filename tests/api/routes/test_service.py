"""The service routes: root, health, readiness against real stores, metrics."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi.testclient import TestClient

from sovits_api.app import create_app
from sovits_api.auth import Tenants
from sovits_api.services import Services
from sovits_core import storage
from sovits_core.settings import Settings
from tests.support.ports import free_ports

from ..conftest import Api, Backend


def test_root_describes_the_service(api: Api) -> None:
    body = api.client.get("/").json()
    assert body["docs_url"] == "/docs"
    assert "convert_audio" in body["steps"]


def test_ready_when_both_stores_answer(api: Api) -> None:
    response = api.client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"tasks": "ok", "objects": "ok"}


def unreachable_store_api(backend: Backend) -> Iterator[TestClient]:
    (port,) = free_ports(1)
    settings = Settings.model_validate(
        {"storage": {"endpoint_url": f"http://127.0.0.1:{port}", "access_key_id": "a", "secret_access_key": "b"}}
    )
    objects = storage.S3ObjectStore(bucket="b", endpoint_url=f"http://127.0.0.1:{port}", access_key_id="a",
                                    secret_access_key="b", max_attempts=1)  # fmt: skip
    services = Services(settings=settings, tasks=backend.store, objects=objects, tenants=Tenants({}), webhooks=False)
    with TestClient(create_app(services)) as client:
        yield client


def test_not_ready_when_the_object_store_is_down(sqlite_backend: Backend) -> None:
    for client in unreachable_store_api(sqlite_backend):
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["checks"]["tasks"] == "ok"
        assert response.json()["checks"]["objects"] != "ok"
        assert client.get("/healthz").status_code == 200


def test_metrics_count_requests_by_route_template(api: Api) -> None:
    task_id = api.create()["task_id"]
    api.request("GET", f"/api/v1/task/{task_id}")
    text = api.request("GET", "/metrics").text
    assert 'route="/api/v1/task/{task_id}",status="200"' in text
    assert "sovits_api_tasks_created_total 1.0" in text
