"""The API's writes to a TrainingTask as pure functions: old object in, new object out.

Each task store applies them inside its own optimistic update (resourceVersion in
Kubernetes, a transaction in SQLite), so the checks below and the write are atomic: two
clients posting a step at once cannot both get past "a step is already running".
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sovits_core import catalog
from sovits_core.errors import Conflict, PrerequisiteMissing, TaskBusy
from sovits_core.model import StepRequest, TrainingTask
from sovits_core.reconcile import completed_steps

from . import bookkeeping
from .view import cancelling, task_view, unrecorded_requests

MAX_STEP_REQUESTS = 200  # spec.steps maxItems in the CRD


def step_request(step: str, params: Mapping[str, Any] | None) -> StepRequest:
    """A validated request: UnknownStep for a name not in the catalog, InvalidInput naming the field."""
    definition = catalog.step(step)
    parsed = definition.parse_params(params)
    return StepRequest(
        name=definition.name,
        params=parsed.model_dump(mode="json", by_alias=True, exclude_unset=True),
        request_id=uuid.uuid4().hex,
    )


def append_step(task: TrainingTask, request: StepRequest, now: datetime) -> TrainingTask:
    """The task with ``request`` appended; TaskBusy or PrerequisiteMissing when it cannot run."""
    view = task_view(task)
    if cancelling(task):
        raise TaskBusy(f"task {view.task_id} is being cancelled; wait until it reports cancelled")
    if view.status == "running":
        raise TaskBusy(f"task {view.task_id} is running step {view.current_step}; wait for it to finish or cancel it")
    # The operator's own rule (a step's newest record decides), so both refuse the same requests.
    missing = catalog.missing_prerequisites(request.name, completed_steps(task.status.steps))
    if missing:
        raise PrerequisiteMissing(request.name, list(missing))
    if len(task.spec.steps) >= MAX_STEP_REQUESTS:
        raise Conflict(f"task {view.task_id} already holds {MAX_STEP_REQUESTS} step requests; create a new task")
    steps = list(task.spec.steps)
    if task.spec.cancel:
        # A new request resumes a cancelled task, in this same write (cancel is a level: nothing
        # runs while it is true). Requests the operator never started were cancelled with the
        # task; it may have missed the brief cancel, so they go rather than run now.
        unstarted = {r.request_id for r in unrecorded_requests(task)}
        steps = [r for r in steps if not r.request_id or r.request_id not in unstarted]
    spec = task.spec.model_copy(update={"steps": [*steps, request], "cancel": False})
    return touched(task.model_copy(update={"spec": spec}), now)


def request_cancel(task: TrainingTask, now: datetime) -> TrainingTask:
    spec = task.spec.model_copy(update={"cancel": True})
    return touched(task.model_copy(update={"spec": spec}), now)


def touched(task: TrainingTask, now: datetime) -> TrainingTask:
    """The task with the API's last-write time set (the seed's ``updated_at``)."""
    return annotate(task, {bookkeeping.UPDATED_AT: now.isoformat()})


def annotate(task: TrainingTask, values: Mapping[str, str]) -> TrainingTask:
    metadata = task.metadata.model_copy(deep=True)
    merged = {**bookkeeping.of(task), **values}
    metadata.annotations = merged  # type: ignore[attr-defined]  # extra field of ObjectMeta
    return task.model_copy(update={"metadata": metadata})
