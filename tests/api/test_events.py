"""Server-Sent Events: a status event per change, then end at a resting state."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from fastapi.sse import ServerSentEvent

from sovits_api.events import stream
from sovits_api.schemas import TaskPublic
from sovits_core.errors import NotFound

from .conftest import Api

NOW = datetime(2024, 1, 1, tzinfo=UTC)


def view(status: str, progress: float = 0.0) -> TaskPublic:
    return TaskPublic(task_id="t", task_name="n", status=status, config={}, created_at=NOW,
                      updated_at=NOW, progress=progress)  # fmt: skip


def fetcher(views: list[TaskPublic | None]) -> Callable[[], Awaitable[TaskPublic]]:
    async def fetch() -> TaskPublic:
        item = views.pop(0)
        if item is None:
            raise NotFound("gone")
        return item

    return fetch


async def no_sleep(_: float) -> None:
    return None


def frames(views: list[TaskPublic | None]) -> list[tuple[str, str]]:
    async def run() -> list[ServerSentEvent]:
        return [event async for event in stream(fetcher(views), sleep=no_sleep)]

    return [(e.event, e.raw_data or "") for e in asyncio.run(run()) if e.event is not None]


def test_only_changes_are_sent_and_the_stream_ends_when_the_task_rests() -> None:
    events = frames([view("running", 1), view("running", 1), view("running", 5), view("completed", 5)])
    assert [e for e, _ in events] == ["status", "status", "status", "end"]
    assert [json.loads(d)["progress"] for e, d in events if e == "status"] == [1, 5, 5]
    assert json.loads(events[-1][1]) == {"status": "completed"}


def test_a_deleted_task_ends_the_stream() -> None:
    assert [e for e, _ in frames([view("running"), None])] == ["status", "deleted"]


def test_route_streams_a_resting_task_and_ends(api: Api) -> None:
    task_id = api.create()["task_id"]
    api.request("POST", f"/api/v1/task/{task_id}/cancel")
    response = api.request("GET", f"/api/v1/task/{task_id}/events")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.text.startswith("retry: 5000\n\n")
    assert "event: status\ndata: {" in response.text
    assert response.text.rstrip().endswith('event: end\ndata: {"status": "cancelled"}')


def test_route_answers_404_for_an_unknown_task(api: Api) -> None:
    assert api.request("GET", f"/api/v1/task/{uuid.uuid4()}/events").status_code == 404
