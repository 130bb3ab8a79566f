"""The newest task bodies seen: what a reconcile pass starts from instead of a fresh read.

resourceVersions here are words with no order, as the API conventions allow."""

from __future__ import annotations

from typing import Any

from sovits_core.model import TrainingTask
from sovits_kube.latest import AWAIT_S, Latest

KEY = ("ns", "voice1")


def body(version: str | None, phase: str = "running", **meta: Any) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": "voice1", "namespace": "ns", "uid": "u1", "generation": 1, **meta}
    if version is not None:
        metadata["resourceVersion"] = version
    return {
        "apiVersion": "sovits.io/v1alpha1",
        "kind": "TrainingTask",
        "metadata": metadata,
        "spec": {"expName": "voice1", "pipeline": "full"},
        "status": {"phase": phase},
    }


def phase_of(latest: Latest) -> str:
    kept = latest.get(KEY)
    assert kept is not None
    return str(kept["status"]["phase"])


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_late_watch_event_does_not_bring_back_a_status_written_since() -> None:
    latest = Latest()
    latest.watched(body("b7", phase="created"))
    latest.answered(body("a3", phase="running"))  # our status patch's answer
    latest.watched(body("b7", phase="created"))  # the stream catching up, in its own order
    assert phase_of(latest) == "running"


def test_once_the_stream_shows_our_write_its_later_events_are_taken_in_order() -> None:
    latest = Latest()
    latest.answered(body("a3", phase="running"))
    latest.watched(body("a3", phase="running"))
    latest.watched(body("0", phase="running", labels={"team": "b"}))  # no order: "0" is newer by position
    kept = latest.get(KEY)
    assert kept is not None and kept["metadata"]["labels"] == {"team": "b"}


def test_a_spec_change_is_news_even_before_the_stream_shows_our_write() -> None:
    latest = Latest()
    latest.answered(body("a3", phase="running"))
    changed = body("c9", phase="running", generation=2)
    changed["spec"]["cancel"] = True
    latest.watched(changed)
    kept = latest.get(KEY)
    assert kept is not None and kept["spec"].get("cancel") is True


def test_a_write_the_stream_never_shows_is_waited_for_only_a_while() -> None:
    clock = Clock()
    latest = Latest(clock)
    latest.answered(body("a3", phase="running"))
    latest.watched(body("z1", phase="running", labels={"relisted": "yes"}))
    assert "labels" not in (latest.get(KEY) or {}).get("metadata", {})
    clock.now = AWAIT_S
    latest.watched(body("z1", phase="running", labels={"relisted": "yes"}))
    kept = latest.get(KEY)
    assert kept is not None and kept["metadata"]["labels"] == {"relisted": "yes"}


def test_a_finished_task_is_not_kept_and_its_older_events_do_not_bring_it_back() -> None:
    latest = Latest()
    latest.watched(body("a1", phase="running"))
    latest.answered(body("a2", phase="completed"))
    assert latest.get(KEY) is None
    latest.watched(body("a1", phase="running"))  # late: must not look like a running task
    assert latest.get(KEY) is None
    latest.watched(body("a2", phase="completed"))
    assert latest.get(KEY) is None and len(latest) == 0


def test_an_answer_without_a_resource_version_forces_a_fresh_read() -> None:
    latest = Latest()
    latest.watched(body("7"))
    latest.answered(body(None))
    assert latest.get(KEY) is None


def test_a_kept_body_leaves_out_managed_fields_and_annotations_and_still_parses_as_a_task() -> None:
    latest = Latest()
    latest.watched(body("3", managedFields=[{"manager": "kubectl"}], annotations={"sovits.io/last-handled": "{}"}))
    kept = latest.get(KEY)
    assert kept is not None
    assert "managedFields" not in kept["metadata"] and "annotations" not in kept["metadata"]
    task = TrainingTask.model_validate(kept)
    assert (task.metadata.uid, task.metadata.generation, task.status.phase) == ("u1", 1, "running")


def test_a_kept_body_is_a_copy_that_later_edits_of_the_event_do_not_reach() -> None:
    latest = Latest()
    original = body("3")
    latest.watched(original)
    original["status"]["phase"] = "failed"
    original["spec"]["pipeline"] = None
    kept = latest.get(KEY)
    assert kept is not None and kept["status"]["phase"] == "running" and kept["spec"]["pipeline"] == "full"


def test_a_dropped_task_is_read_fresh_again() -> None:
    latest = Latest()
    latest.watched(body("3"))
    latest.drop(KEY)
    assert latest.get(KEY) is None and len(latest) == 0


def test_an_answer_the_stream_has_already_shown_does_not_hide_the_streams_later_events() -> None:
    latest = Latest()
    latest.watched(body("a3", phase="running"))  # the stream, quicker than our patch's answer
    latest.watched(body("k8", phase="running", labels={"team": "b"}))  # and someone's later change
    latest.answered(body("a3", phase="running"))  # our answer, arriving last
    kept = latest.get(KEY)
    assert kept is not None and kept["metadata"]["labels"] == {"team": "b"}
    latest.watched(body("m2", phase="running", labels={"team": "c"}))
    kept = latest.get(KEY)
    assert kept is not None and kept["metadata"]["labels"] == {"team": "c"}
