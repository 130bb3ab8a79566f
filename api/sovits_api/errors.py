"""The REST boundary's error translation: domain error codes to HTTP statuses, in one table.

Routes raise the domain's errors (``sovits_operator.errors``) or the few HTTP-only ones
below; the handlers registered by ``install`` turn them into ``{"detail": ..., "code": ...,
"field": ...}`` with the status from ``STATUS``. Nothing else in the API picks a status.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from sovits_operator.errors import SovitsError

log = logging.getLogger(__name__)


class Unauthenticated(SovitsError):
    code = "unauthenticated"


class PayloadTooLarge(SovitsError):
    code = "payload_too_large"


class UnsupportedMediaType(SovitsError):
    code = "unsupported_media_type"


STATUS: dict[str, int] = {
    "invalid_input": 422,
    "unknown_step": 400,
    "prerequisite_missing": 400,
    "task_busy": 400,
    "not_found": 404,
    "conflict": 409,
    "unauthenticated": 401,
    "payload_too_large": 413,
    "unsupported_media_type": 415,
    "storage_unavailable": 503,
    "retryable": 503,
    "internal": 500,
}


def status_of(exc: SovitsError) -> int:
    return STATUS.get(exc.code, 500)


def body(detail: str, code: str, field: str | None = None) -> dict[str, str | None]:
    return {"detail": detail, "code": code, "field": field}


async def _domain(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, SovitsError)
    status = status_of(exc)
    if status >= 500:
        log.warning("%s %s -> %d %s: %s", request.method, request.url.path, status, exc.code, exc.message)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body(exc.message, exc.code, exc.field), status_code=status, headers=headers)


async def _validation(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's request validation, worded like the domain's: the first error names its field."""
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
    loc = [str(p) for p in first.get("loc", ())]
    if loc and loc[0] in ("body", "query", "path", "header", "cookie"):
        loc = loc[1:]
    where = ".".join(loc) or "body"
    return JSONResponse(body(f"{where}: {first.get('msg')}", "invalid_input", where), status_code=422)


async def _http(request: Request, exc: Exception) -> JSONResponse:
    """Starlette's own errors (unknown route, wrong method) in the same body shape."""
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return JSONResponse(body(str(exc.detail), code), status_code=exc.status_code, headers=getattr(exc, "headers", None))


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("%s %s failed", request.method, request.url.path, exc_info=exc)
    return JSONResponse(body("internal server error", "internal"), status_code=500)


def install(app: FastAPI) -> None:
    app.add_exception_handler(SovitsError, _domain)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(Exception, _unexpected)
