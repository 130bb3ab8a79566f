"""Progress as Server-Sent Events: the task view each time it changes.

The stream polls the task store (works the same on both backends) and sends an ``status``
event whenever the view differs from the last one sent, a comment line as a heartbeat, and
ends with an ``end`` event once the task rests in completed, failed or cancelled - the
moment a client waiting on a step wants. ``retry`` tells EventSource clients to reconnect
after a pause rather than at once. A deleted task ends the stream with ``deleted``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable

from sovits_operator.errors import NotFound

from .schemas import TaskPublic
from .view import TERMINAL

RETRY_MS = 5000
HEARTBEAT_EVERY = 15  # polls


def frame(event: str, data: str, event_id: str | None = None) -> str:
    lines = [f"event: {event}"]
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines += [f"data: {line}" for line in data.splitlines() or [""]]
    return "\n".join(lines) + "\n\n"


async def stream(
    fetch: Callable[[], Awaitable[TaskPublic]],
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    interval_s: float = 1.0,
) -> AsyncIterator[str]:
    yield f"retry: {RETRY_MS}\n\n"
    last: str | None = None
    polls = 0
    sent = 0
    while True:
        try:
            view = await fetch()
        except NotFound:
            yield frame("deleted", json.dumps({"detail": "task deleted"}))
            return
        data = view.model_dump_json()
        if data != last:
            sent += 1
            last = data
            yield frame("status", data, str(sent))
        if view.status in TERMINAL:
            yield frame("end", json.dumps({"status": view.status}))
            return
        polls += 1
        if polls % HEARTBEAT_EVERY == 0:
            yield ": keepalive\n\n"
        await sleep(interval_s)
