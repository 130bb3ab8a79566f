"""FastAPI dependencies: the process's services and the caller's tenant.

They are ``async`` because they never block (a dict lookup, a hash, a regex): FastAPI runs a
plain ``def`` dependency in the thread pool, a hop each per request on every route.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from sovits_core.errors import NotFound

from .auth import Tenant
from .services import Services

# A Kubernetes object name (DNS subdomain); task ids made by the API are UUIDs.
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
_bearer = HTTPBearer(auto_error=False, description="A token from api.tokens or the tokens Secret.")


async def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


ServicesDep = Annotated[Services, Depends(services)]


async def tenant(
    svc: ServicesDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Tenant:
    header = f"{credentials.scheme} {credentials.credentials}" if credentials else None
    return svc.tenants.authenticate(header)


TenantDep = Annotated[Tenant, Depends(tenant)]


async def task_id(task_id: Annotated[str, Path(description="The task's id (a UUID for tasks the API made).")]) -> str:
    """A name that cannot be a task is simply an unknown task (404), as the seed answered."""
    if not _NAME.match(task_id):
        raise NotFound(f"task {task_id} not found", field="task_id")
    return task_id


TaskIdDep = Annotated[str, Depends(task_id)]
