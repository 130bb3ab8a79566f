"""The task view is a pure function of the TrainingTask; "no stale completed" lives here."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sovits_api import bookkeeping
from sovits_api.view import pending_request, task_view

from .factories import CREATED, QUALITY, record, request, task


def test_new_task_reads_created_with_the_seed_fields() -> None:
    view = task_view(task())
    assert (view.status, view.progress, view.current_step, view.error_message) == ("created", 0.0, None, None)
    assert view.created_at == CREATED
    assert view.updated_at == CREATED


def test_posted_step_reads_running_before_the_operator_records_it() -> None:
    status = {"phase": "completed", "progress": 100.0, "steps": [record("convert_audio", "completed", "r1")]}
    assert task_view(task(steps=[request("convert_audio", "r1")], status=status)).status == "completed"
    view = task_view(task(steps=[request("convert_audio", "r1"), request("slice_audio", "r2")], status=status))
    assert view.status == "running"
    assert view.current_step == "slice_audio"
    # Not the finished run's 100%: one of two equally weighted requested steps is done.
    assert view.progress == 50.0


def test_a_completed_task_names_its_last_step_as_the_seed_did_though_the_operator_clears_it() -> None:
    status = {"phase": "completed", "steps": [record("convert_audio", "completed", "r1"),
                                              record("slice_audio", "completed", "r2")]}  # fmt: skip
    view = task_view(task(steps=[request("convert_audio", "r1"), request("slice_audio", "r2")], status=status))
    assert (view.status, view.current_step) == ("completed", "slice_audio")


def test_rerun_of_a_completed_step_is_not_mistaken_for_its_old_completion() -> None:
    t = task(
        steps=[request("convert_audio", "r1"), request("convert_audio", "r2")],
        status={"phase": "completed", "steps": [record("convert_audio", "completed", "r1")]},
    )
    assert task_view(t).status == "running"


def test_recorded_request_shows_the_operators_status() -> None:
    t = task(
        steps=[request("convert_audio", "r1")],
        status={"phase": "failed", "errorMessage": "ffmpeg: no audio stream",
                "steps": [record("convert_audio", "failed", "r1")]},
    )  # fmt: skip
    view = task_view(t)
    assert (view.status, view.error_message) == ("failed", "ffmpeg: no audio stream")


def test_pending_request_hides_the_previous_failures_message() -> None:
    t = task(
        steps=[request("convert_audio", "r1"), request("convert_audio", "r2")],
        status={"phase": "failed", "errorMessage": "old", "steps": [record("convert_audio", "failed", "r1")]},
    )
    assert task_view(t).error_message is None


def test_status_keeping_only_the_latest_record_per_step_settles_older_requests() -> None:
    # r1 (convert) was replaced by r3's record; everything up to r3 is settled.
    t = task(
        steps=[request("convert_audio", "r1"), request("slice_audio", "r2"), request("convert_audio", "r3")],
        status={"phase": "completed", "steps": [record("convert_audio", "completed", "r3"),
                                                 record("slice_audio", "completed", "r2")]},
    )  # fmt: skip
    assert pending_request(t) is None
    assert task_view(t).status == "completed"


def test_requests_without_an_id_are_left_to_the_status() -> None:
    t = task(steps=[{"name": "convert_audio"}], status={"phase": "created"})
    assert task_view(t).status == "created"


def test_cancel_reads_cancelled_at_once() -> None:
    t = task(steps=[request("convert_audio", "r1")], cancel=True, status={"phase": "running"})
    assert task_view(t).status == "cancelled"


@pytest.mark.parametrize(
    "status",
    [{"phase": "created"}, {"phase": "completed", "steps": [record("convert_audio", "completed", "r1")]}],
    ids=["never-run", "between-steps"],
)
def test_cancel_of_an_idle_task_reads_cancelled(status: dict[str, object]) -> None:
    # The operator has nothing to stop and leaves its phase; cancel is a level the view shows.
    steps = [request("convert_audio", "r1")] if status["phase"] == "completed" else []
    assert task_view(task(steps=steps, cancel=True, status=status)).status == "cancelled"


def test_a_cancelled_task_hides_requests_it_never_started() -> None:
    t = task(steps=[request("convert_audio", "r1")], cancel=True, status={"phase": "created"})
    view = task_view(t)
    assert (view.status, view.current_step) == ("cancelled", None)


def test_updated_at_is_the_newest_moment_the_object_shows() -> None:
    later = datetime(2024, 1, 15, 11, 0, tzinfo=UTC)
    latest = datetime(2024, 1, 15, 12, 0, tzinfo=UTC)
    t = task(
        annotations={bookkeeping.UPDATED_AT: later.isoformat()},
        status={"phase": "completed", "steps": [record("convert_audio", "completed", "r1",
                                                       startedAt=later.isoformat(), finishedAt=latest.isoformat())]},
    )  # fmt: skip
    assert task_view(t).updated_at == latest


def test_the_view_shows_the_quality_score_the_status_records() -> None:
    status = {"phase": "completed", "steps": [record("test_inference", "completed", "r1")], "quality": QUALITY}

    view = task_view(task(steps=[request("test_inference", "r1")], status=status))

    assert view.quality is not None and view.model_dump(mode="json", by_alias=True)["quality"] == QUALITY
    assert task_view(task()).quality is None
