"""The REST boundary's error translation: domain error codes to HTTP statuses, in one table.

Routes raise the domain's errors (``sovits_core.errors``) or the few HTTP-only ones
below; the handlers registered by ``install`` turn them into ``{"detail": ..., "code": ...,
"field": ...}`` with the status from ``STATUS``. Nothing else in the API picks a status.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from sovits_core.errors import SovitsError

from .schemas import ErrorBody

log = logging.getLogger(__name__)


class Unauthenticated(SovitsError):
    code = "unauthenticated"


class PayloadTooLarge(SovitsError):
    code = "payload_too_large"


class UnsupportedMediaType(SovitsError):
    code = "unsupported_media_type"


CLIENT_CLOSED_REQUEST = 499  # nginx's word for it; only the access log ever sees it

STATUS: dict[str, int] = {
    "invalid_input": 422,
    "unknown_step": 400,
    "prerequisite_missing": 400,
    "task_busy": 400,
    "not_found": 404,
    "conflict": 409,
    "dataset_not_ready": 409,
    "transcript_busy": 409,
    "transcript_contended": 409,
    "changed": 409,
    "unauthenticated": 401,
    "payload_too_large": 413,
    "unsupported_media_type": 415,
    "storage_unavailable": 503,
    "retryable": 503,
    "internal": 500,
}


# What each error status means, for the OpenAPI document; every one answers an ErrorBody.
MEANING: dict[int, str] = {
    400: "Unknown step, a step while another runs, or missing prerequisites (named)",
    401: "No bearer token, or an unknown one",
    404: "Unknown task (or another tenant's) or file",
    409: "Not possible in the task's present state: the code says why, the detail names the step",
    413: "Body larger than the limit (named)",
    415: "Upload is not an accepted audio format or a .list transcript (says what it is)",
    422: "Invalid input: `field` names it, `detail` says why",
    503: "The task store or object store does not answer; try again",
}
# Every route behind a token: who asks, what they send, whether the stores answer.
COMMON = (401, 413, 422, 503)


def documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` of a route or router: the given statuses, each an ErrorBody."""
    return {status: {"model": ErrorBody, "description": MEANING[status]} for status in statuses}


def documented_json(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """As ``documented``, for a route whose own answer is not JSON (the event stream): FastAPI
    would list a model's errors under the route's media type, so the JSON is spelled out."""
    body = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    return {status: {"description": MEANING[status], "content": body} for status in statuses}


def status_of(exc: SovitsError) -> int:
    return STATUS.get(exc.code, 500)


def body(detail: str, code: str, field: str | None = None) -> dict[str, str | None]:
    return {"detail": detail, "code": code, "field": field}


def response(exc: SovitsError) -> JSONResponse:
    """The one translation of a domain error into an HTTP answer."""
    status = status_of(exc)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body(exc.message, exc.code, exc.field), status_code=status, headers=headers)


async def _domain(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, SovitsError)
    if status_of(exc) >= 500:
        log.warning("%s %s -> %d %s: %s", request.method, request.url.path, status_of(exc), exc.code, exc.message)
    return response(exc)


async def _validation(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's request validation, worded like the domain's: the first error names its field."""
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    first: dict[str, Any] = dict(errors[0]) if errors else {"loc": (), "msg": "invalid request"}
    if first.get("type") == "json_invalid":
        # Its loc is ("body", <character offset>): the offset is where, not what.
        offset = (first.get("loc") or ("body", "?"))[-1]
        reason = (first.get("ctx") or {}).get("error", first.get("msg"))
        return JSONResponse(
            body(f"body: malformed JSON at character {offset}: {reason}", "invalid_input", "body"), status_code=422
        )
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


async def _client_gone(request: Request, exc: Exception) -> Response:
    """A client that went away mid-body (an upload cut short) is its business, not an error of ours;
    nothing was stored. No answer reaches it, so none is worth building."""
    log.info("%s %s: the client went away before sending the whole body", request.method, request.url.path)
    return Response(status_code=CLIENT_CLOSED_REQUEST)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("%s %s failed", request.method, request.url.path, exc_info=exc)
    return JSONResponse(body("internal server error", "internal"), status_code=500)


def install(app: FastAPI) -> None:
    app.add_exception_handler(SovitsError, _domain)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(ClientDisconnect, _client_gone)
    app.add_exception_handler(Exception, _unexpected)
