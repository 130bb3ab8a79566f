"""The operator's log line per decision names the task, the step and the attempt."""

from __future__ import annotations

from sovits_core.reconcile import Event
from sovits_operator.controller import decision_line


def test_a_decision_about_a_step_names_namespace_task_step_and_attempt() -> None:
    event = Event(
        "Normal", "StepRetrying", "slice_audio attempt 2 of 3 started as Job v-slice-audio-2", "slice_audio", 2
    )

    assert decision_line("team-a", "v", event) == (
        "team-a/v step=slice_audio attempt=2 StepRetrying: slice_audio attempt 2 of 3 started as Job v-slice-audio-2"
    )


def test_a_decision_about_the_whole_task_names_the_task() -> None:
    event = Event("Normal", "Completed", "every requested step completed")

    assert decision_line("team-a", "v", event) == "team-a/v Completed: every requested step completed"
