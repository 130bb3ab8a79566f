"""The newest task bodies seen: what a reconcile pass starts from instead of a fresh read."""

from __future__ import annotations

from typing import Any

from sovits_core.model import TrainingTask
from sovits_operator.latest import Latest

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


def test_a_late_watch_event_does_not_bring_back_a_status_written_since() -> None:
    latest = Latest()
    latest.offer(body("120", phase="completed"))  # our status patch's answer
    latest.offer(body("100", phase="running"))  # the stream catching up
    assert phase_of(latest) == "completed"


def test_a_body_at_least_as_new_replaces_the_kept_one() -> None:
    latest = Latest()
    latest.offer(body("9", phase="created"))
    latest.offer(body("10", phase="running"))  # numerically newer, though "10" < "9" as text
    assert phase_of(latest) == "running"
    latest.offer(body("10", phase="completed"))
    assert phase_of(latest) == "completed"


def test_a_body_without_an_integer_resource_version_is_not_kept_and_forces_a_fresh_read() -> None:
    latest = Latest()
    latest.offer(body("7"))
    latest.offer(body("opaque-1"))
    assert latest.get(KEY) is None
    latest.offer(body(None))
    assert latest.get(KEY) is None


def test_a_kept_body_leaves_out_managed_fields_and_annotations_and_still_parses_as_a_task() -> None:
    latest = Latest()
    latest.offer(body("3", managedFields=[{"manager": "kubectl"}], annotations={"sovits.io/last-handled": "{}"}))
    kept = latest.get(KEY)
    assert kept is not None
    assert "managedFields" not in kept["metadata"] and "annotations" not in kept["metadata"]
    task = TrainingTask.model_validate(kept)
    assert (task.metadata.uid, task.metadata.generation, task.status.phase) == ("u1", 1, "running")


def test_a_kept_body_is_a_copy_that_later_edits_of_the_event_do_not_reach() -> None:
    latest = Latest()
    original = body("3")
    latest.offer(original)
    original["status"]["phase"] = "failed"
    original["spec"]["pipeline"] = None
    kept = latest.get(KEY)
    assert kept is not None and kept["status"]["phase"] == "running" and kept["spec"]["pipeline"] == "full"


def test_a_dropped_task_is_read_fresh_again() -> None:
    latest = Latest()
    latest.offer(body("3"))
    latest.drop(KEY)
    assert latest.get(KEY) is None and len(latest) == 0
