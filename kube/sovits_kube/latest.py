"""The newest TrainingTask bodies seen, so a reconcile pass needs no fresh read of its task.

Bodies arrive from the watch stream and from the API server's answers to our own requests (a
status patch answers with the object as written, ahead of the stream; a read answers with the
object as it is). Only the operator writes status, so after a write the newest body is the
write's answer until the stream shows that same object.

resourceVersions are opaque (Kubernetes API conventions): they are compared for equality,
never ordered. The stream delivers one object's versions in order, so after a write the
stream's events are older than the write's answer until the event with the write's
resourceVersion comes; those are skipped. An answer whose version the stream has already shown
(the stream can be quicker than the answer) is older than what the stream gave since, and is
itself skipped. A higher ``metadata.generation`` (a spec change, ordered by the API
conventions) or a deletion is news the write's answer cannot hold, and is taken at once. An
answered version the stream never shows (a watch relisted past it) is waited for at most
``AWAIT_S``.

Bodies of finished tasks (completed, failed, cancelled) are not kept: a pass for one reads it
fresh, and there are few, while their count grows without end.
"""

from __future__ import annotations

import copy
import time
from collections import deque
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any

from sovits_core.model import FINISHED_PHASES

Key = tuple[str, str]  # namespace, name

# What reconcile, the Job builder and Event posting read from the metadata. Not the
# managedFields nor kopf's annotations, which would double the memory of every body.
METADATA_KEPT = ("name", "namespace", "uid", "generation", "creationTimestamp", "labels", "resourceVersion",
                 "deletionTimestamp")  # fmt: skip
AWAIT_S = 30.0
STREAMED_KEPT = 8  # the versions of one object the stream showed last


def key_of(body: Mapping[str, Any]) -> Key:
    meta = body.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


def pruned(body: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of what a reconcile pass reads; later changes to ``body`` do not reach it."""
    meta = body.get("metadata") or {}
    kept = {
        "apiVersion": body.get("apiVersion"),
        "kind": body.get("kind"),
        "metadata": {k: meta[k] for k in METADATA_KEPT if k in meta},
        "spec": body.get("spec"),
    }
    if body.get("status") is not None:
        kept["status"] = body["status"]
    return copy.deepcopy(kept)


def is_finished(body: Mapping[str, Any]) -> bool:
    return (body.get("status") or {}).get("phase") in FINISHED_PHASES


@dataclass(frozen=True)
class Answered:
    """The API server's answer to our request, which the stream may not have shown yet."""

    version: str
    generation: int
    until: float  # monotonic seconds

    def superseded_by(self, streamed: Mapping[str, Any], now: float) -> bool:
        """Whether a watch event is at least as new as the write (else it is older: skip it)."""
        meta = streamed.get("metadata") or {}
        return (
            meta.get("resourceVersion") == self.version
            or _generation(streamed) > self.generation
            or bool(meta.get("deletionTimestamp"))
            or now >= self.until
        )


def _generation(body: Mapping[str, Any]) -> int:
    try:
        return int((body.get("metadata") or {}).get("generation") or 0)
    except (TypeError, ValueError):
        return 0


class Versions:
    """Which of two bodies of one object is newer, without ordering resourceVersions: the
    stream's own order, and our answers held until the stream shows their version."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._answered: dict[Hashable, Answered] = {}
        self._streamed: dict[Hashable, deque[str]] = {}
        self._clock = clock

    def streamed(self, key: Hashable, body: Mapping[str, Any]) -> bool:
        """A watch event: whether it is the newest body (else an answer of ours is newer)."""
        version = (body.get("metadata") or {}).get("resourceVersion")
        if version:
            self._streamed.setdefault(key, deque(maxlen=STREAMED_KEPT)).append(str(version))
        answered = self._answered.get(key)
        if answered is None:
            return True
        if not answered.superseded_by(body, self._clock()):
            return False
        del self._answered[key]
        return True

    def answered(self, key: Hashable, body: Mapping[str, Any]) -> bool:
        """Our request's answer: whether it is the newest body (not if the stream showed it already)."""
        version = (body.get("metadata") or {}).get("resourceVersion")
        if not version or str(version) in self._streamed.get(key, ()):
            return False
        self._answered[key] = Answered(str(version), _generation(body), self._clock() + AWAIT_S)
        return True

    def forget(self, key: Hashable) -> None:
        self._answered.pop(key, None)
        self._streamed.pop(key, None)

    def clear(self) -> None:
        self._answered.clear()
        self._streamed.clear()


class Latest:
    """The newest body per task (namespace, name), unless the task has finished."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._bodies: dict[Key, dict[str, Any]] = {}
        self._versions = Versions(clock)

    def get(self, key: Key) -> dict[str, Any] | None:
        return self._bodies.get(key)

    def items(self) -> list[tuple[Key, dict[str, Any]]]:
        """Every kept (unfinished) task's newest body, as of now."""
        return list(self._bodies.items())

    def watched(self, body: Mapping[str, Any]) -> None:
        """A watch event: keep it unless an answer of ours, not yet streamed, is newer."""
        key = key_of(body)
        if self._versions.streamed(key, body):
            self._keep(key, body)

    def answered(self, body: Mapping[str, Any]) -> None:
        """The answer to our own write or read: as new as anything the stream has shown so far."""
        key = key_of(body)
        if not (body.get("metadata") or {}).get("resourceVersion"):
            self.drop(key)
        elif self._versions.answered(key, body):
            self._keep(key, body)

    def _keep(self, key: Key, body: Mapping[str, Any]) -> None:
        if is_finished(body):
            self._bodies.pop(key, None)
        else:
            self._bodies[key] = pruned(body)

    def drop(self, key: Key) -> None:
        """Forget ``key`` (the task is gone, or a write's outcome is unknown): read it fresh next."""
        self._bodies.pop(key, None)
        self._versions.forget(key)

    def __len__(self) -> int:
        return len(self._bodies)
