"""Builders for TrainingTasks and observed Jobs, and a driver that plays the runtime's part."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sovits_core.model import TrainingTask
from sovits_core.reconcile import CreateJob, ObservedJob, Outcome, reconcile
from sovits_core.settings import OperatorSettings

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
SETTINGS = OperatorSettings(max_attempts=3, retry_backoff_s=10, unschedulable_after_s=60, job_ttl_s=600)


def a_task(
    *requests: str | dict[str, Any],
    pipeline: str | None = None,
    gpus: int = 1,
    name: str = "voice1",
    generation: int = 1,
    **spec: Any,
) -> TrainingTask:
    steps = [{"name": r} if isinstance(r, str) else r for r in requests]
    body: dict[str, Any] = {
        "metadata": {"name": name, "namespace": "ns", "uid": "uid-1", "generation": generation},
        "spec": {"expName": "spk", "steps": steps, "gpu": {"count": gpus}, **spec},
    }
    if pipeline:
        body["spec"]["pipeline"] = pipeline
    return TrainingTask.model_validate(body)


def with_spec(task: TrainingTask, **changes: Any) -> TrainingTask:
    """The task after a user edit (generation bumped), status untouched."""
    spec = task.spec.model_dump(by_alias=True) | changes
    meta = task.metadata.model_copy(update={"generation": (task.metadata.generation or 0) + 1})
    return task.model_copy(update={"spec": type(task.spec).model_validate(spec), "metadata": meta})


def add_request(task: TrainingTask, name: str, request_id: str | None = None, **params: Any) -> TrainingTask:
    steps = [s.wire() for s in task.spec.steps]
    steps.append({"name": name, "params": params, "requestId": request_id})
    return with_spec(task, steps=steps)


def applied(task: TrainingTask, outcome: Outcome) -> TrainingTask:
    """The task as the next reconcile sees it: the outcome's status recorded."""
    return task.model_copy(update={"status": outcome.status})


def running(name: str) -> ObservedJob:
    return ObservedJob(name=name, state="active")


def succeeded(name: str, at: datetime = T0) -> ObservedJob:
    return ObservedJob(name=name, state="succeeded", finished_at=at)


def failed(name: str, message: str = "CUDA out of memory", exit_code: int = 1, at: datetime = T0) -> ObservedJob:
    return ObservedJob(name=name, state="failed", finished_at=at, exit_code=exit_code, message=message)


def interrupted(name: str, message: str = "interrupted: sovits local stopped", at: datetime = T0) -> ObservedJob:
    return ObservedJob(name=name, state="failed", finished_at=at, exit_code=75, message=message, interrupted=True)


def step_once(
    task: TrainingTask,
    jobs: Sequence[ObservedJob] = (),
    now: datetime = T0,
    progress: dict[str, float] | None = None,
    settings: OperatorSettings = SETTINGS,
) -> tuple[TrainingTask, Outcome]:
    outcome = reconcile(task, jobs, now, settings, progress)
    return applied(task, outcome), outcome


def created_jobs(outcome: Outcome) -> list[str]:
    return [a.launch.job_name for a in outcome.of(CreateJob)]


def run_to_rest(task: TrainingTask, limit: int = 40) -> tuple[TrainingTask, list[Outcome], list[str]]:
    """Every Job created succeeds at once; returns the final task, the outcomes and Job names in order."""
    outcomes: list[Outcome] = []
    done: list[ObservedJob] = []
    order: list[str] = []
    now = T0
    for _ in range(limit):
        task, outcome = step_once(task, done, now)
        outcomes.append(outcome)
        names = created_jobs(outcome)
        if not names:
            return task, outcomes, order
        order += names
        done = [*done, *(succeeded(n, now) for n in names)]
        now += timedelta(seconds=5)
    raise AssertionError("the task never came to rest")
