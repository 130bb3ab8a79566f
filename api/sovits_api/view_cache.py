"""GET task's answers, encoded, by the version of the task they show.

Clients poll GET task (the seed's client does, every few seconds per task). The view is a pure
function of the stored object (view.py), so an answer encoded once serves every read of the same
version: a read then costs the store's ``held`` lookup and a dict lookup, not a parse of the
object, the view and its JSON encoding. One entry per task, the least recently read dropped
beyond ``limit``. GET task uses it on the event loop, the plain list in a thread (a first list
of 1,000 tasks parses them all): a lock guards the entries, never held while encoding.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable

from .schemas import TaskPublic
from .store import Held
from .view import task_view

MEDIA_TYPE = "application/json"


def encoded(view: TaskPublic) -> bytes:
    """The view as FastAPI's response_model would send it (field aliases included)."""
    return view.model_dump_json(by_alias=True).encode()


def joined(answers: Iterable[bytes]) -> bytes:
    """Encoded views as one JSON array."""
    return b"[" + b",".join(answers) + b"]"


class ViewCache:
    def __init__(self, limit: int = 4096) -> None:
        self._limit = limit
        self._answers: OrderedDict[tuple[str, str], tuple[str, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def answer(self, namespace: str, task_id: str, held: Held) -> bytes:
        """The encoded view of ``held``, computed only when this version was not answered before."""
        key = (namespace, task_id)
        with self._lock:
            found = self._answers.get(key)
            if found is not None and found[0] == held.version:
                self._answers.move_to_end(key)
                return found[1]
        body = encoded(task_view(held.parse()))
        with self._lock:
            self._answers[key] = (held.version, body)
            self._answers.move_to_end(key)
            if len(self._answers) > self._limit:
                self._answers.popitem(last=False)
        return body
