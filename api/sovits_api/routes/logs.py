"""The seed's logs endpoint: ``{"logs": ...}``, per step with ``?step=`` and ``?tail=``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from sovits_api import logs
from sovits_api.deps import ServicesDep, TaskIdDep, TenantDep
from sovits_api.errors import COMMON, documented
from sovits_api.schemas import Logs

router = APIRouter(prefix="/api/v1", tags=["logs"], responses=documented(400, 404, *COMMON))


@router.get(
    "/task/{task_id}/logs",
    response_model=Logs,
    summary="Step logs",
    description="Stored logs of finished steps and the live pod log of a running step, in "
    "pipeline order with a `==> step <==` header each; `step` picks one, `tail` keeps the last lines.",
)
def get_logs(
    task_id: TaskIdDep,
    svc: ServicesDep,
    tenant: TenantDep,
    step: Annotated[str | None, Query(max_length=64)] = None,
    tail: Annotated[int | None, Query(ge=0, le=100_000)] = None,
) -> Logs:
    task = svc.tasks.get(tenant.namespace, task_id)
    return logs.collect(tenant.namespace, task, svc.task_files(task), svc.live_logs, step, tail)
