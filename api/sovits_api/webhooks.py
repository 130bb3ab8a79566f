"""Webhooks: a signed POST to ``config.webhook_url`` when a step completes, fails or is cancelled.

A background worker (never the request path) scans the tenants' tasks, derives the events
each one's status shows (a pure function), sends those not yet recorded as delivered on the
object (annotation ``sovits.io/webhooks-delivered``), and retries failures with exponential
backoff up to a limit. Delivery is at least once: receivers dedupe on ``X-Sovits-Event-Id``.
A task a scan left with nothing to send is not read again until its version changes (the
store's ``versions``, from memory on the cluster, one narrow query on SQLite): a scan of
thousands of settled tasks costs a comparison each, not a parse.

Signature: ``X-Sovits-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>`` over
``"<t>." + body`` with ``api.webhook_secret``; receivers recompute it and refuse old ``t``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import requests

from sovits_core.catalog import StepName
from sovits_core.errors import NotFound, SovitsError
from sovits_core.model import TrainingTask

from . import bookkeeping, webhook_targets
from .store import TaskStore, list_all
from .view import task_view
from .webhook_targets import IPNetwork

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Sovits-Signature"
EVENT_ID_HEADER = "X-Sovits-Event-Id"
EVENT_TYPE_HEADER = "X-Sovits-Event"
MAX_BACKOFF_S = 600.0


@dataclass(frozen=True)
class WebhookEvent:
    """What one delivery reports (not a Kubernetes Event): its id is stable across retries."""

    id: str
    type: str  # step.completed | step.failed | step.cancelled | task.cancelled
    step: StepName | None = None
    request_id: str | None = None
    message: str | None = None


def events_of(task: TrainingTask) -> list[WebhookEvent]:
    """Every notifiable outcome the task's status records, oldest step first."""
    events: list[WebhookEvent] = []
    for record in task.status.steps:
        if record.phase in ("completed", "failed", "cancelled"):
            # Without a request id (a kubectl-made request) the finish time tells runs apart.
            run = record.request_id or (record.finished_at.isoformat() if record.finished_at else "-")
            events.append(
                WebhookEvent(f"{record.name}:{run}:{record.phase}", f"step.{record.phase}",
                      record.name, record.request_id, record.message)
            )  # fmt: skip
    if task.status.phase == "cancelled" and not any(e.type == "step.cancelled" for e in events):
        generation = task.status.observed_generation or task.metadata.generation or 0
        events.append(WebhookEvent(f"task:{generation}:cancelled", "task.cancelled"))
    return events


def pending(task: TrainingTask) -> list[WebhookEvent]:
    if not task.spec.webhook_url:
        return []
    done = set(bookkeeping.delivered(task))
    return [e for e in events_of(task) if e.id not in done]


def payload(task: TrainingTask, event: WebhookEvent, now: datetime) -> bytes:
    body: dict[str, Any] = {
        "id": event.id,
        "type": event.type,
        "created_at": now.isoformat(),
        "step": event.step,
        "request_id": event.request_id,
        "message": event.message,
        "task": task_view(task).model_dump(mode="json"),
    }
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(secret: bytes, header: str, body: bytes) -> bool:
    """What a receiver does (used by our tests and documented for users)."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        expected = sign(secret, int(fields.get("t", "")), body)
    except ValueError:
        return False
    return hmac.compare_digest(expected, header)


def backoff(attempt: int, base_s: float) -> float:
    """Delay before attempt ``attempt + 1`` (attempt >= 1): base, 2 x base, 4 x base, ... capped."""
    return float(min(MAX_BACKOFF_S, base_s * 2 ** (attempt - 1)))


Post = Callable[[str, bytes, dict[str, str], float], int]


def post_with_requests(url: str, body: bytes, headers: dict[str, str], timeout_s: float) -> int:
    response = requests.post(url, data=body, headers=headers, timeout=timeout_s, allow_redirects=False)
    return response.status_code


@dataclass
class _Retry:
    attempts: int
    next_at: float


class Worker:
    """Scans, sends and records; ``run_once`` is one scan (tests call it directly)."""

    def __init__(
        self,
        store: TaskStore,
        namespaces: Callable[[], Iterable[str]],
        *,
        secret: bytes | None,
        max_attempts: int,
        backoff_s: float,
        timeout_s: float,
        allowed_networks: Sequence[IPNetwork],
        post: Post = post_with_requests,
        on_outcome: Callable[[str], None] = lambda outcome: None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._namespaces = namespaces
        self._secret = secret
        self._max_attempts = max_attempts
        self._backoff_s = backoff_s
        self._timeout_s = timeout_s
        self._allowed = allowed_networks
        self._post = post
        self._on_outcome = on_outcome
        self._clock = clock
        self._wall_clock = wall_clock
        self._retries: dict[tuple[str, str, str], _Retry] = {}
        # Per namespace, the tasks a scan left with nothing to send, and the version it saw.
        self._settled: dict[str, dict[str, str]] = {}

    def run_once(self) -> None:
        for namespace in sorted(self._namespaces()):
            try:
                tasks = self._unsettled(namespace)
            except SovitsError as exc:
                log.warning("webhooks: cannot list tasks in %s: %s", namespace, exc.message)
                continue
            settled = self._settled.setdefault(namespace, {})
            for version, task in tasks:
                for event in pending(task):
                    task = self._deliver(namespace, task, event)
                if version is not None and not pending(task):
                    settled[task.metadata.name] = version

    def _unsettled(self, namespace: str) -> list[tuple[str | None, TrainingTask]]:
        """The tasks that may have something to send, with the version they were listed at: those
        changed since a scan settled them, or all of them when the store cannot give versions."""
        versions = self._store.versions(namespace)
        if versions is None:
            return [(None, task) for task in list_all(self._store, namespace)]
        settled = self._settled.setdefault(namespace, {})
        for gone in settled.keys() - versions.keys():
            del settled[gone]
        found: list[tuple[str | None, TrainingTask]] = []
        for name, version in versions.items():
            if settled.get(name) == version:
                continue
            try:
                found.append((version, self._store.get(namespace, name)))
            except NotFound:  # deleted since the versions were read
                continue
        return found

    def _deliver(self, namespace: str, task: TrainingTask, event: WebhookEvent) -> TrainingTask:
        """Try one event; the task as stored afterwards (with the delivery recorded)."""
        key = (namespace, task.metadata.name, event.id)
        retry = self._retries.get(key)
        now = self._clock()
        if retry is not None and retry.next_at > now:
            return task
        attempts = (retry.attempts if retry else 0) + 1
        ok, why = self._send(task, event)
        if ok:
            self._on_outcome("delivered")
        elif attempts < self._max_attempts:
            self._retries[key] = _Retry(attempts, now + backoff(attempts, self._backoff_s))
            self._on_outcome("retry")
            log.info("webhook %s for task %s failed (%s); attempt %d", event.id, key[1], why, attempts)
            return task
        else:
            self._on_outcome("gave_up")
            log.warning("webhook %s for task %s gave up after %d attempts: %s", event.id, key[1], attempts, why)
        self._retries.pop(key, None)
        record = bookkeeping.with_delivered(bookkeeping.delivered(task), event.id)
        try:
            return self._store.annotate(namespace, task.metadata.name, {bookkeeping.WEBHOOKS_DELIVERED: record})
        except SovitsError as exc:  # sent but not recorded: it goes out again (at least once)
            log.warning("webhook %s for task %s: could not record delivery: %s", event.id, key[1], exc.message)
            return task

    def _send(self, task: TrainingTask, event: WebhookEvent) -> tuple[bool, str]:
        assert task.spec.webhook_url
        body = payload(task, event, self._wall_clock())
        headers = {"Content-Type": "application/json", EVENT_ID_HEADER: event.id, EVENT_TYPE_HEADER: event.type}
        if self._secret is not None:
            headers[SIGNATURE_HEADER] = sign(self._secret, int(self._wall_clock().timestamp()), body)
        refused = webhook_targets.refusal(task.spec.webhook_url, self._allowed)
        if refused is not None:
            return False, refused
        try:
            status = self._post(task.spec.webhook_url, body, headers, self._timeout_s)
        except requests.RequestException as exc:
            return False, str(exc)
        return 200 <= status < 300, f"HTTP {status}"

    async def run(self, stop: asyncio.Event, interval_s: float) -> None:
        while not stop.is_set():
            try:
                await asyncio.to_thread(self.run_once)
            except Exception:  # keep the worker alive; the next scan tries again
                log.exception("webhook scan failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval_s)
