"""What the API shows of a TrainingTask: a pure function of the object.

"No stale completed": a step request the API appended (it carries a requestId) that the
operator has not yet recorded in ``status.steps`` is shown as ``running`` with that step as
``current_step`` and the progress the operator will start that run from. The seed's client
polls for ``completed``/``failed`` right after posting a step; without this it could read the
previous step's ``completed`` (or its 100%) and move on too early.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sovits_core.model import FINISHED_PHASES, Phase, StepRequest, TrainingTask
from sovits_core.reconcile import weighted_progress

from . import bookkeeping
from .convert import config_from_spec
from .schemas import TaskPublic

TERMINAL = FINISHED_PHASES


def pending_request(task: TrainingTask) -> StepRequest | None:
    """The oldest API-made request the operator has not recorded yet, if any."""
    return next(iter(unrecorded_requests(task)), None)


def unrecorded_requests(task: TrainingTask) -> list[StepRequest]:
    """API-made requests (they carry a requestId) the operator has not recorded yet, oldest first.

    Requests are handled in order, so everything up to the newest recorded one is settled,
    even when status keeps only the latest record per step.
    """
    recorded = {s.request_id for s in task.status.steps if s.request_id}
    requests = task.spec.steps
    settled = max((i for i, r in enumerate(requests) if r.request_id in recorded), default=-1)
    return [r for r in requests[settled + 1 :] if r.request_id]


def cancelling(task: TrainingTask) -> bool:
    """Cancel was asked for and the operator still reports work in flight."""
    return task.spec.cancel and task.status.phase == "running"


def task_view(task: TrainingTask) -> TaskPublic:
    status = task.status
    phase: Phase = status.phase
    # The seed keeps the last step as current_step after completion; the operator clears it
    # (kubectl's STEP column shows only a step in progress), so the last record names it here.
    current = status.current_step or (status.steps[-1].name if status.steps else None)
    error = status.error_message
    progress = status.progress
    pending = None if task.spec.cancel else pending_request(task)
    if task.spec.cancel:
        # The seed answered cancel with "cancelled" at once; the operator confirms it later.
        phase = "cancelled"
    elif pending is not None:
        phase, current, error = "running", pending.name, None
        # What the operator computes when the run starts, not the last run's (often 100%).
        progress = weighted_progress(task.spec, status.steps)
    created = task.metadata.creation_timestamp or bookkeeping.updated_at(task)
    assert created is not None, "a stored task always has a creation time"
    return TaskPublic(
        task_id=task.metadata.name,
        task_name=task.spec.task_name,
        status=phase,
        config=config_from_spec(task.spec),
        created_at=_aware(created),
        updated_at=_updated_at(task, created),
        progress=progress,
        current_step=current,
        error_message=error,
        quality=status.quality,
    )


def _updated_at(task: TrainingTask, created: datetime) -> datetime:
    """The newest moment the object shows: an API write, a step start or end, a condition flip."""
    moments = [created, bookkeeping.updated_at(task)]
    for step in task.status.steps:
        moments += [step.started_at, step.finished_at]
    moments += [c.last_transition_time for c in task.status.conditions]
    return max(_aware(m) for m in moments if m is not None)


def _aware(moment: datetime) -> datetime:
    # Kubernetes writes UTC; a naive time from another writer is read as UTC too.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
