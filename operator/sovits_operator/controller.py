"""Runs reconcile for one task at a time and carries out what it decides.

Every trigger (a task change, a Job or pod event, the progress timer, a requeue) ends in
``Controller.reconcile``: take the newest task body seen (read fresh only when none is kept,
see latest.py), observe its Jobs from the watch caches, call the pure ``reconcile``, write
the status, then act. Status is written before any Job is created, so a restarted operator
finds every Job it may have created named in the status. Triggers for a task that already
has a pass waiting are dropped: that pass sees their news; so are Job events that change
nothing reconcile reads (a pod started, a count went up), and events of Jobs whose outcome
the status already holds (finished, TTL set): that is history. Job and pod news comes from the
operator's own watches (watches.py), whose first list replays none.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from sovits_core import dataset_store
from sovits_core.errors import SovitsError
from sovits_core.model import TrainingTask, TrainingTaskStatus
from sovits_core.progress import read_progress
from sovits_core.reconcile import (
    CreateJob,
    DeleteJob,
    ExpireJob,
    ObservedJob,
    Outcome,
    RecordEvent,
    RequeueAfter,
    at_rest,
    reconcile,
)
from sovits_core.settings import Settings
from sovits_core.storage import TaskFiles, task_prefix
from sovits_kube.client import KubeCalls, status_patch
from sovits_kube.latest import Key, Latest, key_of

from . import metrics
from .jobs import Labels, build_job, ttl_patch
from .observe import JOB_NAME_LABELS, is_complete, is_recorded, is_unschedulable, observe_job, prune_job, prune_pod
from .watches import Kept

log = logging.getLogger(__name__)

# A pass that recorded something runs again at once: it sets TTLs on Jobs whose outcome the
# status now holds, and picks up what the recording unlocked. Bounded, in case of flapping.
MAX_PASSES = 3

Index = Mapping[Any, Iterable[dict[str, Any]]]
EventPoster = Callable[[dict[str, Any], str, str, str], None]


def now() -> datetime:
    return datetime.now(UTC)


def decision_line(namespace: str, name: str, event: RecordEvent) -> str:
    """The log line of one decision: ``ns/task step=... attempt=... Reason: message``."""
    where = [f"{namespace}/{name}"]
    if event.step is not None:
        where.append(f"step={event.step}")
    if event.attempt is not None:
        where.append(f"attempt={event.attempt}")
    return f"{' '.join(where)} {event.reason}: {event.message}"


def progress_moved(status: Mapping[str, Any], step: str, reported: float | None) -> bool:
    """Whether a step's own report moves its recorded progress (reconcile keeps the higher of
    the two): only then can a pass change anything."""
    if reported is None:
        return False
    record = next((r for r in reversed(status.get("steps") or []) if r.get("name") == step), None)
    return record is None or float(reported) > float(record.get("progress") or 0.0)


def running_steps(bodies: Iterable[tuple[Key, Mapping[str, Any]]]) -> list[tuple[Key, str]]:
    """The tasks whose status says a step is running, with that step."""
    found = []
    for key, body in bodies:
        status = body.get("status") or {}
        if status.get("phase") == "running" and status.get("currentStep"):
            found.append((key, str(status["currentStep"])))
    return found


class Controller:
    def __init__(self, settings: Settings, kube: KubeCalls, post_event: EventPoster) -> None:
        self.settings = settings
        self.kube = kube
        self.post_event = post_event
        self.labels = Labels(settings.operator.annotation_prefix)
        self.jobs_index: Index = {}
        self.pods_index: Index = {}
        self.phases = metrics.Phases()
        self._names: dict[str, tuple[str, str]] = {}  # task uid -> (namespace, name)
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        # A burst (a thousand tasks created at once, or resumed) would otherwise hold every task's
        # parsed body, status copy and Job body at once while they queue for the API threads.
        self._slots = asyncio.Semaphore(settings.operator.parallel_passes)
        self._waiting: set[tuple[str, str]] = set()
        self._requeues: dict[tuple[str, str], asyncio.TimerHandle] = {}
        self._inflight: set[asyncio.Task[None]] = set()
        self._stores: dict[str, Any] = {}
        self.latest = Latest()
        self._jobs_seen: dict[Key, dict[str, Any]] = {}  # (namespace, Job name) -> what reconcile last read
        # Job creates and TTL patches done but not yet seen on the watch: a pass in between
        # would ask for them again (harmless, but a request per pass). An event of the Job
        # ends its entry, after the store has taken the event in; _act checks both.
        self._created: set[Key] = set()
        self._expired: set[Key] = set()
        # Pods read for a completed Job whose succeeded pod the stream had not brought (its lists
        # leave succeeded pods out: see watches.py), by (task uid, Job name); an entry, even an
        # empty one, means the Job's pods were read, so each Job is read once.
        self._read_pods: dict[tuple[str, str], list[dict[str, Any]]] = {}

    # -- triggers ------------------------------------------------------------------------

    def name_of(self, uid: str) -> tuple[str, str] | None:
        return self._names.get(uid)

    def task_seen(self, body: Mapping[str, Any], gone: bool) -> None:
        """A watch event of a task: keep its body for the next pass (forget it once gone)."""
        if gone:
            self.latest.drop(key_of(body))
        else:
            self.latest.watched(body)

    def job_seen(self, job: Kept, gone: bool) -> None:
        """News of a step Job from the operator's watch (on the loop): a pass for its task,
        unless nothing reconcile reads has changed (decided at once: no task per skipped event)."""
        if job.task is not None and self._job_news(job.namespace, job.task_uid, job.body, gone):
            self._spawn(self._pass_on_job(job.namespace, job.task, job.name), f"{job.namespace}/{job.task}")

    def pod_seen(self, pod: Kept, gone: bool) -> None:
        """News of a step pod (on the loop): a pass only while it cannot be placed."""
        found = self.name_of(pod.task_uid)
        if not gone and found is not None and is_unschedulable(pod.body):
            self._spawn(self.reconcile(*found), "/".join(found))

    def _spawn(self, work: Coroutine[Any, Any, None], what: str) -> None:
        task = asyncio.get_running_loop().create_task(self._logged(work, what))
        self._inflight.add(task)  # the loop keeps only weak references to tasks
        task.add_done_callback(self._inflight.discard)

    @staticmethod
    async def _logged(work: Coroutine[Any, Any, None], what: str) -> None:
        try:
            await work
        except Exception as exc:  # no handler around it to log (a Job's pass has requeued its task)
            log.warning("reconcile of %s failed: %s", what, exc)

    async def job_changed(self, namespace: str, task: str, job: Mapping[str, Any], gone: bool) -> None:
        """Reconcile ``task`` on news of its ``job``, unless nothing reconcile reads has changed."""
        uid = str((job["metadata"].get("labels") or {}).get(self.labels.task_uid) or "")
        if self._job_news(namespace, uid, job, gone):
            await self._pass_on_job(namespace, task, str(job["metadata"]["name"]))

    def _job_news(self, namespace: str, uid: str, job: Mapping[str, Any], gone: bool) -> bool:
        """Whether a Job event can change a decision (and the bookkeeping of what was seen)."""
        key = (namespace, str(job["metadata"]["name"]))
        self._created.discard(key)
        seen = prune_job(job)
        # Gone after this operator's TTL patch: its recorded label took it out of the watch's
        # selector (the event carries the Job as it was before), or it was deleted since.
        expired_here = gone and key in self._expired
        if gone or seen["spec"]["ttlSecondsAfterFinished"] is not None:
            self._expired.discard(key)
        if gone:
            self._read_pods.pop((uid, key[1]), None)
        if gone or is_recorded(seen):
            self._jobs_seen.pop(key, None)
            # A recorded Job is history: the status holds its outcome.
            return not (is_recorded(seen) or expired_here)
        if self._jobs_seen.get(key) == seen:
            return False
        self._jobs_seen[key] = seen
        return True

    async def _pass_on_job(self, namespace: str, task: str, job: str) -> None:
        try:
            await self.reconcile(namespace, task)
        except Exception:
            # Nothing retries a watch event, and a repeat of this event would be skipped.
            self._jobs_seen.pop((namespace, job), None)
            self.requeue(namespace, task, 5.0)
            raise

    async def reconcile(
        self,
        namespace: str,
        name: str,
        progress: Mapping[str, float] | None = None,
        listed: dict[str, Any] | None = None,
    ) -> None:
        """One pass (or a few, see MAX_PASSES) for the task. ``listed`` is a body as fresh as a
        read, used when none is kept (kopf's listing at start-up) instead of reading the task."""
        key = (namespace, name)
        if key in self._waiting and not progress:
            return
        self._waiting.add(key)
        lock = self._locks.setdefault(key, asyncio.Lock())
        try:
            async with lock, self._slots:
                self._waiting.discard(key)  # triggers while waiting for a slot are taken in by this pass
                await self._timed(namespace, name, progress, listed)
        finally:
            self._waiting.discard(key)

    async def _timed(
        self, namespace: str, name: str, progress: Mapping[str, float] | None, listed: dict[str, Any] | None
    ) -> None:
        started = time.perf_counter()
        try:
            rested = await self._passes(namespace, name, progress, listed)
        except SovitsError as exc:
            metrics.RECONCILES.labels("error").inc()
            metrics.ERRORS.labels(exc.code).inc()
            raise
        except Exception:
            metrics.RECONCILES.labels("error").inc()
            metrics.ERRORS.labels("internal").inc()
            raise
        else:
            metrics.RECONCILES.labels("skipped" if rested else "ok").inc()
        finally:
            metrics.RECONCILE_SECONDS.observe(time.perf_counter() - started)

    def requeue(self, namespace: str, name: str, seconds: float) -> None:
        """Reconcile again after ``seconds``; an earlier pending requeue wins."""
        key = (namespace, name)
        loop = asyncio.get_running_loop()
        pending = self._requeues.get(key)
        due = loop.time() + seconds
        if pending is not None and not pending.cancelled() and pending.when() <= due:
            return
        if pending is not None:
            pending.cancel()
        self._requeues[key] = loop.call_at(due, self._fire, namespace, name)

    def _fire(self, namespace: str, name: str) -> None:
        self._requeues.pop((namespace, name), None)
        self._spawn(self._requeued(namespace, name), f"{namespace}/{name}")

    async def _requeued(self, namespace: str, name: str) -> None:
        try:
            await self.reconcile(namespace, name)
        except Exception as exc:  # nothing around us retries: try again later ourselves
            log.warning("requeued reconcile of %s/%s failed: %s", namespace, name, exc)
            self.requeue(namespace, name, 5.0)

    def forget(self, namespace: str, name: str, uid: str | None) -> None:
        key = (namespace, name)
        pending = self._requeues.pop(key, None)
        if pending is not None:
            pending.cancel()
        self._locks.pop(key, None)
        self.latest.drop(key)
        if uid:
            for read in [k for k in self._read_pods if k[0] == uid]:
                del self._read_pods[read]
            self._names.pop(uid, None)
            self.phases.forget(uid)

    # -- one reconcile -------------------------------------------------------------------

    async def _passes(
        self, namespace: str, name: str, progress: Mapping[str, float] | None, listed: dict[str, Any] | None
    ) -> bool:
        """Whether the task was at rest (``at_rest``: a finished task, the bulk of those a restarted
        operator resumes), so no pass ran."""
        key = (namespace, name)
        raw = self.latest.get(key) or listed
        if raw is None:
            raw = await self.kube.get_task(namespace, name)
            if raw is not None and not raw["metadata"].get("deletionTimestamp"):
                self.latest.answered(raw)
        for passes in range(MAX_PASSES):
            if raw is None or raw["metadata"].get("deletionTimestamp"):
                return False
            task = self._parse(raw)
            if task is None:
                return False
            uid = task.metadata.uid or ""
            self._names[uid] = (namespace, name)
            if at_rest(task, self.observed(uid)) and dataset_store.summary_due(task.status) is None:
                self.phases.set(uid, task.status.phase)
                return passes == 0
            await self._read_missing_pods(namespace, uid)
            outcome = reconcile(task, self.observed(uid), now(), self.settings.operator, progress)
            if dataset_store.summary_due(outcome.status):
                await asyncio.to_thread(self.refresh_dataset, task, outcome.status)
            old, new = task.status.wire(), outcome.status.wire()
            if old != new:
                try:
                    raw = await self.kube.patch_task_status(namespace, name, status_patch(old, new))
                except Exception:
                    self.latest.drop(key)  # the write may or may not have landed: read fresh next time
                    raise
                self.latest.answered(raw)
            await self._act(task, raw, outcome)
            self.phases.set(uid, outcome.status.phase)
            if old == new:
                return False
        return False

    def _parse(self, raw: dict[str, Any]) -> TrainingTask | None:
        try:
            return TrainingTask.model_validate(raw)
        except ValidationError as exc:
            # The CRD schema should make this impossible; say so on the object rather than loop.
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            self.post_event(raw, "Warning", "InvalidTask", f"{where}: {first['msg']}")
            metrics.ERRORS.labels("invalid_input").inc()
            return None

    def observed(self, uid: str) -> list[ObservedJob]:
        jobs = list(self.jobs_index.get(uid, ()))
        if not jobs:
            return []
        by_name = {p.get("name"): p for p in self.pods_index.get(uid, ())}
        for job in jobs:
            for read in self._read_pods.get((uid, job["metadata"]["name"]), ()):
                held = by_name.get(read.get("name"))
                if held is None or (held.get("phase") != "Succeeded" and read.get("phase") == "Succeeded"):
                    by_name[read.get("name")] = read  # the stream has not brought its success yet
        return [observe_job(job, list(by_name.values())) for job in jobs]

    async def _read_missing_pods(self, namespace: str, uid: str) -> None:
        """Read the pods of a Job that completed without a succeeded pod in the store, once: the
        succeeded pod's termination message is the step's result. The pod stream's lists leave
        succeeded pods out (the bulk of retained history), so a Job that completed while the
        operator was away is the usual case; the Job stream bringing Complete before the pod
        stream brings the pod's success is the other."""
        held = {p.get("job") for p in self.pods_index.get(uid, ()) if p.get("phase") == "Succeeded"}
        for job in self.jobs_index.get(uid, ()):
            name = str(job["metadata"]["name"])
            if name in held or (uid, name) in self._read_pods or not is_complete(job):
                continue
            self._read_pods[(uid, name)] = []  # once, whatever the answer
            pods = await self.kube.list_pods(namespace, f"{JOB_NAME_LABELS[0]}={name}")
            self._read_pods[(uid, name)] = [prune_pod(pod) for pod in pods]

    def _indexed_job(self, uid: str, name: str) -> Mapping[str, Any] | None:
        """The Job as the store holds it now (it may have moved on since the pass observed it)."""
        return next((job for job in self.jobs_index.get(uid, ()) if job["metadata"]["name"] == name), None)

    async def _act(self, task: TrainingTask, raw: dict[str, Any], outcome: Outcome) -> None:
        namespace, uid = task.metadata.namespace or "", task.metadata.uid or ""
        for action in outcome.actions:
            if isinstance(action, CreateJob):
                name = action.launch.job_name
                if (namespace, name) in self._created or self._indexed_job(uid, name) is not None:
                    continue
                body = build_job(task, action.launch, self.settings)
                # Noted before the request: the watch may bring its news before its answer.
                self._created.add((namespace, name))
                try:
                    if await self.kube.create_job(namespace, body):
                        metrics.JOBS_CREATED.labels(action.launch.step).inc()
                except BaseException as exc:
                    self._created.discard((namespace, name))
                    if isinstance(exc, SovitsError):
                        self.post_event(raw, "Warning", "JobCreateFailed", f"Job {name}: {exc.message}")
                    raise
            elif isinstance(action, DeleteJob):
                await self.kube.delete_job(namespace, action.name)
            elif isinstance(action, ExpireJob):
                indexed = self._indexed_job(uid, action.name)
                if (namespace, action.name) in self._expired or (
                    indexed is not None and indexed["spec"]["ttlSecondsAfterFinished"] is not None
                ):
                    continue
                self._expired.add((namespace, action.name))  # before the request, as above
                try:
                    await self.kube.patch_job(namespace, action.name, ttl_patch(action.ttl_s, self.labels))
                except BaseException:
                    self._expired.discard((namespace, action.name))
                    raise
            elif isinstance(action, RecordEvent):
                log.info("%s", decision_line(namespace, task.metadata.name, action))
                self.post_event(raw, action.type, action.reason, action.message)
            elif isinstance(action, RequeueAfter):
                self.requeue(namespace, task.metadata.name, action.seconds)

    # -- progress: one timer for every running task ----------------------------------------

    async def progress_timer(self, interval: float) -> None:
        """Every ``interval``, each running step's own report; runs until cancelled. One timer
        for all tasks: kopf's timer per task cost a task, a body parse and a pass per interval
        each, reported progress or not."""
        while True:
            await asyncio.sleep(interval)
            try:
                await self.progress_sweep()
            except Exception as exc:  # a sweep that failed must not end the timer
                log.warning("progress sweep failed: %s", exc)

    async def progress_sweep(self) -> None:
        """Read the progress of every running step at once (in threads); a pass for each task
        whose report moved its recorded progress, and no pass for the others."""
        due = running_steps(self.latest.items())
        await asyncio.gather(*(self._progress_of(namespace, name, step) for (namespace, name), step in due))

    async def _progress_of(self, namespace: str, name: str, step: str) -> None:
        raw = self.latest.get((namespace, name))
        if raw is None:
            return
        task = self._parse(raw)
        if task is None:
            return
        try:
            reported = await asyncio.to_thread(self.read_progress, task, step)
        except Exception as exc:  # a store that does not answer only delays the figure
            log.info("progress of %s/%s not read: %s", namespace, name, exc)
            return
        if progress_moved(raw.get("status") or {}, step, reported):
            await self._logged(self.reconcile(namespace, name, {step: reported or 0.0}), f"{namespace}/{name}")

    # -- storage: progress and cleanup -------------------------------------------------------

    def _open_store(self, task: TrainingTask) -> Any:
        """The store of the task's bucket (the spec may name its own); clients are kept per bucket."""
        from sovits_core import storage

        bucket = task.spec.storage.bucket or self.settings.storage.bucket
        if bucket not in self._stores:
            self._stores[bucket] = storage.open_store(self.settings.storage.model_copy(update={"bucket": bucket}))
        return self._stores[bucket]

    def refresh_dataset(self, task: TrainingTask, status: TrainingTaskStatus) -> None:
        """The dataset summary into ``status`` (blocking); a store that does not answer only delays it."""
        files = TaskFiles(self._open_store(task), task_prefix(task, self.settings))
        dataset_store.refresh_summary(status, files, task.metadata.name)

    def read_progress(self, task: TrainingTask, step: str) -> float | None:
        """The running step's own report (blocking: call from a thread)."""
        return read_progress(self._open_store(task), task_prefix(task, self.settings), step)

    async def delete_storage(self, raw: dict[str, Any]) -> None:
        """Delete the task's prefix with bounded retries; give up with an Event, never hang."""
        task = TrainingTask.model_validate(raw)
        prefix = task_prefix(task, self.settings)
        attempts = self.settings.operator.storage_cleanup_attempts
        error: Exception | None = None
        for attempt in range(attempts):
            try:
                store = self._open_store(task)
                await asyncio.wait_for(asyncio.to_thread(store.delete_prefix, prefix), timeout=30)
                return
            except (SovitsError, ImportError, TimeoutError, OSError) as exc:
                error = exc
                if attempt + 1 < attempts:
                    await asyncio.sleep(min(2.0**attempt, 10.0))
        metrics.ERRORS.labels("storage_unavailable").inc()
        self.post_event(raw, "Warning", "StorageCleanupFailed",
                        f"gave up deleting {prefix} after {attempts} attempts: {error}")  # fmt: skip

    async def delete_jobs(self, namespace: str, uid: str) -> None:
        await self.kube.delete_jobs(namespace, f"{self.labels.task_uid}={uid}")
