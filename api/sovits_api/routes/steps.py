"""Step requests: the seed's "execute step", appended to the task for the operator to run."""

from __future__ import annotations

from fastapi import APIRouter

from sovits_api import mutations
from sovits_api.deps import ServicesDep, TaskIdDep, TenantDep
from sovits_api.errors import COMMON, documented
from sovits_api.schemas import StepAccepted, StepBody, StepInfo
from sovits_core.catalog import CATALOG, STEP_ORDER

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


@router.get(
    "/steps",
    response_model=list[StepInfo],
    summary="The pipeline's steps and their parameters",
    description="In pipeline order, each with its prerequisites and the JSON Schema of its `params` "
    "(names, types, defaults, bounds), as POST checks them; the console builds its forms from it.",
)
def list_steps(_: TenantDep) -> list[StepInfo]:
    return [
        StepInfo(
            name=name,
            summary=CATALOG[name].summary,
            prerequisites=list(CATALOG[name].prerequisites),
            params_schema=CATALOG[name].params.model_json_schema(by_alias=True),
        )
        for name in STEP_ORDER
    ]
