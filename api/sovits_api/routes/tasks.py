"""Task lifecycle: the seed's create, get, list, cancel and delete."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Response

from sovits_api import convert, labels, webhook_targets
from sovits_api.deps import ServicesDep, TaskIdDep, TenantDep
from sovits_api.errors import COMMON, documented
from sovits_api.schemas import Message, TaskCreate, TaskPublic
from sovits_api.services import Services
from sovits_api.store import list_all
from sovits_api.view import task_view
from sovits_api.view_cache import MEDIA_TYPE, encoded, joined
from sovits_core.errors import InvalidInput
from sovits_core.model import TrainingTask

router = APIRouter(prefix="/api/v1", tags=["tasks"], responses=documented(*COMMON))
TASK_ERRORS = documented(404)

CONTINUE_HEADER = "X-Continue-Token"


@router.post("/task/create", response_model=TaskPublic, summary="Create a training task")
def create_task(body: TaskCreate, svc: ServicesDep, tenant: TenantDep) -> TaskPublic:
    labels.validate_labels(body.labels)
    if body.config.webhook_url and (why := webhook_targets.refusal(body.config.webhook_url, allowed(svc))):
        raise InvalidInput(f"config.webhook_url: {why}", field="config.webhook_url")
    spec = convert.spec_from_create(body, svc.settings.training, svc.settings.gpu)
    task = svc.tasks.create(tenant.namespace, str(uuid.uuid4()), spec, body.labels)
    svc.metrics.tasks_created.inc()
    return task_view(task)


def allowed(svc: Services) -> list[webhook_targets.IPNetwork]:
    return list(svc.settings.api.webhook_allowed_networks)


@router.get("/task/{task_id}", response_model=TaskPublic, summary="Get a task", responses=TASK_ERRORS)
async def get_task(task_id: TaskIdDep, svc: ServicesDep, tenant: TenantDep) -> Response:
    # The most frequent call (clients poll it): answered on the loop, from the encoded answer of
    # the same version when there is one; only a task the store cannot answer for at once costs a
    # thread-pool hop. A sync route would cost two, the call's and its response check's.
    held = svc.tasks.held(tenant.namespace, task_id)
    if held is not None:
        body = svc.views.answer(tenant.namespace, task_id, held)
    else:
        body = encoded(task_view(await asyncio.to_thread(svc.tasks.get, tenant.namespace, task_id)))
    return Response(body, media_type=MEDIA_TYPE)


@router.get(
    "/tasks",
    response_model=list[TaskPublic],
    summary="List tasks",
    description="Without `limit`, every task (the seed's call). With `limit`, one page; the "
    f"`{CONTINUE_HEADER}` response header (and a `Link: rel=next`) carries the next page's token.",
)
async def list_tasks(
    svc: ServicesDep,
    tenant: TenantDep,
    limit: Annotated[int | None, Query(ge=1, le=1000)] = None,
    continue_token: Annotated[str | None, Query(alias="continue", max_length=4096)] = None,
    label_selector: Annotated[str | None, Query(max_length=1024)] = None,
) -> Response:
    namespace, headers = tenant.namespace, {}
    if limit is None and continue_token is None:
        # The seed's plain list: from the encoded answers where the store holds every task.
        if (body := await asyncio.to_thread(plain_list_from_answers, svc, namespace, label_selector)) is not None:
            return Response(body, media_type=MEDIA_TYPE)
        tasks: Iterable[TrainingTask] = list_all(svc.tasks, namespace, label_selector)
    else:
        page = await asyncio.to_thread(
            svc.tasks.list, namespace, label_selector=label_selector, limit=limit, continue_token=continue_token
        )
        if page.continue_token:
            headers[CONTINUE_HEADER] = page.continue_token
            query = {"continue": page.continue_token, **({"limit": limit} if limit else {})}
            if label_selector:
                query["label_selector"] = label_selector
            headers["Link"] = f'</api/v1/tasks?{urlencode(query)}>; rel="next"'
        tasks = page.items
    # Views and their encoding in a thread: a page may hold 1,000 tasks.
    body = await asyncio.to_thread(lambda: joined(encoded(task_view(t)) for t in tasks))
    return Response(body, media_type=MEDIA_TYPE, headers=headers)


def plain_list_from_answers(svc: Services, namespace: str, label_selector: str | None) -> bytes | None:
    """Every task's encoded answer as one array (blocking), or None when the store cannot hold them all."""
    held = svc.tasks.all_held(namespace, label_selector)
    return None if held is None else joined(svc.views.answer(namespace, name, h) for name, h in held)


@router.post("/task/{task_id}/cancel", response_model=Message, summary="Cancel a task", responses=TASK_ERRORS)
def cancel_task(task_id: TaskIdDep, svc: ServicesDep, tenant: TenantDep) -> Message:
    svc.tasks.cancel(tenant.namespace, task_id)
    return Message(message=f"task {task_id} cancelled; running steps are being stopped")


@router.delete("/task/{task_id}", response_model=Message, summary="Delete a task", responses=TASK_ERRORS)
def delete_task(task_id: TaskIdDep, svc: ServicesDep, tenant: TenantDep) -> Message:
    svc.tasks.delete(tenant.namespace, task_id)
    return Message(message=f"task {task_id} deleted")
