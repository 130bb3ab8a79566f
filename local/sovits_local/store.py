"""The task store of ``sovits local``: TrainingTask objects in one SQLite file.

The objects are the same JSON a cluster would hold (metadata with uid, generation,
resourceVersion and creationTimestamp; spec; status), so the API's view and checks are the
same on both backends. Every read-modify-write runs in one ``BEGIN IMMEDIATE`` transaction
with ``synchronous=FULL`` in WAL mode: a crash leaves each task either before or after a
write, never half-written, and concurrent writers (the API and the local runtime, even in
separate processes) serialise on SQLite's lock.

``held`` (GET task on the event loop) reads through a connection of its own with no busy
timeout: in WAL mode a reader does not wait for writers, and when SQLite would make it wait
(a checkpoint's rare moment) it answers None at once and the caller reads in a thread. The
version it gives is the row's sequence number (a re-created task gets a new one) and its
resourceVersion.
"""

from __future__ import annotations

import base64
import functools
import json
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sovits_api import labels as label_syntax
from sovits_api import mutations
from sovits_api.store import Held, Mutation, Page
from sovits_core.errors import Conflict, InvalidInput, NotFound, Retryable
from sovits_core.model import StepRequest, TrainingTask, TrainingTaskSpec, TrainingTaskStatus

from . import sqlite

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    resource_version INTEGER NOT NULL,
    labels TEXT NOT NULL,
    object TEXT NOT NULL,
    UNIQUE (namespace, name)
);
CREATE TABLE IF NOT EXISTS store_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
-- Deleted tasks whose files and processes the local runtime has not removed yet: written in
-- the transaction that deletes the task, so a crash at any point leaves the work to be done.
CREATE TABLE IF NOT EXISTS deleted (
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    object TEXT NOT NULL,
    PRIMARY KEY (namespace, name)
);
"""


def _utcnow() -> datetime:
    return datetime.now(UTC)


class SqliteTaskStore:
    """A TaskStore over SQLite; open it with ``SqliteTaskStore.open(path)``."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        clock: Callable[[], datetime] = _utcnow,
        peek: Callable[[], sqlite3.Connection] | None = None,
    ) -> None:
        self._conn = conn
        self._lock = threading.Lock()
        self._clock = clock
        self._open_peek = peek
        self._peek: sqlite3.Connection | None = None
        self._peek_lock = threading.Lock()

    @classmethod
    def open(cls, path: Path, clock: Callable[[], datetime] = _utcnow) -> SqliteTaskStore:
        conn = sqlite.connect(path, _SCHEMA)
        row = conn.execute("SELECT value FROM store_meta WHERE key='schema'").fetchone()
        if row is None:
            conn.execute("INSERT OR IGNORE INTO store_meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
        elif int(row[0]) != SCHEMA_VERSION:
            raise RuntimeError(f"{path}: task store schema {row[0]}, this version reads {SCHEMA_VERSION}")
        return cls(conn, clock, peek=lambda: sqlite.connect_reader(path))

    def close(self) -> None:
        with self._lock:
            self._conn.close()
        with self._peek_lock:
            if self._peek is not None:
                self._peek.close()
                self._peek = None

    # TaskStore

    def create(self, namespace: str, task_id: str, spec: TrainingTaskSpec, labels: Mapping[str, str]) -> TrainingTask:
        now = self._clock()
        body: dict[str, Any] = {
            "metadata": {
                "name": task_id,
                "namespace": namespace,
                "uid": str(uuid.uuid4()),
                "generation": 1,
                "resourceVersion": "1",
                "creationTimestamp": now.isoformat(),
                "labels": dict(labels),
            },
            "spec": spec.wire(),
        }
        task = mutations.touched(TrainingTask.model_validate(body), now)
        with self._write() as conn:
            try:
                conn.execute(
                    "INSERT INTO tasks (namespace, name, resource_version, labels, object) VALUES (?,?,?,?,?)",
                    (namespace, task_id, 1, json.dumps(dict(labels)), json.dumps(task.wire())),
                )
            except sqlite3.IntegrityError:
                raise Conflict(f"task {task_id} already exists") from None
        return task

    def held(self, namespace: str, task_id: str) -> Held | None:
        if self._open_peek is None or not self._peek_lock.acquire(blocking=False):
            return None  # another thread is peeking: never wait on the loop
        try:
            if self._peek is None:
                self._peek = self._open_peek()
            rows = self._peek.execute(  # fetchall: the statement ends here, holding no snapshot
                "SELECT seq, resource_version, object FROM tasks WHERE namespace=? AND name=?", (namespace, task_id)
            ).fetchall()
        except sqlite3.Error:
            return None  # busy, or the file is unreadable: the thread's read says why
        finally:
            self._peek_lock.release()
        if not rows:
            return None
        seq, version, obj = rows[0]
        return Held(_version(seq, version), lambda: TrainingTask.model_validate_json(obj))

    def get(self, namespace: str, task_id: str) -> TrainingTask:
        with self._read() as conn:
            row = conn.execute("SELECT object FROM tasks WHERE namespace=? AND name=?", (namespace, task_id)).fetchone()
        if row is None:
            raise NotFound(f"task {task_id} not found", field="task_id")
        return TrainingTask.model_validate_json(row[0])

    def versions(self, namespace: str) -> Mapping[str, str] | None:
        with self._read() as conn:
            rows = conn.execute("SELECT name, seq, resource_version FROM tasks WHERE namespace=?", (namespace,))
            return {name: _version(seq, version) for name, seq, version in rows}

    def all_held(self, namespace: str, label_selector: str | None = None) -> list[tuple[str, Held]] | None:
        selector = label_syntax.parse_selector(label_selector or "")
        with self._read() as conn:
            rows = conn.execute(
                "SELECT name, seq, resource_version, labels, object FROM tasks WHERE namespace=? ORDER BY seq",
                (namespace,),
            ).fetchall()
        return [
            (name, Held(_version(seq, version), functools.partial(TrainingTask.model_validate_json, obj)))
            for name, seq, version, labels_json, obj in rows
            if label_syntax.matches(selector, json.loads(labels_json))
        ]

    def list(
        self,
        namespace: str,
        *,
        label_selector: str | None = None,
        limit: int | None = None,
        continue_token: str | None = None,
    ) -> Page:
        selector = label_syntax.parse_selector(label_selector or "")
        after = _decode_token(continue_token) if continue_token else 0
        items: list[TrainingTask] = []
        last_seq = after
        with self._read() as conn:
            rows = conn.execute(
                "SELECT seq, labels, object FROM tasks WHERE namespace=? AND seq>? ORDER BY seq",
                (namespace, after),
            )
            for seq, labels_json, obj in rows:
                if not label_syntax.matches(selector, json.loads(labels_json)):
                    continue
                if limit is not None and len(items) == limit:
                    return Page(items, _encode_token(last_seq))
                items.append(TrainingTask.model_validate_json(obj))
                last_seq = seq
        return Page(items, None)

    def append_step(self, namespace: str, task_id: str, request: StepRequest) -> TrainingTask:
        return self.update(namespace, task_id, lambda t: mutations.append_step(t, request, self._clock()))

    def cancel(self, namespace: str, task_id: str) -> TrainingTask:
        return self.update(namespace, task_id, lambda t: mutations.request_cancel(t, self._clock()))

    def delete(self, namespace: str, task_id: str) -> None:
        with self._write() as conn:
            row = conn.execute("SELECT object FROM tasks WHERE namespace=? AND name=?", (namespace, task_id)).fetchone()
            if row is None:
                raise NotFound(f"task {task_id} not found", field="task_id")
            conn.execute("DELETE FROM tasks WHERE namespace=? AND name=?", (namespace, task_id))
            conn.execute("INSERT OR REPLACE INTO deleted VALUES (?,?,?)", (namespace, task_id, row[0]))

    def annotate(self, namespace: str, task_id: str, values: Mapping[str, str]) -> TrainingTask:
        return self.update(namespace, task_id, lambda t: mutations.annotate(t, values))

    def ping(self) -> None:
        with self._read() as conn:
            conn.execute("SELECT 1").fetchone()

    def start(self) -> None:
        """Nothing runs in the background: every read is a query."""

    # Beyond the protocol: what the local runtime reads and writes.

    def list_all(self, namespace: str) -> Sequence[TrainingTask]:
        return self.list(namespace).items

    def deleted(self) -> Sequence[TrainingTask]:
        """Deleted tasks whose leftovers (files, processes, run folders) are still to be removed."""
        with self._read() as conn:
            rows = conn.execute("SELECT object FROM deleted ORDER BY namespace, name").fetchall()
        return [TrainingTask.model_validate_json(row[0]) for row in rows]

    def forget(self, namespace: str, task_id: str) -> None:
        """The deleted task's leftovers are gone."""
        with self._write() as conn:
            conn.execute("DELETE FROM deleted WHERE namespace=? AND name=?", (namespace, task_id))

    def update(self, namespace: str, task_id: str, mutate: Mutation) -> TrainingTask:
        """Apply ``mutate`` to the stored task in one transaction; errors it raises abort it."""
        with self._write() as conn:
            row = conn.execute(
                "SELECT resource_version, object FROM tasks WHERE namespace=? AND name=?",
                (namespace, task_id),
            ).fetchone()
            if row is None:
                raise NotFound(f"task {task_id} not found", field="task_id")
            version, obj = row
            old = TrainingTask.model_validate_json(obj)
            new = mutate(old)
            new = _bumped(old, new, version + 1)
            conn.execute(
                "UPDATE tasks SET resource_version=?, labels=?, object=? WHERE namespace=? AND name=?",
                (
                    version + 1,
                    json.dumps(new.metadata.labels),
                    json.dumps(new.wire()),
                    namespace,
                    task_id,
                ),
            )
        return new

    def update_status(self, namespace: str, task_id: str, status: TrainingTaskStatus) -> TrainingTask:
        """Replace the status, as the status subresource would (spec untouched)."""
        return self.update(namespace, task_id, lambda t: t.model_copy(update={"status": status}))

    # Connection handling

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock, _as_retryable():
            yield self._conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with _as_retryable(), sqlite.transaction(self._conn, self._lock) as conn:
            yield conn


def _version(seq: int, resource_version: int) -> str:
    """A ``Held`` version: the row's sequence number is new for a task created again under its name."""
    return f"{seq}/{resource_version}"


def _bumped(old: TrainingTask, new: TrainingTask, version: int) -> TrainingTask:
    """Kubernetes bookkeeping: resourceVersion on every write, generation on spec changes."""
    metadata = new.metadata.model_copy(deep=True)
    generation = old.metadata.generation or 1
    if new.spec != old.spec:
        generation += 1
    metadata.generation = generation
    metadata.resourceVersion = str(version)  # type: ignore[attr-defined]  # extra field of ObjectMeta
    return new.model_copy(update={"metadata": metadata})


@contextmanager
def _as_retryable() -> Iterator[None]:
    try:
        yield
    except sqlite3.OperationalError as exc:  # locked past the timeout, disk full, I/O error
        raise Retryable(f"task store unavailable: {exc}") from exc


def _encode_token(seq: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": seq}).encode()).decode().rstrip("=")


def _decode_token(token: str) -> int:
    try:
        padded = token + "=" * (-len(token) % 4)
        after = json.loads(base64.urlsafe_b64decode(padded.encode()))["after"]
        if not isinstance(after, int) or after < 0:
            raise ValueError(after)
    except (ValueError, KeyError, TypeError):
        raise InvalidInput("continue: not a continue token from this server", field="continue") from None
    return after
