"""TrainingTasks of each namespace the API serves, kept current by a watch: GET task is a dict
lookup, not a request to the API server.

A namespace's watch starts on its first read (a tenant is a namespace, and the chart's Role
may cover only the release namespace) and lists, then watches, in a daemon thread; until the
list is in, and again after the watch fails until it has listed anew, reads go to the API
server. The API's own writes are kept at once: a client that appends a step and reads the task
back sees its step, never the stream's older view. Which of two bodies is newer follows
latest.py (resourceVersions are opaque: our answer wins until the stream shows that version).
A task the cache does not hold is read from the API server (it may be newer than the stream).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from sovits_core.model import GROUP, PLURAL, VERSION
from sovits_kube import client as kube
from sovits_kube.latest import Versions, key_of

log = logging.getLogger(__name__)

WATCH_TIMEOUT_S = 300  # the server ends a watch after this; it is resumed from the last version
RETRY_S = 2.0


def _slim(body: dict[str, Any]) -> dict[str, Any]:
    """The body without managedFields (no reader wants them; they double a body's size)."""
    body.get("metadata", {}).pop("managedFields", None)
    return body


class NamespaceTasks:
    """One namespace's tasks, by name, fed by list + watch."""

    def __init__(self, lister: Callable[..., Any], namespace: str, clock: Callable[[], float] = time.monotonic):
        self._lister = lister
        self.namespace = namespace
        self._bodies: dict[str, dict[str, Any]] = {}
        self._versions = Versions(clock)
        self._lock = threading.Lock()
        self.synced = threading.Event()

    def get(self, name: str) -> dict[str, Any] | None:
        """The task's newest body, or None when the cache cannot say (not synced, or not held)."""
        if not self.synced.is_set():
            return None
        with self._lock:
            return self._bodies.get(name)

    def answered(self, body: dict[str, Any]) -> None:
        """The API server's answer to our own write: newer than the stream until it shows it."""
        name = key_of(body)[1]
        with self._lock:
            if not (body.get("metadata") or {}).get("resourceVersion"):
                self._bodies.pop(name, None)
            elif self._versions.answered(name, body):
                self._bodies[name] = _slim(body)

    def streamed(self, kind: str, body: dict[str, Any]) -> None:
        """A watch event (or a listed item, as ADDED)."""
        name = key_of(body)[1]
        with self._lock:
            if kind == "DELETED":
                self._bodies.pop(name, None)
                self._versions.forget(name)
            elif self._versions.streamed(name, body):
                self._bodies[name] = _slim(body)

    def relisted(self, items: list[dict[str, Any]]) -> None:
        """A fresh list replaces what the stream had built (a task deleted meanwhile goes)."""
        with self._lock:
            self._bodies = {key_of(item)[1]: _slim(item) for item in items}
            self._versions.clear()
        self.synced.set()

    def run(self, stop: threading.Event) -> None:
        """List, then watch from the list's version; start over on any failure (never raises)."""
        while not stop.is_set():
            try:
                for _ in self._events(stop):
                    pass
            except Exception as exc:  # the API server away, a 410, a broken stream: list again
                self.synced.clear()
                log.warning("watch of trainingtasks in %s ended: %s; listing again", self.namespace, exc)
                stop.wait(RETRY_S)

    def _events(self, stop: threading.Event) -> Iterator[None]:
        listing = kube.call(self._lister, GROUP, VERSION, self.namespace, PLURAL)
        for item in listing.get("items", []):
            item.setdefault("apiVersion", f"{GROUP}/{VERSION}")
            item.setdefault("kind", "TrainingTask")
        self.relisted(listing.get("items", []))
        version = listing["metadata"]["resourceVersion"]
        while not stop.is_set():
            from kubernetes import watch

            stream = watch.Watch().stream(  # type: ignore[no-untyped-call]
                self._lister, GROUP, VERSION, self.namespace, PLURAL,
                resource_version=version, timeout_seconds=WATCH_TIMEOUT_S, allow_watch_bookmarks=True,
            )  # fmt: skip
            for event in stream:
                if stop.is_set():
                    return
                if event["type"] == "ERROR":
                    raise kube.Expired(f"watch of trainingtasks in {self.namespace}: {event['object']}")
                body = event["object"]
                version = body["metadata"]["resourceVersion"]
                if event["type"] != "BOOKMARK":
                    self.streamed(event["type"], body)
                yield None


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
                found = self._namespaces[namespace] = NamespaceTasks(self._lister, namespace)
                threading.Thread(target=found.run, args=(self._stop,), name=f"watch-{namespace}", daemon=True).start()
            return found

    def close(self) -> None:
        self._stop.set()
