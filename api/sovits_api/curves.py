"""Training curves: the loss series the training steps record in ``progress/{step}.json``.

The step runner writes them beside its progress (``sovits_steps.progress``), bounded in size,
so the API reads one small object per training step, in S3 and under ``sovits local`` alike.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from sovits_core import contract, storage
from sovits_core.catalog import StepName
from sovits_core.errors import NotFound

from .schemas import StepCurves, TrainingCurves

log = logging.getLogger(__name__)

TRAINING_STEPS: tuple[StepName, ...] = ("train_sovits", "train_gpt")


def from_report(report: dict[str, Any]) -> StepCurves | None:
    """The curves of one progress report, or None when it holds none (or is not readable)."""
    metrics = report.get("metrics")
    if not isinstance(metrics, dict) or not metrics:
        return None
    try:
        return StepCurves(series=metrics, progress=report.get("progress"), updated_at=report.get("updated_at"))
    except ValueError as exc:  # a report from another version: no curves rather than a 500
        log.info("unreadable metrics in a progress report: %s", exc)
        return None


def collect(objects: storage.TaskFiles) -> TrainingCurves:
    """Each training step's curves, as its last progress report has them (blocking)."""
    steps: dict[StepName, StepCurves] = {}
    for step in TRAINING_STEPS:
        try:
            report = json.loads(objects.get_bytes(contract.PROGRESS_KEY.format(step=step)))
        except (NotFound, ValueError):  # not trained yet, or a report cut short
            continue
        if isinstance(report, dict) and (curves := from_report(report)) is not None:
            steps[step] = curves
    return TrainingCurves(steps=steps)
