"""Before a body is read: an unknown caller is turned away, and a JSON body is bounded.

The app is driven through ASGI directly, so the test sees how much of the body it pulled."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from sovits_api.app import create_app
from sovits_api.auth import Tenants
from sovits_api.services import Services
from sovits_core import storage
from sovits_core.settings import Settings
from sovits_local.store import SqliteTaskStore
from tests.support.asgi import call

TOKEN = "guard-token"
LIMIT = 64 * 1024
CHUNK = 64 * 1024


@pytest.fixture
def app(tmp_path: Path) -> Iterator[FastAPI]:
    settings = Settings.model_validate(
        {"storage": {"backend": "local", "local_root": str(tmp_path / "store")}, "api": {"max_body_bytes": LIMIT}}
    )
    tasks = SqliteTaskStore.open(tmp_path / "tasks.db")
    services = Services(settings, tasks, storage.open_store(settings.storage), Tenants({TOKEN: "ns"}), webhooks=False)
    yield create_app(services)
    tasks.close()


class Sent:
    """A client body of ``chunks`` chunks, counting how many the app pulled."""

    def __init__(self, chunks: int, first: bytes = b"") -> None:
        self.chunks = chunks
        self.first = first
        self.pulled = 0

    async def receive(self) -> dict[str, Any]:
        if self.pulled >= self.chunks:
            await asyncio.sleep(3600)  # a client that never finishes its body
        self.pulled += 1
        body = self.first if self.pulled == 1 and self.first else b" " * CHUNK
        return {"type": "http.request", "body": body, "more_body": self.pulled < self.chunks}


def test_a_body_without_a_token_is_refused_before_any_of_it_is_read(app: FastAPI) -> None:
    sent = Sent(chunks=2400)  # 150 MiB announced

    answer = call(app, "POST", "/api/v1/task/create", sent.receive, {"content-type": "application/json"})

    assert (answer.status, answer.json()["code"], answer.json()["field"]) == (401, "unauthenticated", "authorization")
    assert "www-authenticate" in answer.headers
    assert sent.pulled == 0


def test_an_upload_without_a_token_is_refused_before_any_of_it_is_read(app: FastAPI) -> None:
    sent = Sent(chunks=2400)

    headers = {"content-type": "multipart/form-data; boundary=b"}

    answer = call(app, "POST", "/api/v1/task/x/files/upload", sent.receive, headers)

    assert answer.status == 401
    assert sent.pulled == 0


def test_a_declared_length_over_the_limit_is_413_before_any_of_it_is_read(app: FastAPI) -> None:
    sent = Sent(chunks=2400)
    headers = {"authorization": f"Bearer {TOKEN}", "content-type": "application/json",
               "content-length": str(2400 * CHUNK)}  # fmt: skip

    answer = call(app, "POST", "/api/v1/task/create", sent.receive, headers)

    assert (answer.status, answer.json()["code"], answer.json()["field"]) == (413, "payload_too_large", "body")
    assert f"limit of {LIMIT} bytes" in answer.json()["detail"]
    assert sent.pulled == 0


def test_a_chunked_body_is_read_only_up_to_the_limit(app: FastAPI) -> None:
    sent = Sent(chunks=2400)
    headers = {"authorization": f"Bearer {TOKEN}", "content-type": "application/json"}

    answer = call(app, "POST", "/api/v1/task/create", sent.receive, headers)

    assert (answer.status, answer.json()["code"]) == (413, "payload_too_large")
    assert sent.pulled <= LIMIT // CHUNK + 1


def test_a_body_within_the_limit_reaches_the_route(app: FastAPI) -> None:
    task = json.dumps({"task_name": "t", "config": {"exp_name": "spk"}}).encode()
    sent = Sent(chunks=1, first=task)
    headers = {"authorization": f"Bearer {TOKEN}", "content-type": "application/json"}

    answer = call(app, "POST", "/api/v1/task/create", sent.receive, headers)

    assert answer.status == 200, answer.body
    assert answer.json()["status"] == "created"
