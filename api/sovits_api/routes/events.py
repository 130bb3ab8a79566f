"""Progress as Server-Sent Events."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.sse import EventSourceResponse, ServerSentEvent

from sovits_api import events
from sovits_api.deps import ServicesDep, TaskIdDep, TenantDep
from sovits_api.errors import COMMON, documented_json
from sovits_api.schemas import TaskPublic
from sovits_api.view import task_view

router = APIRouter(prefix="/api/v1", tags=["events"], responses=documented_json(404, *COMMON))


async def current_view(task_id: TaskIdDep, svc: ServicesDep, tenant: TenantDep) -> TaskPublic:
    """The task as GET shows it; as a dependency, an unknown task is a 404 before the stream starts."""
    return task_view(await asyncio.to_thread(svc.tasks.get, tenant.namespace, task_id))


@router.get(
    "/task/{task_id}/events",
    summary="Follow a task (Server-Sent Events)",
    description="`status` events carry the task as GET shows it, sent when it changes; the stream "
    "ends with `end` once the task is completed, failed or cancelled (`deleted` if it goes away).",
    response_class=EventSourceResponse,
)
async def follow(
    task_id: TaskIdDep, svc: ServicesDep, tenant: TenantDep, first: Annotated[TaskPublic, Depends(current_view)]
) -> AsyncIterator[ServerSentEvent]:
    pending: TaskPublic | None = first

    async def fetch() -> TaskPublic:
        nonlocal pending
        if pending is not None:
            view, pending = pending, None
            return view
        return await current_view(task_id, svc, tenant)

    async for event in events.stream(fetch, interval_s=svc.settings.api.events_poll_s):
        yield event
