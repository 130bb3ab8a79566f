"""TrainingTasks of each namespace the API serves, kept current by a watch: GET task is a dict
lookup, not a request to the API server.

A namespace's watch starts on its first read (a tenant is a namespace, and the chart's Role
may cover only the release namespace) and lists, then watches, in a daemon thread
(sovits_kube/watch.py); until the list is in, and again after the watch fails until it has
listed anew, reads go to the API server. The API's own writes are kept at once: a client that
appends a step and reads the task back sees its step, never the stream's older view; a task it
deletes is read from the API server until the stream shows the delete. Which of
two bodies is newer follows latest.py (resourceVersions are opaque: our answer wins until the
stream shows that version). A task the cache does not hold is read from the API server (it may
be newer than the stream).
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from typing import Any

from sovits_core.model import GROUP, PLURAL, VERSION
from sovits_kube.latest import Versions, key_of
from sovits_kube.watch import ListWatch


def _slim(body: dict[str, Any]) -> dict[str, Any]:
    """The body without managedFields (no reader wants them; they double a body's size)."""
    body.get("metadata", {}).pop("managedFields", None)
    return body


def version_of(body: dict[str, Any]) -> str:
    """A body's version for ``store.Held``: resourceVersions are unique across the cluster's
    objects; the uid guards a task deleted and created again under its name."""
    metadata = body.get("metadata") or {}
    return f"{metadata.get('uid')}/{metadata.get('resourceVersion')}"


class NamespaceTasks:
    """One namespace's tasks, by name, fed by list + watch."""

    def __init__(self, namespace: str, clock: Callable[[], float] = time.monotonic):
        self.namespace = namespace
        self._bodies: dict[str, dict[str, Any]] = {}
        self._versions = Versions(clock)
        # Tasks we deleted that the stream has not shown deleted yet: the API server answers for them.
        self._deleting: set[str] = set()
        self._lock = threading.Lock()
        self.synced = threading.Event()

    def get(self, name: str) -> dict[str, Any] | None:
        """The task's newest body, or None when the cache cannot say (not synced, or not held)."""
        if not self.synced.is_set():
            return None
        with self._lock:
            return None if name in self._deleting else self._bodies.get(name)

    def versions(self) -> dict[str, str] | None:
        """Each held task's version (``version_of``), or None when the cache cannot say (not synced)."""
        if not self.synced.is_set():
            return None
        with self._lock:
            if self._deleting:
                return None
            return {name: version_of(body) for name, body in self._bodies.items()}

    def bodies(self) -> list[dict[str, Any]] | None:
        """Every held body in name order (the API server's list order), or None when not synced."""
        if not self.synced.is_set():
            return None
        with self._lock:
            if self._deleting:
                return None
            return [self._bodies[name] for name in sorted(self._bodies)]

    def answered(self, body: dict[str, Any]) -> None:
        """The API server's answer to our own write: newer than the stream until it shows it."""
        name = key_of(body)[1]
        with self._lock:
            self._deleting.discard(name)  # created again under its name
            if not (body.get("metadata") or {}).get("resourceVersion"):
                self._bodies.pop(name, None)
            elif self._versions.answered(name, body):
                self._bodies[name] = _slim(body)

    def deleted(self, name: str) -> None:
        """Our own delete went through. Until the stream shows it (the task gone, or marked for
        deletion while a finalizer holds it), reads of the task and lists of the namespace go to
        the API server: the stream's older events must not answer for a task the client deleted.
        A task the cache no longer holds was shown deleted already (a watch is ordered)."""
        with self._lock:
            if name in self._bodies:
                self._deleting.add(name)

    def streamed(self, kind: str, body: dict[str, Any]) -> None:
        """A watch event (or a listed item, as ADDED)."""
        name = key_of(body)[1]
        with self._lock:
            if name in self._deleting and (kind == "DELETED" or (body.get("metadata") or {}).get("deletionTimestamp")):
                self._deleting.discard(name)
            if kind == "DELETED":
                self._bodies.pop(name, None)
                self._versions.forget(name)
            elif self._versions.streamed(name, body):
                self._bodies[name] = _slim(body)

    def relisted(self, items: list[dict[str, Any]]) -> None:
        """A fresh list replaces what the stream had built (a task deleted meanwhile goes)."""
        with self._lock:
            self._bodies = {key_of(item)[1]: _slim(item) for item in items}
            self._deleting &= self._bodies.keys()  # gone from the list: nothing left to wait for
            self._versions.clear()
            # The list shows these versions as the stream would: an answer of ours that arrives
            # after it with one of them is no newer, and must not hold later events back.
            for name, body in self._bodies.items():
                self._versions.streamed(name, body)
        self.synced.set()

    # -- the Sink of its watch.ListWatch (called from the stream's thread)

    def listed(self, items: list[Any]) -> None:
        self.relisted(items)

    def changed(self, kind: str, item: Any) -> None:
        self.streamed(kind, item)

    def lost(self, error: Exception) -> None:
        self.synced.clear()  # reads go to the API server until the next list is in


class TaskCache:
    """The watched namespaces of one API process."""

    def __init__(self, lister: Callable[..., Any]) -> None:
        self._lister = lister
        self._namespaces: dict[str, NamespaceTasks] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def namespace(self, namespace: str) -> NamespaceTasks:
        """The namespace's cache, its watch started on first use."""
        with self._lock:
            found = self._namespaces.get(namespace)
            if found is None:
                found = self._namespaces[namespace] = NamespaceTasks(namespace)
                lister = functools.partial(self._lister, GROUP, VERSION, namespace, PLURAL)
                ListWatch(lister, f"trainingtasks in {namespace}", found, stop=self._stop).start()
            return found

    def close(self) -> None:
        self._stop.set()
