"""Step requests: the seed's "execute step", appended to the task for the operator to run."""

from __future__ import annotations

from fastapi import APIRouter

from .. import mutations
from ..deps import ServicesDep, TaskIdDep, TenantDep
from ..errors import COMMON, documented
from ..schemas import StepAccepted, StepBody

router = APIRouter(prefix="/api/v1", tags=["steps"], responses=documented(400, 404, *COMMON))


@router.post(
    "/task/{task_id}/step/{step}",
    response_model=StepAccepted,
    summary="Run a pipeline step",
    description="400 for an unknown step, a step while another runs, or missing prerequisites "
    "(named); 422 for invalid params (the field is named). Until the step ends, GET shows the "
    "task `running` with this step as `current_step`.",
)
def run_step(
    task_id: TaskIdDep, step: str, svc: ServicesDep, tenant: TenantDep, body: StepBody | None = None
) -> StepAccepted:
    svc.tasks.get(tenant.namespace, task_id)  # an unknown task is a 404 before anything else
    request = mutations.step_request(step, (body or StepBody()).params)
    svc.tasks.append_step(tenant.namespace, task_id, request)
    svc.metrics.steps_requested.labels(request.name).inc()
    assert request.request_id is not None
    return StepAccepted(
        message=f"step {request.name} started",
        task_id=task_id,
        step=request.name,
        request_id=request.request_id,
    )
