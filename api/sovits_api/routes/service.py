"""The service itself: what it is (``/``), whether it lives and can serve, and its metrics.

``/`` answers a browser (``Accept: text/html``) with the web console and everyone else with
the seed's JSON, so the seed's clients and probes read what they always read.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse, JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from sovits_api import console
from sovits_api.deps import ServicesDep, TenantDep
from sovits_api.errors import documented
from sovits_api.schemas import Readiness, ServiceInfo
from sovits_core import __version__
from sovits_core.catalog import STEP_ORDER
from sovits_core.errors import SovitsError

router = APIRouter(tags=["service"])


@router.get(
    "/",
    response_model=ServiceInfo,
    summary="About this service (JSON), or the web console for a browser",
    responses={200: {"content": {"text/html": {}}}},
)
def root(request: Request) -> ServiceInfo | FileResponse:
    # The header is read, not declared: it has no invalid value, so the route documents no 422.
    if console.wants_html(request.headers.get("accept")):
        return FileResponse(console.INDEX, media_type="text/html", headers={"Cache-Control": "no-cache"})
    return ServiceInfo(
        message="GPT-SoVITS training service API",
        version=__version__,
        docs_url="/docs",
        api_prefix="/api/v1",
        steps=list(STEP_ORDER),
    )


@router.get("/healthz", summary="Liveness")
async def healthz() -> dict[str, str]:  # async: a sync route costs a thread-pool hop per probe
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: the task store and the object store answer",
    responses={200: {"model": Readiness}, 503: {"model": Readiness, "description": "A store does not answer"}},
)
def readyz(svc: ServicesDep) -> JSONResponse:
    checks: dict[str, str] = {}
    try:
        svc.tasks.ping()
        checks["tasks"] = "ok"
    except SovitsError as exc:
        checks["tasks"] = exc.message
    try:
        next(iter(svc.objects.iter_objects(svc.settings.storage.tasks_prefix)), None)
        checks["objects"] = "ok"
    except SovitsError as exc:
        checks["objects"] = exc.message
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse({"status": "ok" if ready else "unavailable", "checks": checks},
                        status_code=200 if ready else 503)  # fmt: skip


@router.get("/metrics", summary="Prometheus metrics", response_class=Response, responses=documented(401))
def metrics(svc: ServicesDep, _: TenantDep) -> Response:
    return Response(generate_latest(svc.metrics.registry), media_type=CONTENT_TYPE_LATEST)
