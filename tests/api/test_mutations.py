"""The API's writes: a step request is checked (busy, prerequisites, params) and appended."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sovits_api import bookkeeping
from sovits_api.mutations import append_step, request_cancel, step_request
from sovits_api.view import task_view
from sovits_core.errors import InvalidInput, PrerequisiteMissing, TaskBusy, UnknownStep

from .factories import record, request, task

NOW = datetime(2024, 2, 1, 9, 0, tzinfo=UTC)


def test_unknown_step_is_refused_listing_the_valid_ones() -> None:
    with pytest.raises(UnknownStep) as exc:
        step_request("make_coffee", {})
    assert "convert_audio" in exc.value.message


def test_negative_min_length_is_invalid_input_naming_the_field() -> None:
    with pytest.raises(InvalidInput) as exc:
        step_request("slice_audio", {"min_length": -34})
    assert exc.value.field == "min_length"
    assert "min_length" in exc.value.message


def test_seeds_slice_example_is_refused_for_its_shifted_labels() -> None:
    seed_example = {"min_length": -34, "min_interval": 4000, "hop_size": 300}
    with pytest.raises(InvalidInput):
        step_request("slice_audio", seed_example)


def test_request_gets_a_fresh_id_and_keeps_the_given_params_by_upstream_name() -> None:
    a = step_request("slice_audio", {"threshold": -40, "_max": 0.8})
    b = step_request("slice_audio", {})
    assert a.request_id and b.request_id and a.request_id != b.request_id
    assert a.params == {"threshold": -40, "_max": 0.8}


def test_first_step_appends_and_touches_updated_at() -> None:
    new = append_step(task(), step_request("convert_audio", {}), NOW)
    assert [s.name for s in new.spec.steps] == ["convert_audio"]
    assert bookkeeping.updated_at(new) == NOW


def test_step_while_another_runs_is_busy() -> None:
    running = task(steps=[request("convert_audio", "r1")], status={"phase": "running"})
    with pytest.raises(TaskBusy) as exc:
        append_step(running, step_request("convert_audio", {}), NOW)
    assert "convert_audio" in exc.value.message


def test_step_right_after_another_was_posted_is_busy_even_before_the_operator_saw_it() -> None:
    posted = append_step(task(), step_request("convert_audio", {}), NOW)
    with pytest.raises(TaskBusy):
        append_step(posted, step_request("convert_audio", {}), NOW)


def test_missing_prerequisites_are_named() -> None:
    with pytest.raises(PrerequisiteMissing) as exc:
        append_step(task(), step_request("slice_audio", {}), NOW)
    assert exc.value.missing == ["convert_audio"]
    assert "convert_audio" in exc.value.message


def test_completed_prerequisite_lets_the_next_step_through() -> None:
    done = task(
        steps=[request("convert_audio", "r1")],
        status={"phase": "completed", "steps": [record("convert_audio", "completed", "r1")]},
    )
    assert [s.name for s in append_step(done, step_request("slice_audio", {}), NOW).spec.steps] == [
        "convert_audio", "slice_audio",
    ]  # fmt: skip


def test_a_prerequisite_whose_rerun_failed_counts_as_missing_as_the_operator_sees_it() -> None:
    rerun_failed = task(
        steps=[request("convert_audio", "r1"), request("convert_audio", "r2")],
        status={
            "phase": "failed",
            "steps": [record("convert_audio", "completed", "r1"), record("convert_audio", "failed", "r2")],
        },
    )
    with pytest.raises(PrerequisiteMissing) as exc:
        append_step(rerun_failed, step_request("slice_audio", {}), NOW)
    assert exc.value.missing == ["convert_audio"]


def test_step_while_a_cancel_is_in_flight_is_busy() -> None:
    cancelling = task(steps=[request("convert_audio", "r1")], cancel=True, status={"phase": "running"})
    with pytest.raises(TaskBusy) as exc:
        append_step(cancelling, step_request("convert_audio", {}), NOW)
    assert "cancelled" in exc.value.message


def test_a_step_after_a_cancel_resumes_the_task() -> None:
    cancelled = task(steps=[request("convert_audio", "r1")], cancel=True,
                     status={"phase": "cancelled", "steps": [record("convert_audio", "cancelled", "r1")]})  # fmt: skip
    resumed = append_step(cancelled, step_request("convert_audio", {}), NOW)
    assert resumed.spec.cancel is False
    assert [r.request_id for r in resumed.spec.steps][:1] == ["r1"]  # the record's request stays
    assert task_view(resumed).status == "running"


def test_a_step_after_a_cancel_drops_requests_the_operator_never_started() -> None:
    # The operator may never see a cancel undone at once; the request waiting behind it must not run.
    cancelled = task(
        steps=[request("convert_audio", "r1"), request("slice_audio", "r2")], cancel=True,
        status={"phase": "completed", "steps": [record("convert_audio", "completed", "r1")]},
    )  # fmt: skip
    resumed = append_step(cancelled, step_request("slice_audio", {}), NOW)
    assert [r.request_id for r in resumed.spec.steps][:1] == ["r1"]
    assert [r.name for r in resumed.spec.steps] == ["convert_audio", "slice_audio"]
    assert resumed.spec.steps[1].request_id != "r2"
    assert resumed.spec.cancel is False


def test_a_step_without_a_cancel_keeps_every_request() -> None:
    done = task(
        steps=[request("convert_audio", "r1")],
        status={"phase": "completed", "steps": [record("convert_audio", "completed", "r1")]},
    )
    appended = append_step(done, step_request("slice_audio", {}), NOW)
    assert appended.spec.steps[0].request_id == "r1"


def test_cancel_sets_the_flag_and_keeps_the_requests() -> None:
    t = task(steps=[request("convert_audio", "r1")])
    cancelled = request_cancel(t, NOW)
    assert cancelled.spec.cancel is True
    assert cancelled.spec.steps == t.spec.steps
