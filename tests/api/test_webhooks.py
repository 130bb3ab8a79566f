"""Webhooks: events derived from status, HMAC signatures, retries, delivery recorded on the task."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from sovits_api import bookkeeping
from sovits_api.webhook_targets import EVERYWHERE, IPNetwork
from sovits_api.webhooks import EVENT_ID_HEADER, SIGNATURE_HEADER, Worker, backoff, events_of, pending, sign, verify
from sovits_core.model import TrainingTask, TrainingTaskSpec, TrainingTaskStatus
from sovits_local.store import SqliteTaskStore

from .factories import record, request, task

SECRET = b"webhook-secret"


def test_each_finished_step_is_one_event() -> None:
    t = task(
        steps=[request("convert_audio", "r1"), request("slice_audio", "r2"), request("denoise_audio", "r3")],
        status={"phase": "running", "steps": [record("convert_audio", "completed", "r1"),
                                               record("slice_audio", "failed", "r2", message="bad"),
                                               record("denoise_audio", "running", "r3")]},
    )  # fmt: skip
    assert [(e.type, e.step, e.request_id) for e in events_of(t)] == [
        ("step.completed", "convert_audio", "r1"),
        ("step.failed", "slice_audio", "r2"),
    ]


def test_a_cancel_without_a_step_record_is_a_task_event() -> None:
    t = task(status={"phase": "cancelled"})
    assert [e.type for e in events_of(t)] == ["task.cancelled"]


def test_delivered_events_and_tasks_without_a_url_are_not_pending() -> None:
    status = {"phase": "completed", "steps": [record("convert_audio", "completed", "r1")]}
    assert pending(task(status=status)) == []
    with_url = task(status=status, webhookUrl="http://127.0.0.1:9/")
    (event,) = pending(with_url)
    done = task(status=status, webhookUrl="http://127.0.0.1:9/",
                annotations={bookkeeping.WEBHOOKS_DELIVERED: json.dumps([event.id])})  # fmt: skip
    assert pending(done) == []


def test_signature_verifies_and_a_changed_body_does_not() -> None:
    header = sign(SECRET, 1700000000, b'{"a":1}')
    assert verify(SECRET, header, b'{"a":1}')
    assert not verify(SECRET, header, b'{"a":2}')
    assert not verify(b"other", header, b'{"a":1}')


def test_backoff_doubles_and_is_capped() -> None:
    assert [backoff(n, 5.0) for n in (1, 2, 3)] == [5.0, 10.0, 20.0]
    assert backoff(30, 5.0) == 600.0


class Receiver:
    """A real HTTP endpoint on loopback that answers with the statuses it is given, in turn."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.received: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((dict(self.headers), body))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver([500, 200])
    yield r
    r.close()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_worker(
    store: SqliteTaskStore, clock: Clock, max_attempts: int = 3, allowed_networks: Sequence[IPNetwork] = EVERYWHERE
) -> tuple[Worker, list[str]]:
    """The receivers here listen on loopback, so by default every network is allowed."""
    outcomes: list[str] = []
    worker = Worker(
        store, lambda: ["ns"], secret=SECRET, max_attempts=max_attempts, backoff_s=10.0, timeout_s=5.0,
        allowed_networks=allowed_networks,
        on_outcome=outcomes.append, clock=clock, wall_clock=lambda: datetime.now(UTC),
    )  # fmt: skip
    return worker, outcomes


def finished_task(store: SqliteTaskStore, url: str) -> str:
    task_id = str(uuid.uuid4())
    store.create("ns", task_id, TrainingTaskSpec(exp_name="spk", webhook_url=url), {})
    status = {"phase": "completed", "steps": [record("convert_audio", "completed", "r1")]}
    store.update_status("ns", task_id, TrainingTaskStatus.model_validate(status))
    return task_id


def test_worker_retries_after_the_backoff_then_records_the_delivery(tmp_path: Path, receiver: Receiver) -> None:
    store = SqliteTaskStore.open(tmp_path / "t.db")
    task_id = finished_task(store, receiver.url)
    clock = Clock()
    worker, outcomes = make_worker(store, clock)

    worker.run_once()  # the receiver answers 500
    worker.run_once()  # before the backoff: nothing sent
    assert outcomes == ["retry"]
    clock.now += 10.0
    worker.run_once()  # the receiver answers 200
    assert outcomes == ["retry", "delivered"]

    headers, body = receiver.received[-1]
    assert verify(SECRET, headers[SIGNATURE_HEADER], body)
    payload = json.loads(body)
    assert (payload["type"], payload["step"], payload["task"]["task_id"]) == (
        "step.completed",
        "convert_audio",
        task_id,
    )
    assert headers[EVENT_ID_HEADER] == payload["id"]
    assert bookkeeping.delivered(store.get("ns", task_id)) == [payload["id"]]

    worker.run_once()  # delivered: not sent again
    assert len(receiver.received) == 2


def test_worker_gives_up_after_the_last_attempt_and_records_it(tmp_path: Path) -> None:
    failing = Receiver([500, 500, 500])
    try:
        store = SqliteTaskStore.open(tmp_path / "t.db")
        task_id = finished_task(store, failing.url)
        clock = Clock()
        worker, outcomes = make_worker(store, clock, max_attempts=2)
        worker.run_once()
        clock.now += 1000
        worker.run_once()
        assert outcomes == ["retry", "gave_up"]
        assert len(bookkeeping.delivered(store.get("ns", task_id))) == 1
    finally:
        failing.close()


def test_an_unreachable_url_is_retried_not_fatal(tmp_path: Path) -> None:
    store = SqliteTaskStore.open(tmp_path / "t.db")
    closed = Receiver([])
    url = closed.url
    closed.close()
    finished_task(store, url)
    worker, outcomes = make_worker(store, Clock())
    worker.run_once()
    assert outcomes == ["retry"]


def test_a_loopback_receiver_is_refused_at_delivery_unless_its_network_is_allowed(
    tmp_path: Path, receiver: Receiver
) -> None:
    store = SqliteTaskStore.open(tmp_path / "t.db")
    finished_task(store, receiver.url)
    worker, outcomes = make_worker(store, Clock(), max_attempts=1, allowed_networks=[])

    worker.run_once()

    assert outcomes == ["gave_up"]
    assert receiver.received == []


def test_a_task_a_scan_settled_is_not_read_again_until_it_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SqliteTaskStore.open(tmp_path / "t.db")
    hooks = Receiver([200, 200])
    try:
        task_id = finished_task(store, hooks.url)
        quiet_id = str(uuid.uuid4())
        store.create("ns", quiet_id, TrainingTaskSpec(exp_name="spk"), {})  # no webhook: settled at once
        reads: list[str] = []
        read = store.get

        def counted(namespace: str, name: str) -> TrainingTask:
            reads.append(name)
            return read(namespace, name)

        monkeypatch.setattr(store, "get", counted)
        worker, outcomes = make_worker(store, Clock())

        worker.run_once()  # sends, and records the delivery: a new version
        worker.run_once()  # reads the recorded task once more: nothing left, settled
        assert outcomes == ["delivered"]
        assert sorted(reads) == sorted([task_id, quiet_id, task_id])
        reads.clear()
        worker.run_once()
        assert reads == []

        status = {"phase": "completed", "steps": [record("convert_audio", "completed", "r1"),
                                                  record("slice_audio", "completed", "r2")]}  # fmt: skip
        store.update_status("ns", task_id, TrainingTaskStatus.model_validate(status))
        worker.run_once()
        assert reads == [task_id]
        assert outcomes == ["delivered", "delivered"]
        assert json.loads(hooks.received[-1][1])["step"] == "slice_audio"
    finally:
        hooks.close()
