"""The dataset report and transcript proofreading over a task's stored documents.

The report is ``sovits_core.dataset.report`` of asr_transcribe's measurements, the
current ``.list`` and extract_text_features' exclusion record, computed per request. An
edit rewrites the ``.list`` in place (later steps read it as they read asr_transcribe's
own) and appends who changed what to ``contract.TRANSCRIPT_EDITS_KEY``, so edits survive
restarts with the rest of the task's files. Edits are refused while a step that reads or
writes the list is pending or running. Two edits at once (through one API replica or
several) both land: each writes the list only if it is still the version it read (a
conditional write), and one that lost the race applies itself again to the new list.
Everything here blocks (object store calls).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sovits_core import contract, dataset_store
from sovits_core.catalog import CATALOG
from sovits_core.errors import Conflict, InvalidInput, NotFound, SovitsError
from sovits_core.model import TrainingTask
from sovits_core.storage import Changed, TaskFiles
from sovits_core.transcripts import LANGUAGES, Line, format_list

TRANSCRIPTS = contract.TRANSCRIPTS
# Steps that read or write the list: an edit while one of them waits or runs is refused.
LIST_STEPS = frozenset(name for name, d in CATALOG.items() if TRANSCRIPTS in d.inputs or TRANSCRIPTS in d.outputs)
MAX_TEXT = 2000
ATTEMPTS = 5  # conditional writes lost in a row before an edit gives up with 409


class DatasetNotReady(Conflict):
    code = "dataset_not_ready"


class TranscriptBusy(Conflict):
    code = "transcript_busy"


def _missing(what: str) -> SovitsError:
    return DatasetNotReady(f"the {what} does not exist yet: run step asr_transcribe first", field="asr_transcribe")


def clip_names(files: TaskFiles) -> set[str]:
    folder = contract.TRANSCRIBED_CLIPS
    return {info.key[len(folder) + 1 :] for info in files.iter_objects(f"{folder}/")}


def load_lines(files: TaskFiles, clips: set[str]) -> list[Line]:
    lines = dataset_store.stored_lines(files, clips)
    if lines is None:
        raise _missing("transcript")
    return lines


def build_report(files: TaskFiles, lines: list[Line] | None = None) -> dict[str, Any]:
    report = dataset_store.report_of(files, lines)
    if report is None:
        raise _missing("dataset report")
    return report


def transcript(files: TaskFiles) -> dict[str, Any]:
    lines = load_lines(files, clip_names(files))
    flags: dict[str, list[dict[str, str]]] = {}
    if files.exists(contract.DATASET_AUDIO_KEY):
        flags = {c["clip"]: c["flags"] for c in build_report(files, lines)["clips"]}
    entries = [
        {"clip": ln.clip, "language": ln.language, "text": ln.text, "flags": flags.get(ln.clip, [])} for ln in lines
    ]
    return {"entries": entries, "edits": dataset_store.edits(files)}


def check_idle(task: TrainingTask) -> None:
    busy = {s.name for s in task.status.steps if s.phase in ("pending", "running") and s.name in LIST_STEPS}
    current = task.status.current_step
    if task.status.phase == "running" and current in LIST_STEPS:
        busy.add(current)
    if busy:
        raise TranscriptBusy(
            f"the transcript cannot change while {', '.join(sorted(busy))} reads it; try again when it has finished",
            field="transcript",
        )


class TranscriptContended(Conflict):
    code = "transcript_contended"


def _rewrite(files: TaskFiles, key: str, change: Callable[[bytes | None], bytes | None]) -> bytes | None:
    """Read ``key``, ``change`` it and write the result back only if nobody wrote in between,
    trying again from the new version when somebody did. ``change`` gets None for a missing
    object and returns None to write nothing. What was written (or None)."""
    for _ in range(ATTEMPTS):
        try:
            data, version = files.get_versioned(key)
        except NotFound:
            data, version = None, None
        new = change(data)
        if new is None:
            return None
        try:
            files.put_bytes_if(key, new, version)
            return new
        except Changed:
            continue
    raise TranscriptContended(f"{key} kept changing under this edit ({ATTEMPTS} tries); try again", field="transcript")


def apply_patch(
    task: TrainingTask,
    files: TaskFiles,
    entries: Sequence[dict[str, Any]],
    drop: Sequence[str],
    by: str,
    now: datetime,
) -> dict[str, Any]:
    """Change text or language of lines, add a line for a measured clip that has none, drop
    lines; all or nothing. The answer is the new transcript."""
    if not entries and not drop:
        raise InvalidInput("body: give entries to change or clips to drop", field="entries")
    check_idle(task)
    clips = clip_names(files)
    changes: list[dict[str, Any]] = []

    def edited(data: bytes | None) -> bytes | None:
        if data is None:
            raise _missing("transcript")
        lines = {ln.clip: ln for ln in dataset_store.lines_of(data, clips)}
        changes.clear()  # a lost race applies the edit again, to the list as it is now
        for i, entry in enumerate(entries):
            clip = entry["clip"]
            old = lines.get(clip)
            if old is None and clip not in clips:
                raise InvalidInput(f"entries[{i}].clip: {clip!r} is not a clip of this task", field=f"entries.{i}.clip")
            text = old.text if old else ""
            if entry.get("text") is not None:
                text = _clean_text(entry["text"], f"entries.{i}.text")
            language = old.language if old else LANGUAGES[task.spec.language]
            if entry.get("language") is not None:
                language = LANGUAGES[entry["language"]]
            new = Line(clip, old.speaker if old else task.spec.exp_name, language, text)
            change = {k: [getattr(old, k) if old else None, getattr(new, k)] for k in ("text", "language")}
            change = {k: v for k, v in change.items() if v[0] != v[1]}
            if change:
                lines[clip] = new
                changes.append({"clip": clip, "change": change})
        for i, clip in enumerate(drop):
            if clip not in lines:
                raise InvalidInput(f"drop[{i}]: {clip!r} is not a line of the transcript", field=f"drop.{i}")
            del lines[clip]
            changes.append({"clip": clip, "change": {"drop": True}})
        if not changes:
            return None
        ordered = sorted(lines.values(), key=lambda ln: ln.clip)
        return format_list(ordered, contract.TRANSCRIBED_CLIPS).encode("utf-8")

    if _rewrite(files, contract.ASR_TRANSCRIPT_KEY, edited) is not None:
        stamp = {"at": now.isoformat(), "by": by}
        made = [{**stamp, **c} for c in changes]

        def recorded(data: bytes | None) -> bytes:
            history = (json.loads(data) if data is not None else []) + made
            return json.dumps(history, ensure_ascii=False).encode("utf-8")

        _rewrite(files, contract.TRANSCRIPT_EDITS_KEY, recorded)
    return transcript(files)


def _clean_text(text: str, field: str) -> str:
    flat = " ".join(text.split())
    if "|" in flat:
        raise InvalidInput(f"{field}: '|' separates the list's fields and cannot be part of the text", field=field)
    if len(flat) > MAX_TEXT:
        raise InvalidInput(f"{field}: longer than {MAX_TEXT} characters", field=field)
    return flat
