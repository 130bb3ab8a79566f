"""List, then watch, one resource in a thread of its own: the light stream behind the API's task
cache and the operator's Job and pod stores.

The list comes in pages and the watch as raw JSON lines (no model classes: thousands of Jobs
would cost seconds and megabytes as ``V1Job`` objects), each item handed to ``keep`` on
arrival, so a consumer that prunes holds no full body longer than one page. The watch resumes
from the last resourceVersion it saw (bookmarks included), as an opaque token; when the server
says it is too old (410 Gone), or anything else goes wrong, the resource is listed anew and the
consumer gets the whole list again, since events in between are lost.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from .client import REQUEST_TIMEOUT_S, Expired, call

log = logging.getLogger(__name__)

WATCH_TIMEOUT_S = 300  # the server ends a watch after this; it is resumed from the last version
PAGE = 100  # items per list request: one page of full bodies is the most held before pruning
RETRY_S = 2.0

Lister = Callable[..., Any]  # a list call of the kubernetes client (list_namespaced_job, ...)


class Sink(Protocol):
    """Where one stream's news goes (called from the stream's thread)."""

    def listed(self, items: list[Any]) -> None:
        """Every object, as ``keep`` made it: all earlier news is replaced."""

    def changed(self, kind: str, item: Any) -> None:
        """One watch event (ADDED, MODIFIED, DELETED) of one object, as ``keep`` made it."""

    def lost(self, error: Exception) -> None:
        """The stream broke; a new list follows (news may be missing until then)."""


def _json(response: Any) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(response.data)
    return found


def list_pages(
    lister: Lister,
    what: str,
    keep: Callable[[dict[str, Any]], Any],
    label_selector: str | None = None,
    field_selector: str | None = None,
) -> tuple[list[Any], str]:
    """Every object (kept) and the list's resourceVersion, in pages of ``PAGE``."""
    items: list[Any] = []
    token: str | None = None
    while True:
        page = _json(call(lister, what=f"list {what}", label_selector=label_selector, field_selector=field_selector,
                          limit=PAGE, _continue=token, _preload_content=False))  # fmt: skip
        kind = str(page.get("kind") or "").removesuffix("List")
        for item in page.get("items") or []:
            item.setdefault("kind", kind)  # a list's items carry no kind of their own
            item.setdefault("apiVersion", page.get("apiVersion"))
            items.append(keep(item))
        token = (page.get("metadata") or {}).get("continue")
        if not token:
            return items, str(page["metadata"]["resourceVersion"])


def lines(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """The non-empty lines of a chunked byte stream."""
    buffer = b""
    for chunk in chunks:
        buffer += chunk
        *complete, buffer = buffer.split(b"\n")
        yield from filter(None, (line.strip() for line in complete))
    if buffer.strip():
        yield buffer.strip()


class ListWatch:
    """One resource (within one namespace, or all), listed and then watched until ``stop``."""

    def __init__(
        self,
        lister: Lister,
        what: str,
        sink: Sink,
        *,
        keep: Callable[[dict[str, Any]], Any] = lambda body: body,
        label_selector: str | None = None,
        list_field_selector: str | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self._lister = lister
        self.what = what
        self._sink = sink
        self._keep = keep
        self._selector = label_selector
        # Lists only: the watch from a list's version sees every later change of the label
        # selector's objects, those that enter or leave the field selector's set included.
        self._list_fields = list_field_selector
        self.stop_event = stop or threading.Event()
        self._response: Any = None

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, name=f"watch {self.what}", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        """End the stream now (a blocked read is broken off by closing its connection)."""
        self.stop_event.set()
        response = self._response
        if response is not None:
            response.close()

    def run(self) -> None:
        """List, then watch; start over on any failure. Never raises."""
        while not self.stop_event.is_set():
            try:
                items, version = list_pages(self._lister, self.what, self._keep, self._selector, self._list_fields)
                self._sink.listed(items)
                self._watch(version)
            except Exception as exc:  # the API server away, a 410, a broken stream: list again
                if self.stop_event.is_set():
                    return
                log.warning("watch of %s ended: %s; listing again", self.what, exc)
                self._sink.lost(exc)
                self.stop_event.wait(RETRY_S)

    def _watch(self, version: str) -> None:
        while not self.stop_event.is_set():
            self._response = call(self._lister, what=f"watch {self.what}", label_selector=self._selector, watch=True,
                                  resource_version=version, allow_watch_bookmarks=True,
                                  timeout_seconds=WATCH_TIMEOUT_S, _preload_content=False,
                                  # a stream silent past the server's own end is dead: list again
                                  timeout=(REQUEST_TIMEOUT_S, WATCH_TIMEOUT_S + 30))  # fmt: skip
            try:
                for line in lines(self._response.stream(65536)):
                    version = self._event(json.loads(line), version)
            finally:
                response, self._response = self._response, None
                response.release_conn()

    def _event(self, event: dict[str, Any], version: str) -> str:
        """Hand one event on; the version to resume from."""
        kind, body = event.get("type"), event.get("object") or {}
        if kind == "ERROR":  # a Status: 410 when the version is too old, else the server's trouble
            raise Expired(f"watch of {self.what}: {body.get('code')} {body.get('message')}")
        version = str((body.get("metadata") or {}).get("resourceVersion") or version)
        if kind in ("ADDED", "MODIFIED", "DELETED"):
            self._sink.changed(kind, self._keep(body))
        return version
