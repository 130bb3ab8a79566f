"""TrainingTask objects for the pure tests, shaped like what a store returns."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sovits_core.model import TrainingTask

CREATED = datetime(2024, 1, 15, 10, 30, tzinfo=UTC)
# A test sentence's quality score as status.quality records it (camelCase).
QUALITY: dict[str, Any] = {
    "speakerSimilarity": 0.93,
    "speakerModel": "eres2netv2",
    "errorRate": 0.14,
    "errorMetric": "wer",
    "asrBackend": "pocketsphinx",
    "secondsPerCharacter": 0.072,
    "pace": "ok",
}


def task(
    *,
    steps: list[dict[str, Any]] | None = None,
    status: dict[str, Any] | None = None,
    cancel: bool = False,
    annotations: dict[str, str] | None = None,
    **spec: Any,
) -> TrainingTask:
    return TrainingTask.model_validate(
        {
            "metadata": {
                "name": "123e4567-e89b-12d3-a456-426614174000",
                "namespace": "tenant-a",
                "generation": 1,
                "creationTimestamp": CREATED.isoformat(),
                "annotations": annotations or {},
            },
            "spec": {
                "taskName": "我的语音克隆任务",
                "expName": "my_speaker",
                "steps": steps or [],
                "cancel": cancel,
                **spec,
            },
            "status": status or {},
        }
    )


def request(name: str, request_id: str, **params: Any) -> dict[str, Any]:
    return {"name": name, "params": params, "requestId": request_id}


def record(name: str, phase: str, request_id: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"name": name, "phase": phase, "requestId": request_id, **extra}
