"""What a TrainingTask needs next, decided from its spec, its status and its Jobs, without I/O.

``reconcile`` reads the clock only through ``now``; the kopf handlers and the local runtime feed
it observations and carry out the actions it returns, after writing the status it returns
(status first: a Job is only ever created for an attempt the status already names).

Bookkeeping. Status is the record of truth: a step is done when status says so, never because
a Job exists. ``status.steps`` holds one record per handled request, in the order handled, and
the newest record of a step is that step's state. Each entry of ``spec.steps`` is one request,
identified by its name, requestId and params (the record keeps a digest of the params): the
n-th of identical entries is handled once n records match it. So an edited entry (other params
or requestId) is a new request and runs, an entry repeated runs again, and an entry removed
undoes nothing; a user can tell from the manifest alone what will run. ``pipeline: full``
asks, under the request id ``pipeline``, for the first step not completed, unless it asked for
that step before: a failed or cancelled step stops the pipeline until that step is requested again.
When nothing is left to run the task is ``completed`` unless a requested step's newest record
is failed: then it stays ``failed``, whatever ran after.

A training step whose run ended with CUDA out of memory (the step's EXIT_OUT_OF_MEMORY) runs again
at once with half the batch size, recorded in its record's batchSize, using up no attempt; at
batch size 1 it fails. Steps without a batch size treat it as an ordinary failed attempt.

A failure or a cancel also records the requests waiting behind it as cancelled ("not run"),
so the task stops; a request added afterwards resumes it. Attempts are numbered per step
across the whole task, so a step run again never reuses an old Job's name.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import ValidationError

from sovits_core.launch import StepLaunch, job_name

from . import batching, contract
from .catalog import CATALOG, STEP_ORDER, StepName, missing_prerequisites
from .errors import InvalidInput, PrerequisiteMissing
from .model import (
    FINISHED_PHASES,
    Condition,
    Phase,
    QualityScore,
    StepRequest,
    StepStatus,
    TrainingTask,
    TrainingTaskSpec,
    TrainingTaskStatus,
)
from .params import StepParams
from .settings import OperatorSettings

PIPELINE_REQUEST = "pipeline"

READY = "Ready"
UNSCHEDULABLE = "Unschedulable"

# CamelCase reasons, shared by the Ready condition and the Events.
CREATED = "Created"
STEP_STARTED = "StepStarted"
STEP_RUNNING = "StepRunning"
STEP_RETRYING = "StepRetrying"
STEP_INTERRUPTED = "StepInterrupted"
ATTEMPT_FAILED = "AttemptFailed"
OUT_OF_MEMORY = "OutOfMemory"
STEP_COMPLETED = "StepCompleted"
COMPLETED = "Completed"
STEP_FAILED = "StepFailed"
BAD_INPUT = "BadInput"
INVALID_PARAMS = "InvalidParams"
PREREQUISITE_MISSING = "PrerequisiteMissing"
CANCELLED = "Cancelled"
POD_UNSCHEDULABLE = "PodUnschedulable"
WAITING_FOR_RESOURCES = "WaitingForResources"
SCHEDULED = "Scheduled"

JobState = Literal["active", "succeeded", "failed"]
EventType = Literal["Normal", "Warning"]


@dataclass(frozen=True)
class ObservedJob:
    """What the runtime saw of one Job of this task (and of its pods)."""

    name: str
    state: JobState
    finished_at: datetime | None = None
    exit_code: int | None = None
    # The failed pod's termination message, else the Job's failure condition message.
    message: str | None = None
    unschedulable_since: datetime | None = None
    # The scheduler's PodScheduled message, e.g. "0/6 nodes are available: ... nvidia.com/gpu."
    unschedulable_message: str | None = None
    deleting: bool = False
    ttl_set: bool = False
    # A succeeded Job's termination message: its summary and, after contract.RESULT_MARK, its result.
    result: str | None = None
    # Failed because our side stopped it (a restart of sovits local, an eviction, a
    # preemption), not because of the step: run again without using up an attempt.
    interrupted: bool = False

    @property
    def finished(self) -> bool:
        return self.state != "active"


@dataclass(frozen=True)
class CreateJob:
    launch: StepLaunch


@dataclass(frozen=True)
class DeleteJob:
    name: str


@dataclass(frozen=True)
class ExpireJob:
    """Set ttlSecondsAfterFinished: the Job's outcome is already in the recorded status."""

    name: str
    ttl_s: int


@dataclass(frozen=True)
class RecordEvent:
    """Record a Kubernetes Event on the task (the operator) or log it (the local runtime)."""

    type: EventType
    reason: str
    message: str
    # The step and attempt the decision concerns, for the operator's log line.
    step: str | None = None
    attempt: int | None = None


@dataclass(frozen=True)
class RequeueAfter:
    seconds: float


Action = CreateJob | DeleteJob | ExpireJob | RecordEvent | RequeueAfter


@dataclass(frozen=True)
class Outcome:
    status: TrainingTaskStatus
    actions: tuple[Action, ...]

    def of(self, kind: type[Any]) -> list[Any]:
        return [a for a in self.actions if isinstance(a, kind)]


def reconcile(
    task: TrainingTask,
    jobs: Sequence[ObservedJob],
    now: datetime,
    settings: OperatorSettings,
    progress: Mapping[str, float] | None = None,
) -> Outcome:
    """The new status of ``task`` and the actions that bring the world in line with it."""
    return _Pass(task, jobs, now, settings, progress or {}).run()


def at_rest(task: TrainingTask, jobs: Sequence[ObservedJob]) -> bool:
    """Whether a pass can change nothing: the task has finished, its status (conditions too) has
    seen the current spec, nothing waits for a pod, and no Job of it is left to observe (a Job
    whose outcome the status holds has TTL and label set and leaves the operator's store). At
    start-up every task is resumed, and finished ones are the bulk: this spares them a pass."""
    status, generation = task.status, task.metadata.generation
    return (
        status.phase in FINISHED_PHASES
        and not jobs
        and status.observed_generation == generation
        and _condition(status.conditions, READY) is not None
        and not _is_true(_condition(status.conditions, UNSCHEDULABLE))
        and all(c.observed_generation == generation for c in status.conditions)
    )


def params_digest(params: Mapping[str, Any]) -> str:
    """A request's params as written (key order aside): other params make another request."""
    text = json.dumps(params, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _match(free: list[StepStatus], request: StepRequest) -> StepStatus | None:
    """Take the record that handled ``request`` out of ``free``, if there is one."""
    candidates = [i for i, r in enumerate(free) if (r.name, r.request_id) == (request.name, request.request_id)]
    if not candidates:
        return None
    digest = params_digest(request.params)
    # Records written before digests existed handle a request with the same name and id.
    for wanted in (digest, None):
        for i in candidates:
            if free[i].params_digest == wanted:
                return free.pop(i)
    return None


def completed_steps(records: Sequence[StepStatus]) -> set[str]:
    """Steps whose newest record is completed."""
    latest = {r.name: r for r in records}
    return {name for name, r in latest.items() if r.phase == "completed"}


def pending_requests(spec: TrainingTaskSpec, records: Sequence[StepStatus]) -> list[StepRequest]:
    """Requests not yet handled, in order: the listed ones, then the pipeline's next step."""
    free = list(records)
    pending = [request for request in spec.steps if _match(free, request) is None]
    if spec.pipeline == "full":
        upcoming = [name for name in STEP_ORDER if name not in completed_steps(records)]
        asked = {r.name for r in records if r.request_id == PIPELINE_REQUEST}
        if upcoming and upcoming[0] not in asked:
            pending.append(StepRequest(name=upcoming[0], request_id=PIPELINE_REQUEST))
    return pending


def request_of(spec: TrainingTaskSpec, record: StepStatus) -> StepRequest | None:
    """The request a record handles; after an edit, the entry with the same name and requestId."""
    same = [r for r in spec.steps if (r.name, r.request_id) == (record.name, record.request_id)]
    exact = next((r for r in same if params_digest(r.params) == record.params_digest), None)
    return exact or next(iter(same), None)


def requested_steps(spec: TrainingTaskSpec) -> set[StepName]:
    requested: set[StepName] = {r.name for r in spec.steps}
    if spec.pipeline == "full":
        requested |= set(STEP_ORDER)
    return requested


def weighted_progress(spec: TrainingTaskSpec, records: Sequence[StepStatus]) -> float:
    """Progress over the requested steps, each counted by its catalog weight."""
    requested = requested_steps(spec)
    total = sum(CATALOG[name].weight for name in requested)
    if not total:
        return 0.0
    latest = {r.name: r for r in records}
    done = 0.0
    for name in requested:
        record = latest.get(name)
        if record is not None and record.phase == "completed":
            done += CATALOG[name].weight
        elif record is not None and record.phase == "running":
            done += CATALOG[name].weight * record.progress / 100
    return round(100 * done / total, 2)


def launch_for(
    task: TrainingTask, name: StepName, params: StepParams, attempt: int, request_id: str | None
) -> StepLaunch:
    """Shards default to the task's GPU count; a shard pod gets one GPU, other GPU steps all of them."""
    definition = CATALOG[name]
    gpu_count = task.spec.gpu.count
    shards = 1
    if definition.sharded:
        shards = getattr(params, "shards", None) or max(1, gpu_count)
    gpus = 0
    if gpu_count and definition.needs_gpu(params):
        gpus = 1 if definition.sharded else gpu_count
    return StepLaunch(
        job_name=job_name(task.metadata.name, name, attempt),
        step=name,
        attempt=attempt,
        params=params.model_dump(mode="json", by_alias=True),
        shards=shards,
        gpus_per_pod=gpus,
        request_id=request_id,
    )


class _Pass:
    """One reconcile: mutates a copy of the status and collects actions."""

    def __init__(
        self,
        task: TrainingTask,
        jobs: Sequence[ObservedJob],
        now: datetime,
        settings: OperatorSettings,
        progress: Mapping[str, float],
    ) -> None:
        self.task = task
        self.spec = task.spec
        self.old = task.status
        # A copy rebuilt from its dump: a quarter of the time of model_copy(deep=True), which
        # walked every field with copy.deepcopy (most of a pass on a finished task).
        self.status = TrainingTaskStatus.model_validate(task.status.model_dump())
        self.records = self.status.steps
        self.jobs = {job.name: job for job in jobs}
        self.now = now
        # Times recorded in status have whole seconds, as Kubernetes' own (a Job's completionTime).
        self.stamp = now.replace(microsecond=0)
        self.settings = settings
        self.progress = progress
        self.actions: list[Action] = []
        self.requeue: float | None = None
        self.ready: tuple[bool, str, str] | None = None
        self.unschedulable: str | None = None
        self.new_run = False

    # -- the pass -------------------------------------------------------------------------

    def run(self) -> Outcome:
        self._expire_recorded_jobs()
        if self.spec.cancel:
            self._cancel()
        else:
            active = self._active()
            if active is not None:
                self._drive(active)
            if self._active() is None:
                self._start_next()
        self._delete_orphans()
        self._finish()
        actions = list(self.actions)
        if self.requeue is not None:
            actions.append(RequeueAfter(round(self.requeue, 3)))
        return Outcome(self.status, tuple(actions))

    def _active(self) -> StepStatus | None:
        running = [r for r in self.records if r.phase == "running"]
        return running[-1] if running else None

    def _start_next(self) -> None:
        pending = pending_requests(self.spec, self.records)
        if pending:
            self._start(pending[0])
        elif self.status.phase == "running":
            self._at_rest()

    def _at_rest(self) -> None:
        """Nothing left to run: the phase sums up the newest record of every requested step."""
        latest = {r.name: r for r in self.records}
        newest = [latest[name] for name in STEP_ORDER if name in requested_steps(self.spec) and name in latest]
        failed = [r for r in newest if r.phase == "failed"]
        if failed:
            first = failed[0]
            message = f"{first.name} failed earlier and was not requested again: {first.message}"
            self.status.current_step = first.name
            self.status.error_message = message
            self._set_phase("failed")
            self.ready = (False, STEP_FAILED, message)
            self._event("Warning", STEP_FAILED, message, first)
            return
        not_run = [r.name for r in newest if r.phase != "completed"]
        message = "every requested step completed"
        if not_run:
            message = f"every step requested since completed; not run: {', '.join(not_run)}"
        self.status.current_step = None
        self._set_phase("completed")
        self.ready = (True, COMPLETED, message)
        self._event("Normal", COMPLETED, message)

    def _start(self, request: StepRequest) -> None:
        definition = CATALOG[request.name]
        if self.status.phase != "running":
            self._begin_run()
        record = StepStatus(
            name=request.name,
            phase="running",
            request_id=request.request_id,
            params_digest=params_digest(request.params),
            started_at=self.stamp,
        )
        self.records.append(record)
        self.status.current_step = request.name
        try:
            params = definition.parse_params(request.params)
        except InvalidInput as exc:
            return self._fail(record, INVALID_PARAMS, exc.message)
        missing: list[str] = list(missing_prerequisites(request.name, completed_steps(self.records[:-1])))
        if missing:
            return self._fail(record, PREREQUISITE_MISSING, PrerequisiteMissing(request.name, missing).message)
        attempt = self._attempts_before(len(self.records) - 1, request.name) + 1
        record.batch_size = batching.first_batch_size(self.spec, params)
        params = batching.with_batch_size(params, record.batch_size)
        launch = launch_for(self.task, request.name, params, attempt, request.request_id)
        record.attempts = 1
        record.job_name = launch.job_name
        self._set_phase("running")
        self.actions.append(CreateJob(launch))
        self._event("Normal", STEP_STARTED, f"{request.name} started as Job {launch.job_name}", record, attempt)
        self._running(record)
        return None

    # -- driving the running step ------------------------------------------------------

    def _drive(self, record: StepStatus) -> None:
        job = self.jobs.get(record.job_name or "")
        if job is None:
            # Lost or never created (the operator stopped after writing status): same name again.
            self._create(record)
        elif job.state == "active":
            self._watch(record, job)
        elif job.state == "succeeded":
            self._completed(record, job)
        else:
            self._attempt_failed(record, job)

    def _watch(self, record: StepStatus, job: ObservedJob) -> None:
        reported = self.progress.get(record.name)
        if reported is not None:
            record.progress = max(record.progress, min(100.0, max(0.0, float(reported))))
        self._running(record)
        if job.unschedulable_since is not None:
            detail = job.unschedulable_message or "no node fits its pods"
            limit = self.settings.max_attempts
            waiting = f"{record.name} waiting for resources (attempt {record.attempts} of {limit}): {detail}"
            self.ready = (False, WAITING_FOR_RESOURCES, waiting)
            waited = (self.now - job.unschedulable_since).total_seconds()
            threshold = self.settings.unschedulable_after_s
            if waited >= threshold:
                self.unschedulable = f"{record.name} cannot be scheduled: {detail}"
            else:
                self._requeue(threshold - waited)

    def _completed(self, record: StepStatus, job: ObservedJob) -> None:
        record.phase = "completed"
        record.finished_at = job.finished_at or self.stamp
        record.progress = 100.0
        record.message = None
        if record.memory_retries:
            record.message = (f"completed with batch size {record.batch_size} after CUDA ran out of memory "
                              f"{record.memory_retries} time(s)")  # fmt: skip
        if record.name == "test_inference":
            self.status.quality = quality_of(job.result)
        exp = f"experiments/{self.spec.exp_name}/"
        record.outputs = [
            exp if folder == contract.EXPERIMENTS else f"{folder}/" for folder in CATALOG[record.name].outputs
        ]
        self._event("Normal", STEP_COMPLETED, f"{record.name} completed (Job {job.name})", record)

    def _attempt_failed(self, record: StepStatus, job: ObservedJob) -> None:
        detail = job.message or f"Job {job.name} failed"
        if job.exit_code == contract.EXIT_BAD_INPUT:
            return self._fail(record, BAD_INPUT, detail)
        if job.exit_code == contract.EXIT_OUT_OF_MEMORY and record.batch_size is not None:
            return self._out_of_memory(record, record.batch_size, detail)
        if job.interrupted:
            return self._interrupted(record, detail)
        limit = self.settings.max_attempts
        if record.attempts >= limit:
            return self._fail(record, STEP_FAILED, detail)
        note = f"attempt {record.attempts} of {limit} failed: {detail}"
        if record.message != note:
            record.message = note
            self._event("Warning", ATTEMPT_FAILED, f"{record.name} {note}", record)
        following = record.attempts + 1
        failed_at = job.finished_at or record.started_at or self.stamp
        retry_at = failed_at + timedelta(seconds=following * self.settings.retry_backoff_s)
        if self.now < retry_at:
            self._requeue((retry_at - self.now).total_seconds())
            when = retry_at.isoformat(timespec="seconds")
            self.ready = (False, STEP_RETRYING, f"{record.name} {note}; attempt {following} at {when}")
            return None
        record.attempts = following
        launch = self._create(record)
        if launch is not None:
            self._event("Normal", STEP_RETRYING,
                        f"{record.name} attempt {following} of {limit} started as Job {launch.job_name}",
                        record, launch.attempt)  # fmt: skip
        return None

    def _out_of_memory(self, record: StepStatus, used: int, detail: str) -> None:
        """Run again at once with half the batch size, the attempt unchanged; at 1 the step fails."""
        smaller = batching.halved(used)
        if smaller is None:
            return self._fail(record, OUT_OF_MEMORY, f"CUDA out of memory even at batch size 1: {detail}")
        record.batch_size = smaller
        record.memory_retries += 1
        record.message = f"CUDA out of memory at batch size {used}; running again with batch size {smaller}: {detail}"
        launch = self._create(record)
        if launch is not None:
            self._event("Warning", OUT_OF_MEMORY, f"{record.name} {record.message}; Job {launch.job_name}",
                        record, launch.attempt)  # fmt: skip
        return None

    def _interrupted(self, record: StepStatus, detail: str) -> None:
        """Run again at once as a new Job, the attempt unchanged; too many in a row is a crash loop."""
        limit = self.settings.max_interruptions
        if record.interruptions >= limit:
            return self._fail(record, STEP_FAILED, f"interrupted {record.interruptions + 1} times, giving up: {detail}")
        record.interruptions += 1
        record.message = f"interrupted ({record.interruptions} of {limit} allowed): {detail}"
        launch = self._create(record)
        if launch is not None:
            self._event("Warning", STEP_INTERRUPTED,
                        f"{record.name} {record.message}; runs again as Job {launch.job_name}")  # fmt: skip
        return None

    def _create(self, record: StepStatus) -> StepLaunch | None:
        """Create the Job of the record's current attempt, its params taken again from its request."""
        index = next(i for i, r in enumerate(self.records) if r is record)
        attempt = self._attempts_before(index, record.name) + _runs(record)
        request = request_of(self.spec, record)
        raw = request.params if request is not None else {}
        try:
            params = CATALOG[record.name].parse_params(raw)
        except InvalidInput as exc:  # the request was edited since it started
            self._fail(record, INVALID_PARAMS, exc.message)
            return None
        params = batching.with_batch_size(params, record.batch_size)
        launch = launch_for(self.task, record.name, params, attempt, record.request_id)
        record.job_name = launch.job_name
        self.actions.append(CreateJob(launch))
        self._running(record)
        return launch

    def _attempts_before(self, index: int, name: str) -> int:
        """Jobs earlier records of this step used: each attempt, interrupted run and out-of-memory run had one."""
        return sum(_runs(r) for r in self.records[:index] if r.name == name)

    def _running(self, record: StepStatus) -> None:
        limit = self.settings.max_attempts
        batch = f", batch size {record.batch_size} after CUDA ran out of memory" if record.memory_retries else ""
        self.ready = (False, STEP_RUNNING, f"{record.name} running (attempt {record.attempts} of {limit}{batch})")

    # -- stopping ------------------------------------------------------------------------

    def _fail(self, record: StepStatus, reason: str, message: str) -> None:
        record.phase = "failed"
        record.finished_at = self.stamp
        record.message = message
        self.status.error_message = message
        self._skip_pending(f"not run: {record.name} failed")
        self._set_phase("failed")
        self.ready = (False, reason, message)
        self._event("Warning", reason, f"{record.name} failed: {message}", record)

    def _cancel(self) -> None:
        active = self._active()
        stopped = False
        if active is not None:
            active.phase = "cancelled"
            active.finished_at = self.stamp
            active.message = "cancelled"
            stopped = True
        stopped = self._skip_pending("cancelled before it started") or stopped
        if self.status.phase == "cancelled" or not (stopped or self.status.phase == "created"):
            return
        self._set_phase("cancelled")
        message = "cancelled; outputs of finished steps are kept"
        if active is not None:
            message = f"cancelled while {active.name} was running; outputs of finished steps are kept"
        self.ready = (False, CANCELLED, message)
        self._event("Normal", CANCELLED, message)

    def _skip_pending(self, note: str) -> bool:
        pending = pending_requests(self.spec, self.records)
        for request in pending:
            self.records.append(
                StepStatus(name=request.name, phase="cancelled", request_id=request.request_id,
                           params_digest=params_digest(request.params), finished_at=self.stamp, message=note)
            )  # fmt: skip
        return bool(pending)

    # -- Jobs whose fate is already decided ---------------------------------------------

    def _expire_recorded_jobs(self) -> None:
        # Judged on the status as stored (self.old), never on what this pass is about to write.
        current = [r.job_name for r in self.old.steps if r.phase == "running"]
        for job in self.jobs.values():
            if job.finished and not job.ttl_set and not job.deleting and job.name not in current:
                self.actions.append(ExpireJob(job.name, self.settings.job_ttl_s))

    def _delete_orphans(self) -> None:
        active = self._active()
        keep = active.job_name if active is not None else None
        for job in self.jobs.values():
            if job.state == "active" and not job.deleting and job.name != keep:
                self.actions.append(DeleteJob(job.name))

    # -- status ----------------------------------------------------------------------------

    def _begin_run(self) -> None:
        self.status.started_at = self.stamp
        self.status.finished_at = None
        self.status.duration = None

    def _set_phase(self, phase: Phase) -> None:
        if self.status.phase == phase and (phase in ("created", "running") or self.status.finished_at is not None):
            return
        self.status.phase = phase
        if phase == "running":
            self.status.error_message = None
            self.new_run = True
        elif phase != "created":
            status = self.status
            status.finished_at = self.stamp
            if status.started_at is not None:
                status.duration = go_duration(status.finished_at - status.started_at)

    def _finish(self) -> None:
        status = self.status
        computed = weighted_progress(self.spec, self.records)
        if status.phase == "completed":
            status.progress = 100.0
        elif self.new_run:
            status.progress = computed
        else:
            status.progress = max(self.old.progress, computed)
        generation = self.task.metadata.generation
        status.observed_generation = generation
        ready = self.ready
        if ready is None and _condition(status.conditions, READY) is None:
            ready = (False, CREATED, "no step requested yet")
        if ready is not None:
            self._condition(READY, *ready)
        was_unschedulable = _is_true(_condition(self.old.conditions, UNSCHEDULABLE))
        if self.unschedulable is not None:
            self._condition(UNSCHEDULABLE, True, POD_UNSCHEDULABLE, self.unschedulable)
            if not was_unschedulable:
                self._event("Warning", POD_UNSCHEDULABLE, self.unschedulable)
        elif was_unschedulable:
            self._condition(UNSCHEDULABLE, False, *_no_longer_waiting(status.phase))
        for condition in status.conditions:
            condition.observed_generation = generation

    def _condition(self, type_: str, true: bool, reason: str, message: str) -> None:
        value: Literal["True", "False"] = "True" if true else "False"
        conditions = self.status.conditions
        existing = _condition(conditions, type_)
        if existing is not None and (existing.status, existing.reason, existing.message) == (
            value,
            reason,
            message,
        ):
            return
        since = self.stamp
        if existing is not None and existing.status == value:
            since = existing.last_transition_time
        fresh = Condition(type=type_, status=value, reason=reason, message=message, last_transition_time=since)
        if existing is None:
            conditions.append(fresh)
        else:
            conditions[conditions.index(existing)] = fresh

    def _event(
        self, type_: EventType, reason: str, message: str, record: StepStatus | None = None, attempt: int | None = None
    ) -> None:
        step = record.name if record is not None else None
        if record is not None and attempt is None and record.attempts:
            index = next(i for i, r in enumerate(self.records) if r is record)
            attempt = self._attempts_before(index, record.name) + record.attempts
        self.actions.append(RecordEvent(type_, reason, message, step, attempt))

    def _requeue(self, seconds: float) -> None:
        seconds = max(seconds, 0.0)
        self.requeue = seconds if self.requeue is None else min(self.requeue, seconds)


def quality_of(message: str | None) -> QualityScore | None:
    """The quality score a test_inference run reported after its summary; None when it has none."""
    if not message or contract.RESULT_MARK not in message:
        return None
    body = message.split(contract.RESULT_MARK, 1)[1]
    try:
        return QualityScore.model_validate_json(body)
    except ValidationError:  # an image older or newer than this operator: no score rather than no status
        return None


def _runs(record: StepStatus) -> int:
    """Jobs a record has used: one per attempt, interrupted run and out-of-memory run."""
    return record.attempts + record.interruptions + record.memory_retries


def go_duration(delta: timedelta) -> str:
    """``1h2m3s``, as kubectl prints durations."""
    seconds = max(0, int(delta.total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"


def _no_longer_waiting(phase: Phase) -> tuple[str, str]:
    """Reason and message of an Unschedulable condition turning False: the pod ran, or never will."""
    if phase == "cancelled":
        return CANCELLED, "stopped waiting: the task was cancelled before its pods were scheduled"
    if phase == "failed":
        return STEP_FAILED, "stopped waiting: the step failed before its pods were scheduled"
    return SCHEDULED, "no pod is waiting for resources"


def _condition(conditions: Sequence[Condition], type_: str) -> Condition | None:
    return next((c for c in conditions if c.type == type_), None)


def _is_true(condition: Condition | None) -> bool:
    return condition is not None and condition.status == "True"
