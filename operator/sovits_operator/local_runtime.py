"""The local runtime: the operator's reconcile, carried out with child processes instead of Jobs.

Each pass reads every task from the task store, turns the shard rows of ``local_jobs`` into
the same ``ObservedJob`` the operator builds from Jobs and pods, calls ``reconcile``, writes
the status it returns, and carries out its actions: ``CreateJob`` queues one row per shard,
``DeleteJob`` kills the shards' process groups, ``ExpireJob`` forgets finished rows. Queued
shards start while fewer than ``max_parallel`` run (the seed's ``gpu.max_parallel``); the rest
wait, and reconcile reports them through the same ``Unschedulable`` condition a cluster uses.

A shard is ``sovits step NAME --task ID`` in its own session (so a cancel kills the whole
tree), with the environment the Job builder gives a pod, storage keys filled in from the
runtime's own settings, and ``CUDA_VISIBLE_DEVICES`` from the task's ``gpu.devices``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from . import contract, storage
from .errors import NotFound
from .jobs import StepLaunch, step_env, task_prefix
from .local_jobs import LocalJobs, Shard
from .model import TrainingTask, TrainingTaskStatus
from .progress import read_progress
from .reconcile import CreateJob, DeleteJob, Event, ExpireJob, ObservedJob, reconcile
from .settings import Settings

log = logging.getLogger(__name__)

INTERRUPTED = "interrupted: sovits local stopped while this step ran; it runs again"
KILL_GRACE_S = 10.0


class LocalTaskStore(Protocol):
    """What the runtime needs of the task store (``sovits_api.local_store.SqliteTaskStore``)."""

    def list_all(self, namespace: str) -> Sequence[TrainingTask]: ...

    def update_status(self, namespace: str, task_id: str, status: TrainingTaskStatus) -> TrainingTask: ...


def observe(shards: Iterable[Shard], running: int, max_parallel: int) -> list[ObservedJob]:
    """One ObservedJob per Job name from its shard rows (pure)."""
    by_job: dict[str, list[Shard]] = {}
    for shard in shards:
        by_job.setdefault(shard.job, []).append(shard)
    observed = []
    for name, rows in by_job.items():
        failed = [r for r in rows if r.state == "failed"]
        if failed:
            worst = next((r for r in failed if r.exit_code == contract.EXIT_BAD_INPUT), failed[0])
            observed.append(
                ObservedJob(name=name, state="failed", finished_at=_ts(worst.finished_at),
                            exit_code=worst.exit_code, message=worst.message)
            )  # fmt: skip
        elif all(r.state == "succeeded" for r in rows):
            observed.append(ObservedJob(name=name, state="succeeded", finished_at=_ts(max_finished(rows))))
        elif all(r.state == "queued" for r in rows):
            waiting = f"waiting for a free slot: {running} of --max-parallel {max_parallel} steps running"
            observed.append(
                ObservedJob(name=name, state="active", unschedulable_since=_ts(min(r.created_at for r in rows)),
                            unschedulable_message=waiting)
            )  # fmt: skip
        else:
            observed.append(ObservedJob(name=name, state="active"))
    return observed


def max_finished(rows: Sequence[Shard]) -> float | None:
    stamps = [r.finished_at for r in rows if r.finished_at is not None]
    return max(stamps) if stamps else None


def cuda_devices(launch: StepLaunch, shard: int, devices: Sequence[int]) -> str:
    """Which GPUs a shard sees: one per shard round-robin, all of them for a whole-step GPU job."""
    if launch.gpus_per_pod <= 0 or not devices:
        return ""
    if launch.shards > 1:
        return str(devices[shard % len(devices)])
    return ",".join(str(d) for d in devices[: max(launch.gpus_per_pod, 1)])


def parse_devices(text: str) -> list[int]:
    """The seed's ``gpu_id`` spelling: ``"0-1-2"``."""
    return [int(part) for part in text.split("-") if part.strip().isdigit()]


def _ts(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value is not None else None


def _process_start(pid: int) -> str | None:
    """The kernel's start time of ``pid``: tells our child from a later process reusing its pid."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


@dataclass
class _Child:
    shard: Shard
    proc: subprocess.Popen[bytes]
    termination: Path


class LocalRuntime:
    def __init__(
        self,
        tasks: LocalTaskStore,
        jobs: LocalJobs,
        settings: Settings,
        data_dir: Path,
        namespaces: Iterable[str],
        max_parallel: int,
    ) -> None:
        self.tasks = tasks
        self.jobs = jobs
        self.settings = settings
        self.runs = data_dir / "runs"
        self.namespaces = tuple(namespaces)
        self.max_parallel = max_parallel
        self.children: dict[tuple[str, str, int], _Child] = {}
        self.objects = storage.open_store(settings.storage)
        self._stop = threading.Event()
        self._wake = threading.Event()
        # Tasks (and their storage prefixes) of the last pass, to notice deletions.
        self._known: dict[tuple[str, str], str] = {}

    # -- lifecycle -------------------------------------------------------------------------

    def recover(self) -> None:
        """After a restart: shards that were running are orphans now; stop them, report them interrupted."""
        for shard in self.jobs.all():
            if shard.state != "running":
                continue
            if shard.pid and _process_start(shard.pid) == shard.pid_started:
                _kill_group(shard.pid)
            self.jobs.finished(shard, contract.EXIT_RETRYABLE, INTERRUPTED, time.time())
            log.warning("%s shard %d of task %s was interrupted; it runs again", shard.job, shard.shard, shard.task)

    def run_forever(self, interval: float = 0.5) -> None:
        self.recover()
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:
                log.exception("local runtime pass failed; trying again")
            self._wake.wait(interval)
            self._wake.clear()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        """Stop the loop; running steps are killed and will run again on the next start."""
        self._stop.set()
        self._wake.set()
        for child in list(self.children.values()):
            _terminate(child.proc)

    # -- one pass --------------------------------------------------------------------------

    def tick(self) -> None:
        self._reap()
        seen: dict[tuple[str, str], str] = {}
        rows = self.jobs.all()
        for namespace in self.namespaces:
            for task in self.tasks.list_all(namespace):
                seen[(namespace, task.metadata.name)] = task_prefix(task, self.settings)
                mine = [r for r in rows if r.namespace == namespace and r.task == task.metadata.name]
                self._reconcile(task, mine, rows)
        for row in rows:
            if (row.namespace, row.task) not in seen:
                self._delete_job(row.namespace, row.job)
        # What the operator's finalizer does in a cluster: a deleted task's files go with it.
        if self.settings.operator.delete_storage_on_delete:
            for key, prefix in self._known.items():
                if key not in seen:
                    self.objects.delete_prefix(prefix)
                    log.info("task %s deleted: removed %s", key[1], prefix)
        self._known = seen
        self._start_queued()

    def _reconcile(self, task: TrainingTask, mine: list[Shard], rows: list[Shard]) -> None:
        running = sum(1 for r in rows if r.state == "running")
        observed = observe(mine, running, self.max_parallel)
        now = datetime.now(UTC)
        outcome = reconcile(task, observed, now, self.settings.operator, self._progress(task))
        namespace = task.metadata.namespace or self.namespaces[0]
        if outcome.status != task.status:
            try:
                self.tasks.update_status(namespace, task.metadata.name, outcome.status)
            except NotFound:
                return  # deleted meanwhile; the next pass forgets its rows
        for action in outcome.actions:
            if isinstance(action, CreateJob):
                if self.jobs.create(namespace, task.metadata.name, action.launch, time.time()):
                    log.info("task %s: queued %s", task.metadata.name, action.launch.job_name)
            elif isinstance(action, DeleteJob):
                self._delete_job(namespace, action.name)
            elif isinstance(action, ExpireJob):
                self.jobs.delete_job(namespace, action.name)
            elif isinstance(action, Event):
                log.log(logging.WARNING if action.type == "Warning" else logging.INFO,
                        "task %s: %s: %s", task.metadata.name, action.reason, action.message)  # fmt: skip

    def _progress(self, task: TrainingTask) -> Mapping[str, float]:
        prefix = task_prefix(task, self.settings)
        running = (r.name for r in task.status.steps if r.phase == "running")
        reported = {step: read_progress(self.objects, prefix, step) for step in running}
        return {step: value for step, value in reported.items() if value is not None}

    # -- processes ------------------------------------------------------------------------

    def _start_queued(self) -> None:
        rows = self.jobs.all()
        running = sum(1 for r in rows if r.state == "running")
        for row in rows:
            if running >= self.max_parallel:
                return
            if row.state != "queued":
                continue
            try:
                task = next(t for t in self.tasks.list_all(row.namespace) if t.metadata.name == row.task)
            except StopIteration:
                continue
            self._spawn(task, row)
            running += 1

    def _spawn(self, task: TrainingTask, row: Shard) -> None:
        run_dir = self.runs / row.task / row.job / str(row.shard)
        run_dir.mkdir(parents=True, exist_ok=True)
        termination = run_dir / "termination-log"
        termination.unlink(missing_ok=True)
        env = self._env(task, row, termination)
        python = str(self.settings.paths.step_python or sys.executable)
        argv = [python, "-m", "sovits_operator.cli", "step", row.launch.step, "--task", row.task]
        with (run_dir / "output.log").open("ab") as out:
            proc = subprocess.Popen(
                argv, env=env, cwd=run_dir, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.children[(row.namespace, row.job, row.shard)] = _Child(row, proc, termination)
        self.jobs.started(row, proc.pid, _process_start(proc.pid) or "", time.time())
        log.info("task %s: started %s shard %d (pid %d)", row.task, row.job, row.shard, proc.pid)

    def _env(self, task: TrainingTask, row: Shard, termination: Path) -> dict[str, str]:
        env = dict(os.environ)
        secret_values = {
            "SOVITS_STORAGE__ACCESS_KEY_ID": self.settings.storage.access_key_id,
            "SOVITS_STORAGE__SECRET_ACCESS_KEY": self.settings.storage.secret_access_key,
        }
        for item in step_env(task, row.launch, self.settings):
            if "value" in item:
                env[item["name"]] = item["value"]
            elif (secret := secret_values.get(item["name"])) is not None:
                env[item["name"]] = secret.get_secret_value()
        env["SOVITS_STORAGE__LOCAL_ROOT"] = str(self.settings.storage.local_root)
        env[contract.ENV_SHARD_INDEX] = str(row.shard)
        env[contract.ENV_TERMINATION_LOG] = str(termination)
        devices = task.spec.gpu.devices or parse_devices(self.settings.gpu.default_device)
        env["CUDA_VISIBLE_DEVICES"] = cuda_devices(row.launch, row.shard, devices)
        return env

    def _reap(self) -> None:
        for key, child in list(self.children.items()):
            code = child.proc.poll()
            if code is None:
                continue
            del self.children[key]
            if code < 0:
                continue  # killed by us for a cancel or delete: its rows are gone already
            message = ""
            if child.termination.exists():
                message = child.termination.read_text(errors="replace").strip()[:4096]
            self.jobs.finished(child.shard, code, message or f"exit code {code}", time.time())

    def _delete_job(self, namespace: str, job: str) -> None:
        for key, child in list(self.children.items()):
            if key[0] == namespace and key[1] == job:
                _terminate(child.proc)
                del self.children[key]
        self.jobs.delete_job(namespace, job)
        log.info("deleted %s and its processes", job)


def _terminate(proc: subprocess.Popen[bytes]) -> None:
    """Stop our child's whole process group: SIGTERM, then SIGKILL after a grace period."""
    _signal_group(proc.pid, signal.SIGTERM)
    _signal_group(proc.pid, signal.SIGCONT)  # a stopped process acts on SIGTERM only once continued
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=KILL_GRACE_S)
    _signal_group(proc.pid, signal.SIGKILL)  # whatever the step started and left behind
    proc.wait()


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)


def _kill_group(pid: int) -> None:
    """Stop a process group that is not our child (an orphan of an earlier run)."""
    try:
        os.killpg(pid, signal.SIGTERM)
        os.killpg(pid, signal.SIGCONT)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + KILL_GRACE_S
    while time.monotonic() < deadline:
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
