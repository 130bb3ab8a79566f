"""The local runtime's Jobs: one row per shard process, kept in SQLite beside the task store.

What a Job is to the operator (an object the API server keeps), a row is to ``sovits local``:
it outlives the process that started it, so a restarted ``sovits local`` knows which steps
were running when it died and can report them interrupted instead of forgetting them.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sovits_core import contract
from sovits_core.launch import StepLaunch

from . import sqlite

# "interrupted": running when sovits local stopped or died; not the step's own failure.
ShardState = Literal["queued", "running", "succeeded", "failed", "interrupted"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS shards (
    namespace TEXT NOT NULL,
    task TEXT NOT NULL,
    job TEXT NOT NULL,
    shard INTEGER NOT NULL,
    launch TEXT NOT NULL,
    state TEXT NOT NULL,
    pid INTEGER,
    pid_started TEXT,
    exit_code INTEGER,
    message TEXT,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    PRIMARY KEY (namespace, job, shard)
);
"""


@dataclass(frozen=True)
class Shard:
    namespace: str
    task: str
    job: str
    shard: int
    launch: StepLaunch
    state: ShardState
    pid: int | None
    pid_started: str | None
    exit_code: int | None
    message: str | None
    created_at: float
    started_at: float | None
    finished_at: float | None


def _launch_json(launch: StepLaunch) -> str:
    return json.dumps(launch.__dict__, sort_keys=True)


def _launch(text: str) -> StepLaunch:
    return StepLaunch(**json.loads(text))


class LocalJobs:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._lock = threading.Lock()

    @classmethod
    def open(cls, path: Path) -> LocalJobs:
        return cls(sqlite.connect(path, _SCHEMA))

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def _tx(self) -> AbstractContextManager[sqlite3.Connection]:
        return sqlite.transaction(self._conn, self._lock)

    def create(self, namespace: str, task: str, launch: StepLaunch, now: float) -> bool:
        """Queue every shard of ``launch``; False when the Job already exists (a repeated create)."""
        with self._tx() as conn:
            exists = conn.execute(
                "SELECT 1 FROM shards WHERE namespace=? AND job=?", (namespace, launch.job_name)
            ).fetchone()
            if exists:
                return False
            conn.executemany(
                "INSERT INTO shards (namespace, task, job, shard, launch, state, created_at) VALUES (?,?,?,?,?,?,?)",
                [
                    (namespace, task, launch.job_name, i, _launch_json(launch), "queued", now)
                    for i in range(launch.shards)
                ],
            )
        return True

    def started(self, shard: Shard, pid: int, pid_started: str, now: float) -> None:
        with self._tx() as conn:
            conn.execute(
                "UPDATE shards SET state='running', pid=?, pid_started=?, started_at=? "
                "WHERE namespace=? AND job=? AND shard=?",
                (pid, pid_started, now, shard.namespace, shard.job, shard.shard),
            )

    def finished(self, shard: Shard, exit_code: int, message: str, now: float) -> None:
        state: ShardState = "succeeded" if exit_code == 0 else "failed"
        with self._tx() as conn:
            conn.execute(
                "UPDATE shards SET state=?, exit_code=?, message=?, finished_at=? "
                "WHERE namespace=? AND job=? AND shard=?",
                (state, exit_code, message, now, shard.namespace, shard.job, shard.shard),
            )

    def interrupted(self, shard: Shard, message: str, now: float) -> None:
        with self._tx() as conn:
            conn.execute(
                "UPDATE shards SET state='interrupted', exit_code=?, message=?, finished_at=? "
                "WHERE namespace=? AND job=? AND shard=?",
                (contract.EXIT_RETRYABLE, message, now, shard.namespace, shard.job, shard.shard),
            )

    def delete_job(self, namespace: str, job: str) -> None:
        with self._tx() as conn:
            conn.execute("DELETE FROM shards WHERE namespace=? AND job=?", (namespace, job))

    def all(self) -> list[Shard]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT namespace, task, job, shard, launch, state, pid, pid_started, exit_code, message, "
                "created_at, started_at, finished_at FROM shards ORDER BY created_at, job, shard"
            ).fetchall()
        return [
            Shard(r[0], r[1], r[2], r[3], _launch(r[4]), r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12])
            for r in rows
        ]
