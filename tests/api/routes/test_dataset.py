"""The dataset report and transcript proofreading through REST, on both task stores.

The stored documents come from a real asr_transcribe run over the problem clips of
tests/support/dataset.py (the session fixture ``transcribed``), copied into each test's task.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sovits_core import contract as c
from sovits_core.storage import ObjectStore, TaskFiles, open_store
from tests.support.dataset import cases

from ..conftest import Api, make_api

BLANK = next(case.clip for case in cases() if case.text == "")
COPY = next(case.clip for case in cases() if "duplicate" in case.expected)
CLEAN = cases()[0].clip


def task_files(api: Api, task_id: str) -> TaskFiles:
    return TaskFiles(api.services.objects, f"{api.services.settings.storage.tasks_prefix}{task_id}/")


def with_transcript(api: Api, transcribed: TaskFiles) -> str:
    task_id = api.create(language="en")["task_id"]
    target = task_files(api, task_id)
    for info in transcribed.iter_objects():  # keys relative to the task
        target.put_bytes(info.key, transcribed.get_bytes(info.key))
    return task_id


def report(api: Api, task_id: str) -> dict[str, Any]:
    response = api.request("GET", f"/api/v1/task/{task_id}/dataset")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def flags(body: dict[str, Any]) -> dict[str, set[str]]:
    return {clip["clip"]: {f["flag"] for f in clip["flags"]} for clip in body["clips"]}


def patch(api: Api, task_id: str, **body: Any) -> Any:
    return api.request("PATCH", f"/api/v1/task/{task_id}/transcript", json=body)


def test_before_asr_transcribe_the_report_and_transcript_name_the_step_to_run(api: Api) -> None:
    task_id = api.create()["task_id"]
    for path in ("dataset", "transcript"):
        response = api.request("GET", f"/api/v1/task/{task_id}/{path}")
        assert response.status_code == 409
        assert response.json()["code"] == "dataset_not_ready"
        assert "run step asr_transcribe" in response.json()["detail"]


def test_the_report_flags_each_problem_clip_for_its_reason(api: Api, transcribed: TaskFiles) -> None:
    body = report(api, with_transcript(api, transcribed))
    assert flags(body) == {case.clip: set(case.expected) for case in cases()}
    summary = body["summary"]
    assert summary["clips"] == len(cases()) and summary["verdict"] == "insufficient"
    assert summary["flagged_clips"] == sum(1 for case in cases() if case.expected)
    clean = next(clip for clip in body["clips"] if clip["clip"] == CLEAN)
    assert clean["source"] == "clean.wav" and clean["text"] == cases()[0].text and not clean["excluded"]
    assert 5 < clean["chars_per_s"] < 30 and clean["snr_db"] > 15


def test_proofreading_fixes_a_line_drops_a_clip_and_the_report_follows(api: Api, transcribed: TaskFiles) -> None:
    task_id = with_transcript(api, transcribed)
    entries = {e["clip"]: e for e in api.request("GET", f"/api/v1/task/{task_id}/transcript").json()["entries"]}
    assert {f["flag"] for f in entries[BLANK]["flags"]} == {"empty_text"}

    response = patch(api, task_id, entries=[{"clip": BLANK, "text": "water flows downhill"}], drop=[COPY])
    assert response.status_code == 200, response.text
    after = response.json()
    assert COPY not in {e["clip"] for e in after["entries"]}
    assert next(e for e in after["entries"] if e["clip"] == BLANK)["text"] == "water flows downhill"
    assert [(e["clip"], e["change"], e["by"]) for e in after["edits"]] == [
        (BLANK, {"text": ["", "water flows downhill"]}, api.backend.namespace),
        (COPY, {"drop": True}, api.backend.namespace),
    ]
    stored = task_files(api, task_id).get_bytes(c.ASR_TRANSCRIPT_KEY).decode()
    assert f"{c.TRANSCRIBED_CLIPS}/{BLANK}|alice|EN|water flows downhill" in stored.split("\n")
    assert COPY not in stored

    body = report(api, task_id)
    assert flags(body)[BLANK] == set()
    assert flags(body)[COPY] == {"dropped"} and COPY in body["summary"]["excluded"]
    assert body["summary"]["dropped"] == [COPY]
    # A restarted API (a new process over the same stores) sees the same transcript and edits.
    for again in make_api(api.backend, api.services.settings):
        assert again.request("GET", f"/api/v1/task/{task_id}/transcript").json() == after


class EditLandsBetween:
    """An API replica's object store through which, once, another replica's whole edit lands
    between this replica's read of the transcript and its write: the race of two replicas."""

    def __init__(self, store: ObjectStore, other_edit: Callable[[], None]) -> None:
        self.store = store
        self.other_edit: Callable[[], None] | None = other_edit

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def get_versioned(self, key: str) -> tuple[bytes, str]:
        read = self.store.get_versioned(key)
        self._after_read(key)
        return read

    def get_bytes(self, key: str) -> bytes:
        read = self.store.get_bytes(key)
        self._after_read(key)
        return read

    def _after_read(self, key: str) -> None:
        if key.endswith(c.ASR_TRANSCRIPT_KEY) and self.other_edit is not None:
            edit, self.other_edit = self.other_edit, None
            edit()


def test_two_replicas_editing_at_once_both_land_and_both_are_recorded(api: Api, transcribed: TaskFiles) -> None:
    task_id = with_transcript(api, transcribed)
    answers = []
    racing = EditLandsBetween(
        open_store(api.services.settings.storage),
        lambda: answers.append(patch(api, task_id, entries=[{"clip": BLANK, "text": "water flows downhill"}])),
    )
    for replica in make_api(api.backend, api.services.settings, objects=racing):
        answers.append(patch(replica, task_id, drop=[COPY]))

    assert [a.status_code for a in answers] == [200, 200] and racing.other_edit is None
    after = api.request("GET", f"/api/v1/task/{task_id}/transcript").json()
    texts = {e["clip"]: e["text"] for e in after["entries"]}
    assert texts[BLANK] == "water flows downhill" and COPY not in texts  # neither edit lost
    assert [(e["clip"], e["change"]) for e in after["edits"]] == [
        (BLANK, {"text": ["", "water flows downhill"]}),
        (COPY, {"drop": True}),
    ]


def test_an_unknown_clip_or_a_separator_in_the_text_is_refused_and_nothing_changes(
    api: Api, transcribed: TaskFiles
) -> None:
    task_id = with_transcript(api, transcribed)
    before = task_files(api, task_id).get_bytes(c.ASR_TRANSCRIPT_KEY)
    unknown = patch(api, task_id, entries=[{"clip": CLEAN, "text": "fine"}, {"clip": "nope.wav", "text": "x"}])
    assert unknown.status_code == 422 and "'nope.wav'" in unknown.json()["detail"]
    assert unknown.json()["field"] == "entries.1.clip"
    assert patch(api, task_id, drop=["nope.wav"]).json()["field"] == "drop.0"
    separator = patch(api, task_id, entries=[{"clip": CLEAN, "text": "a|b"}])
    assert separator.status_code == 422 and separator.json()["field"] == "entries.0.text"
    assert patch(api, task_id, entries=[{"clip": CLEAN, "language": "fr"}]).status_code == 422
    assert task_files(api, task_id).get_bytes(c.ASR_TRANSCRIPT_KEY) == before
    assert api.request("GET", f"/api/v1/task/{task_id}/transcript").json()["edits"] == []


def test_an_edit_while_a_step_reads_the_list_is_refused(api: Api, transcribed: TaskFiles) -> None:
    task_id = with_transcript(api, transcribed)
    api.write_status(
        task_id, phase="running", currentStep="extract_text_features",
        steps=[{"name": "extract_text_features", "phase": "running", "requestId": "r1", "jobName": "j-1"}],
    )  # fmt: skip
    response = patch(api, task_id, drop=[COPY])
    assert response.status_code == 409
    assert response.json()["code"] == "transcript_busy" and "extract_text_features" in response.json()["detail"]
    api.write_status(
        task_id, phase="running", currentStep="train_sovits",
        steps=[{"name": "train_sovits", "phase": "running", "requestId": "r2", "jobName": "j-2"}],
    )  # fmt: skip
    assert patch(api, task_id, drop=[COPY]).status_code == 200  # training reads the features, not the list
