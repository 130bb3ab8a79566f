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

import logging
import os
import shutil
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

from sovits_core import contract, dataset_store, storage
from sovits_core.errors import NotFound
from sovits_core.launch import StepLaunch, step_env
from sovits_core.model import TrainingTask, TrainingTaskStatus
from sovits_core.processes import stop_group
from sovits_core.progress import read_progress
from sovits_core.reconcile import CreateJob, DeleteJob, ExpireJob, ObservedJob, RecordEvent, reconcile
from sovits_core.settings import Settings
from sovits_core.storage import task_prefix

from .jobs import LocalJobs, Shard

log = logging.getLogger(__name__)

INTERRUPTED = "interrupted: sovits local stopped while this step ran; it runs again"
KILL_GRACE_S = 10.0


class LocalTaskStore(Protocol):
    """What the runtime needs of the task store (``sovits_local.store.SqliteTaskStore``)."""

    def list_all(self, namespace: str) -> Sequence[TrainingTask]: ...

    def update_status(self, namespace: str, task_id: str, status: TrainingTaskStatus) -> TrainingTask: ...

    def deleted(self) -> Sequence[TrainingTask]: ...

    def forget(self, namespace: str, task_id: str) -> None: ...


def observe(shards: Iterable[Shard], running: int, max_parallel: int) -> list[ObservedJob]:
    """One ObservedJob per Job name from its shard rows (pure)."""
    by_job: dict[str, list[Shard]] = {}
    for shard in shards:
        by_job.setdefault(shard.job, []).append(shard)
    observed = []
    for name, rows in by_job.items():
        failed = [r for r in rows if r.state == "failed"]
        interrupted = [r for r in rows if r.state == "interrupted"]
        if failed or interrupted:
            # The step's own failure wins over our interruption, bad input over the rest.
            worst = next((r for r in failed if r.exit_code == contract.EXIT_BAD_INPUT), (failed or interrupted)[0])
            observed.append(
                ObservedJob(name=name, state="failed", finished_at=_ts(worst.finished_at),
                            exit_code=worst.exit_code, message=worst.message, interrupted=not failed)
            )  # fmt: skip
        elif all(r.state == "succeeded" for r in rows):
            result = next((r.message for r in rows if r.message), None)
            observed.append(
                ObservedJob(name=name, state="succeeded", finished_at=_ts(max_finished(rows)), result=result)
            )
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


def exit_status(returncode: int, message: str) -> tuple[int, str]:
    """A child's exit as a container runtime reports it: killed by signal N is 128 + N."""
    if returncode >= 0:
        return returncode, message or f"exit code {returncode}"
    try:
        name = signal.Signals(-returncode).name
    except ValueError:
        name = f"signal {-returncode}"
    return 128 - returncode, message or f"killed by {name} from outside sovits local (the OOM killer sends SIGKILL)"


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
        # Held while reaping; stop() sets _stop under it, so a child stopped by our own
        # shutdown is never recorded as the step's failure (recover() calls it interrupted).
        self._reaping = threading.Lock()
        self._wake = threading.Event()

    # -- lifecycle -------------------------------------------------------------------------

    def recover(self) -> None:
        """After a restart, before anything else runs: shards that were running are orphans now;
        stop them and report them interrupted. Then remove what writes cut short left in the
        store's temporary folder (an upload or a step killed mid-write)."""
        for shard in self.jobs.all():
            if shard.state != "running":
                continue
            if shard.pid and _process_start(shard.pid) == shard.pid_started:
                _kill_group(shard.pid)
            self.jobs.interrupted(shard, INTERRUPTED, time.time())
            log.warning("%s shard %d of task %s was interrupted; it runs again", shard.job, shard.shard, shard.task)
        if isinstance(self.objects, storage.LocalObjectStore) and (removed := self.objects.remove_partial_writes()):
            log.info("removed %d partial writes left by the last run", removed)

    def run_forever(self, interval: float = 0.5) -> None:
        """Reconcile until ``stop``; call ``recover`` first, before the API serves."""
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:
                log.exception("local runtime pass failed; trying again")
            self._wake.wait(interval)
            self._wake.clear()

    def stop(self) -> None:
        """Stop the loop; running steps are killed and will run again on the next start."""
        with self._reaping:
            self._stop.set()
        self._wake.set()
        for child in list(self.children.values()):
            _terminate(child.proc)

    # -- one pass --------------------------------------------------------------------------

    def tick(self) -> None:
        self._reap()
        seen: set[tuple[str, str]] = set()
        rows = self.jobs.all()
        for namespace in self.namespaces:
            for task in self.tasks.list_all(namespace):
                seen.add((namespace, task.metadata.name))
                mine = [r for r in rows if r.namespace == namespace and r.task == task.metadata.name]
                self._reconcile(task, mine, rows)
        for row in rows:
            if (row.namespace, row.task) not in seen:
                self._delete_job(row.namespace, row.job)
        self._start_queued()
        self._purge_deleted()

    def _purge_deleted(self) -> None:
        """What the operator's finalizer does in a cluster: nothing of a deleted task remains.

        Last in a pass, so a step started in this pass for a task deleted meanwhile is stopped
        too; the task store keeps the deletion until this is done, across crashes.
        """
        for task in self.tasks.deleted():
            name = task.metadata.name
            namespace = task.metadata.namespace or self.namespaces[0]
            for job in {r.job for r in self.jobs.all() if r.namespace == namespace and r.task == name}:
                self._delete_job(namespace, job)
            if self.settings.operator.delete_storage_on_delete:
                self.objects.delete_prefix(task_prefix(task, self.settings))
            shutil.rmtree(self.runs / name, ignore_errors=True)
            self.tasks.forget(namespace, name)
            log.info("task %s deleted: its files, logs and processes are gone", name)

    def _reconcile(self, task: TrainingTask, mine: list[Shard], rows: list[Shard]) -> None:
        running = sum(1 for r in rows if r.state == "running")
        observed = observe(mine, running, self.max_parallel)
        now = datetime.now(UTC)
        outcome = reconcile(task, observed, now, self.settings.operator, self._progress(task))
        files = storage.TaskFiles(self.objects, task_prefix(task, self.settings))
        dataset_store.refresh_summary(outcome.status, files, task.metadata.name)
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
            elif isinstance(action, RecordEvent):
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
        argv = [python, "-m", "sovits_cli.main", "step", row.launch.step, "--task", row.task]
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
        """Record children that ended. Those we killed for a cancel or delete are no longer in
        ``children``; any other signal came from outside (the OOM killer): a failed attempt."""
        with self._reaping:
            if self._stop.is_set():
                return
            for key, child in list(self.children.items()):
                code = child.proc.poll()
                if code is None:
                    continue
                del self.children[key]
                message = ""
                if child.termination.exists():
                    message = child.termination.read_text(errors="replace").strip()[:4096]
                self.jobs.finished(child.shard, *exit_status(code, message), time.time())

    def _delete_job(self, namespace: str, job: str) -> None:
        for key, child in list(self.children.items()):
            if key[0] == namespace and key[1] == job:
                _terminate(child.proc)
                del self.children[key]
        self.jobs.delete_job(namespace, job)
        log.info("deleted %s and its processes", job)


def _terminate(proc: subprocess.Popen[bytes]) -> None:
    """Stop our child's whole process group: whatever the step started goes with it."""
    stop_group(proc.pid, KILL_GRACE_S, leader=proc)


def _kill_group(pid: int) -> None:
    """Stop a process group that is not our child (an orphan of an earlier run)."""
    stop_group(pid, KILL_GRACE_S)
