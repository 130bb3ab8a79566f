"""The dataset report from a task's stored documents, and its short form in the status.

``report_of`` reads what ``dataset.report`` needs (blocking object-store calls); the REST API
serves it, the operator and the local runtime put its summary into ``status.dataset``
after each completed step that changes it (``summary_due`` decides, without I/O).
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

from . import contract, dataset
from .errors import SovitsError
from .model import DatasetStatus, TrainingTaskStatus
from .storage import TaskFiles
from .transcripts import Line, parse_list

log = logging.getLogger(__name__)

# Steps whose completion changes the report: the measurements and list, and the exclusions.
CHANGED_BY = ("asr_transcribe", "extract_text_features")


def read_json(files: TaskFiles, key: str) -> Any:
    return json.loads(files.get_bytes(key)) if files.exists(key) else None


def stored_lines(files: TaskFiles, clips: set[str]) -> list[Line] | None:
    """The current list, or None before asr_transcribe wrote it. Lines naming clips that are
    gone since (an earlier step ran again) stay visible rather than failing the whole list."""
    if not files.exists(contract.ASR_TRANSCRIPT_KEY):
        return None
    return lines_of(files.get_bytes(contract.ASR_TRANSCRIPT_KEY), clips)


def lines_of(data: bytes, clips: set[str]) -> list[Line]:
    """The stored list's lines; see ``stored_lines``."""
    named = {line.split("|", 1)[0].rsplit("/", 1)[-1] for line in data.decode("utf-8-sig").splitlines()}
    return parse_list(data, contract.ASR_TRANSCRIPT_KEY, clips | named, allow_empty=True)


def edits(files: TaskFiles) -> list[dict[str, Any]]:
    return list(read_json(files, contract.TRANSCRIPT_EDITS_KEY) or [])


def report_of(files: TaskFiles, lines: list[Line] | None = None) -> dict[str, Any] | None:
    """The dataset report, or None before asr_transcribe measured the clips."""
    audio = read_json(files, contract.DATASET_AUDIO_KEY)
    if audio is None:
        return None
    if lines is None:
        lines = stored_lines(files, {a["clip"] for a in audio["clips"]}) or []
    return dataset.report(
        audio["clips"],
        lines,
        dropped={e["clip"] for e in edits(files) if e["change"].get("drop")},
        excluded=read_json(files, contract.DATASET_EXCLUDED_KEY),
    )


def summary_due(status: TrainingTaskStatus) -> datetime | None:
    """When the newest completed step that changes the report finished, if the status's summary
    is older than that (or absent); None when nothing is to be read."""
    finished = [
        s.finished_at for s in status.steps if s.name in CHANGED_BY and s.phase == "completed" and s.finished_at
    ]
    newest = max(finished, default=None)
    if newest is None or (status.dataset is not None and status.dataset.observed_at >= newest):
        return None
    return newest


def summary_status(report: dict[str, Any], observed_at: datetime) -> DatasetStatus:
    s = report["summary"]
    return DatasetStatus(
        verdict=s["verdict"],
        usable_minutes=s["usable_minutes"],
        flagged_clips=s["flagged_clips"],
        clips=s["clips"],
        summary=dataset.status_line(s),
        observed_at=observed_at,
    )


def refresh_summary(status: TrainingTaskStatus, files: TaskFiles, task_name: str) -> None:
    """Put the summary into ``status`` when it is due (blocking). A report that cannot be read
    (a store that does not answer, a damaged document) is logged and leaves the status as it
    was; the next pass tries again."""
    due = summary_due(status)
    if due is None:
        return
    try:
        report = report_of(files)
    except (SovitsError, ValueError, KeyError) as exc:
        log.warning("task %s: dataset summary not read: %s", task_name, exc)
        return
    if report is not None:
        status.dataset = summary_status(report, due)
