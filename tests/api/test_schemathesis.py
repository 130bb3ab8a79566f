"""Property-based checks from the app's own OpenAPI: no generated request gets a 5xx, and every
answer (status, content type, body) is one the document describes.

Bounded (``MAX_EXAMPLES`` per operation) so it fits the test command. It runs on the real
local backends (SQLite task store, directory object store) that ``sovits local`` uses.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import content_type_conformance, response_schema_conformance, status_code_conformance
from schemathesis.specs.openapi.schemas import OpenApiSchema

from sovits_api.app import create_app
from sovits_api.auth import Tenants
from sovits_api.services import Services
from sovits_core import storage
from sovits_core.model import TrainingTaskSpec
from sovits_core.settings import Settings
from sovits_local.store import SqliteTaskStore

MAX_EXAMPLES = 25
RESPONSE_CHECKS = [status_code_conformance, content_type_conformance, response_schema_conformance]
TOKEN = "schemathesis-token"


def build_schema(root: Path) -> tuple[OpenApiSchema, Services]:
    settings = Settings.model_validate(
        {"storage": {"backend": "local", "local_root": str(root / "store")}, "api": {"download_mode": "stream"}}
    )
    services = Services(
        settings=settings,
        tasks=SqliteTaskStore.open(root / "tasks.db"),
        objects=storage.open_store(settings.storage),
        tenants=Tenants({TOKEN: "tenant"}),
        webhooks=False,
    )
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(services)), services


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> tuple[OpenApiSchema, Services]:
    return build_schema(tmp_path_factory.mktemp("schemathesis"))


# schemathesis' own pytest plugin does not run on pytest 9 (it reads a removed node attribute),
# so each operation's strategy drives a plain hypothesis test here.
def test_no_request_gets_a_server_error(api_schema: tuple[OpenApiSchema, Services]) -> None:
    schema, _ = api_schema
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) >= 14
    for operation in operations:
        check_operation(operation, task_id=None)


def test_no_request_on_an_existing_task_gets_a_server_error(api_schema: tuple[OpenApiSchema, Services]) -> None:
    """Generated ids are all unknown; here every task route gets a real task's id instead."""
    schema, services = api_schema
    spec = TrainingTaskSpec(exp_name="spk")
    task_id = services.tasks.create("tenant", str(uuid.uuid4()), spec, {}).metadata.name
    for operation in (result.ok() for result in schema.get_all_operations()):  # type: ignore[union-attr]
        # The event stream of a task at rest would never end; DELETE would leave nothing to test.
        if "{task_id}" in operation.path and not operation.path.endswith("/events") and operation.method != "delete":
            check_operation(operation, task_id=task_id)


def check_operation(operation: Any, task_id: str | None) -> None:
    @given(case=operation.as_strategy())
    @settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def run(case: Any) -> None:
        if task_id is not None:
            case.path_parameters = {**case.path_parameters, "task_id": task_id}
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {TOKEN}"}
        response = case.call()
        assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.text[:500]}"
        case.validate_response(response, checks=RESPONSE_CHECKS)

    run()


def test_every_error_the_document_names_is_the_one_error_body(api_schema: tuple[OpenApiSchema, Services]) -> None:
    _, services = api_schema
    document = create_app(services).openapi()
    schemas = document["components"]["schemas"]
    api_operations = [(path, op) for path, ops in document["paths"].items() for op in ops.values()
                      if path.startswith("/api/v1/")]  # fmt: skip

    assert "HTTPValidationError" not in schemas
    assert set(schemas["ErrorBody"]["required"]) == {"detail", "code"}
    for path, operation in api_operations:
        responses = operation["responses"]
        assert {"401", "413", "422"} <= set(responses), path
        assert "404" in responses or "{task_id}" not in path, path
        for status, answer in responses.items():
            if status.startswith("4"):
                ref = answer["content"]["application/json"]["schema"]["$ref"]
                assert ref == "#/components/schemas/ErrorBody", (path, status)
