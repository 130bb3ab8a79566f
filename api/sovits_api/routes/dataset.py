"""The dataset report and transcript proofreading (``proofreading`` does the work)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter

from sovits_api import proofreading
from sovits_api.deps import ServicesDep, TaskIdDep, TenantDep
from sovits_api.errors import COMMON, documented
from sovits_api.schemas import DatasetReport, Transcript, TranscriptPatch

router = APIRouter(prefix="/api/v1", tags=["dataset"], responses=documented(404, 409, *COMMON))


@router.get(
    "/task/{task_id}/dataset",
    response_model=DatasetReport,
    summary="The dataset report",
    description="Per clip: levels, clipping, SNR, edge silence, transcript, characters per second and flags "
    "with reasons; a summary with usable minutes, a verdict and advice. 409 `dataset_not_ready` until "
    "asr_transcribe has completed.",
)
def get_dataset(task_id: TaskIdDep, svc: ServicesDep, tenant: TenantDep) -> Any:
    task = svc.tasks.get(tenant.namespace, task_id)
    return proofreading.build_report(svc.task_files(task))


@router.get("/task/{task_id}/transcript", response_model=Transcript, summary="The transcript, for proofreading")
def get_transcript(task_id: TaskIdDep, svc: ServicesDep, tenant: TenantDep) -> Any:
    task = svc.tasks.get(tenant.namespace, task_id)
    return proofreading.transcript(svc.task_files(task))


@router.patch(
    "/task/{task_id}/transcript",
    response_model=Transcript,
    summary="Edit the transcript",
    description="Change the text or language of lines, give a clip without a line its text, or drop lines; "
    "all or nothing, recorded with who and when. 422 names an unknown clip; 409 `transcript_busy` while a "
    "step that reads the list waits or runs.",
)
def patch_transcript(task_id: TaskIdDep, body: TranscriptPatch, svc: ServicesDep, tenant: TenantDep) -> Any:
    task = svc.tasks.get(tenant.namespace, task_id)
    entries = [e.model_dump() for e in body.entries]
    return proofreading.apply_patch(task, svc.task_files(task), entries, body.drop, tenant.namespace, datetime.now(UTC))
