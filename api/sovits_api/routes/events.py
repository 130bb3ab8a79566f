"""Progress as Server-Sent Events."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from .. import events
from ..deps import ServicesDep, TaskIdDep, TenantDep
from ..errors import COMMON, documented
from ..schemas import TaskPublic
from ..view import task_view

router = APIRouter(prefix="/api/v1", tags=["events"], responses=documented(404, *COMMON))


@router.get(
    "/task/{task_id}/events",
    summary="Follow a task (Server-Sent Events)",
    description="`status` events carry the task as GET shows it, sent when it changes; the stream "
    "ends with `end` once the task is completed, failed or cancelled (`deleted` if it goes away).",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def follow(task_id: TaskIdDep, svc: ServicesDep, tenant: TenantDep) -> StreamingResponse:
    first: TaskPublic | None = task_view(await asyncio.to_thread(svc.tasks.get, tenant.namespace, task_id))

    async def fetch() -> TaskPublic:
        nonlocal first
        if first is not None:
            view, first = first, None
            return view
        return task_view(await asyncio.to_thread(svc.tasks.get, tenant.namespace, task_id))

    return StreamingResponse(
        events.stream(fetch, interval_s=svc.settings.api.events_poll_s),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
