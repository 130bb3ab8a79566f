"""Progress as Server-Sent Events: the task view each time it changes.

The stream polls the task store (works the same on both backends) and sends an ``status``
event whenever the view differs from the last one sent, and ends with an ``end`` event once
the task rests in completed, failed or cancelled - the moment a client waiting on a step
wants. ``retry`` tells EventSource clients to reconnect after a pause rather than at once. A
deleted task ends the stream with ``deleted``. FastAPI's SSE support writes the wire format
and a keep-alive comment whenever the stream is quiet for 15 s.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable

from fastapi.sse import ServerSentEvent

from sovits_core.errors import NotFound

from .schemas import TaskPublic
from .view import TERMINAL

RETRY_MS = 5000


async def stream(
    fetch: Callable[[], Awaitable[TaskPublic]],
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    interval_s: float = 1.0,
) -> AsyncIterator[ServerSentEvent]:
    yield ServerSentEvent(retry=RETRY_MS)
    last: str | None = None
    sent = 0
    while True:
        try:
            view = await fetch()
        except NotFound:
            yield ServerSentEvent(event="deleted", raw_data=json.dumps({"detail": "task deleted"}))
            return
        data = view.model_dump_json()
        if data != last:
            sent += 1
            last = data
            yield ServerSentEvent(event="status", raw_data=data, id=str(sent))
        if view.status in TERMINAL:
            yield ServerSentEvent(event="end", raw_data=json.dumps({"status": view.status}))
            return
        await sleep(interval_s)
