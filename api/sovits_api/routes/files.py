"""Uploads into a task's ``input_audio/`` (or ``transcripts/``), the file listing, downloads."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Path, Request
from fastapi.responses import RedirectResponse, StreamingResponse

from sovits_api import files, uploads
from sovits_api.deps import ServicesDep, TaskIdDep, TenantDep
from sovits_api.errors import COMMON, PayloadTooLarge, documented
from sovits_api.schemas import FileList, Uploaded
from sovits_api.services import Services
from sovits_core import storage
from sovits_core.catalog import STEP_ORDER
from sovits_core.errors import NotFound

router = APIRouter(prefix="/api/v1", tags=["files"], responses=documented(404, *COMMON))

# The upload streams its body to the store under api.max_upload_bytes (see guard.BodyGuard).
STREAMED_BODY = re.compile(r"/api/v1/task/[^/]+/files/upload")

# Multipart framing around the file: boundaries and part headers.
_MULTIPART_SLACK = 64 * 1024

_UPLOAD_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {"file": {"type": "string", "format": "binary"}},
            }
        }
    },
}


@router.post(
    "/task/{task_id}/files/upload",
    response_model=Uploaded,
    summary="Upload audio (WAV, MP3, M4A, AAC, FLAC) or a .list transcript",
    description="The content decides, not the extension (415 names what was sent). Over the "
    "size limit: 413. A name already taken gets a number (`a.wav`, `a-1.wav`, ...); the answer's "
    "`filename` is the stored name.",
    openapi_extra={"requestBody": _UPLOAD_BODY},
    responses=documented(415),
)
async def upload(task_id: TaskIdDep, request: Request, svc: ServicesDep, tenant: TenantDep) -> Uploaded:
    limit = svc.settings.api.max_upload_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit + _MULTIPART_SLACK:
        raise PayloadTooLarge(f"file: larger than the limit of {limit} bytes", field="file")
    task = await asyncio.to_thread(svc.tasks.get, tenant.namespace, task_id)
    objects = svc.task_files(task)
    result = await uploads.receive(
        request.stream(), request.headers.get("content-type", ""), objects, limit, svc.reservations
    )
    await asyncio.to_thread(_keep_only_if_task_remains, svc, tenant.namespace, task_id, objects, result.path)
    svc.metrics.upload_bytes.inc(result.size)
    return Uploaded(
        message="file uploaded",
        filename=result.filename,
        path=result.path,
        size=result.size,
        content_type=result.media_type,
    )


def _keep_only_if_task_remains(
    svc: Services, namespace: str, task_id: str, objects: storage.TaskFiles, rel: str
) -> None:
    """A task deleted while its upload ran is gone for good: the upload goes too (404). A delete
    after this check removes the file with the rest of the task (blocking)."""
    try:
        task = svc.tasks.get(namespace, task_id)
        if not (task.metadata.model_extra or {}).get("deletionTimestamp"):
            return
    except NotFound:
        pass
    objects.delete(rel)
    raise NotFound(f"task {task_id} not found: it was deleted while the file was uploading", field="task_id")


@router.get("/task/{task_id}/files", response_model=FileList, summary="List a task's files")
def list_files(task_id: TaskIdDep, svc: ServicesDep, tenant: TenantDep) -> FileList:
    task = svc.tasks.get(tenant.namespace, task_id)
    return FileList(files=files.listing(svc.task_files(task), STEP_ORDER))


@router.get(
    "/task/{task_id}/files/download/{filename:path}",
    summary="Download a file",
    description="A bare name is looked up in output/, experiments/{exp_name}/ and the task "
    "folder (as the seed did); a path from the file listing names one file. Answers with a "
    "redirect to a short-lived presigned URL, or streams when the server is set to.",
    response_class=StreamingResponse,
    responses={307: {"description": "Redirect to a presigned URL"}},
)
def download(
    task_id: TaskIdDep,
    filename: Annotated[str, Path(max_length=1024)],
    svc: ServicesDep,
    tenant: TenantDep,
) -> Any:
    task = svc.tasks.get(tenant.namespace, task_id)
    objects = svc.task_files(task)
    rel = files.resolve(objects, filename, task.spec.exp_name)
    if svc.settings.api.download_mode == "redirect":
        url = objects.presign_get(rel, svc.settings.storage.presign_expiry_s)
        if url is not None:
            return RedirectResponse(url, status_code=307)
    chunks = files.read_chunks(objects, rel)
    first = next(chunks, b"")  # errors (a vanished object, the store down) before the headers go out
    name = rel.rsplit("/", 1)[-1]
    return StreamingResponse(
        _prepend(first, chunks),
        media_type="application/octet-stream",
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}"},
    )


def _prepend(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest
