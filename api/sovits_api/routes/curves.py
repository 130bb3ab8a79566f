"""Training curves of a task: the losses its training steps recorded."""

from __future__ import annotations

from fastapi import APIRouter

from sovits_api import curves
from sovits_api.deps import ServicesDep, TaskIdDep, TenantDep
from sovits_api.errors import COMMON, documented
from sovits_api.schemas import TrainingCurves

router = APIRouter(prefix="/api/v1", tags=["tasks"], responses=documented(404, *COMMON))


@router.get(
    "/task/{task_id}/metrics",
    response_model=TrainingCurves,
    summary="Training curves (losses per epoch)",
    description="The loss values upstream's trainers print, recorded by `train_sovits` and `train_gpt` "
    "as they run (at most 400 points a series; a long run keeps every other point). Steps that "
    "recorded none yet are absent.",
)
def training_metrics(task_id: TaskIdDep, svc: ServicesDep, tenant: TenantDep) -> TrainingCurves:
    task = svc.tasks.get(tenant.namespace, task_id)
    return curves.collect(svc.task_files(task))
