"""reconcile: one pure decision from a task, its Jobs and the time to actions and a new status."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from sovits_core.catalog import STEP_ORDER
from sovits_core.contract import EXIT_BAD_INPUT, EXIT_OUT_OF_MEMORY, EXIT_RETRYABLE, RESULT_MARK
from sovits_core.launch import job_name
from sovits_core.model import Condition, TrainingTask
from sovits_core.reconcile import (
    CreateJob,
    DeleteJob,
    ExpireJob,
    ObservedJob,
    Outcome,
    RecordEvent,
    RequeueAfter,
    at_rest,
    quality_of,
    reconcile,
)
from tests.operator.builders import (
    SETTINGS,
    T0,
    a_task,
    add_request,
    created_jobs,
    failed,
    interrupted,
    run_to_rest,
    running,
    step_once,
    succeeded,
    with_spec,
)


def ready(task: TrainingTask) -> Condition:
    return next(c for c in task.status.conditions if c.type == "Ready")


def condition(task: TrainingTask, type_: str) -> Condition | None:
    return next((c for c in task.status.conditions if c.type == type_), None)


def reasons(outcome: Outcome) -> list[str]:
    return [e.reason for e in outcome.of(RecordEvent)]


def record(task: TrainingTask, name: str) -> dict[str, object]:
    return [s for s in task.status.steps if s.name == name][-1].model_dump()


def featured(done: int = 8, **spec: Any) -> TrainingTask:
    """A task whose first ``done`` steps have completed (eight: every step before training)."""
    task, _, _ = run_to_rest(a_task(*STEP_ORDER[:done], **spec))
    return task


def batch_of(outcome: Outcome) -> object:
    (create,) = outcome.of(CreateJob)
    return create.launch.params["batch_size"]


# -- requests and ordering --------------------------------------------------------------------


def test_a_task_without_requests_stays_created_and_not_ready() -> None:
    task, outcome = step_once(a_task())

    assert task.status.phase == "created"
    assert (ready(task).status, ready(task).reason) == ("False", "Created")
    assert outcome.actions == ()


def test_the_first_request_creates_its_job_and_the_task_runs() -> None:
    task, outcome = step_once(a_task("convert_audio"))

    assert created_jobs(outcome) == ["voice1-convert-audio-1"]
    assert task.status.phase == "running"
    assert task.status.current_step == "convert_audio"
    assert record(task, "convert_audio")["job_name"] == "voice1-convert-audio-1"
    assert (ready(task).status, ready(task).reason) == ("False", "StepRunning")
    assert "StepStarted" in reasons(outcome)


def test_only_one_step_runs_at_a_time_while_others_wait() -> None:
    task, _ = step_once(a_task("convert_audio", "slice_audio"))

    task, outcome = step_once(task, [running("voice1-convert-audio-1")])

    assert created_jobs(outcome) == []
    assert [s.name for s in task.status.steps] == ["convert_audio"]


def test_a_succeeded_job_completes_its_step_and_starts_the_next_request_in_the_same_pass() -> None:
    task, _ = step_once(a_task("convert_audio", "slice_audio"))

    task, outcome = step_once(task, [succeeded("voice1-convert-audio-1")])

    assert record(task, "convert_audio")["phase"] == "completed"
    assert created_jobs(outcome) == ["voice1-slice-audio-1"]
    assert task.status.current_step == "slice_audio"
    assert reasons(outcome) == ["StepCompleted", "StepStarted"]


def test_the_last_success_completes_the_task_ready_with_full_progress() -> None:
    task, outcomes, _ = run_to_rest(a_task("convert_audio", "slice_audio"))

    assert task.status.phase == "completed"
    assert (ready(task).status, ready(task).reason) == ("True", "Completed")
    assert task.status.progress == 100.0
    assert "Completed" in reasons(outcomes[-1])


def test_pipeline_full_runs_all_eleven_steps_in_catalog_order() -> None:
    task, _, order = run_to_rest(a_task(pipeline="full"))

    assert order == [job_name("voice1", step, 1) for step in STEP_ORDER]
    assert task.status.phase == "completed"
    assert [s.request_id for s in task.status.steps] == ["pipeline"] * 11


def test_pipeline_full_asks_only_for_the_steps_not_yet_completed() -> None:
    task, _, _ = run_to_rest(a_task("convert_audio", "slice_audio"))

    task, _, order = run_to_rest(with_spec(task, pipeline="full"))

    assert order[0] == job_name("voice1", "denoise_audio", 1)
    assert len(order) == 9


def test_a_handled_request_is_not_run_again_when_reconciled_again() -> None:
    task, _, order = run_to_rest(a_task("convert_audio"))

    again, outcome = step_once(task, [succeeded(order[0])])

    assert created_jobs(outcome) == []
    assert again.status == task.status
    assert outcome.of(RecordEvent) == []


def test_a_new_request_id_runs_a_completed_step_again_under_a_new_job_name() -> None:
    task, _, first = run_to_rest(a_task({"name": "convert_audio", "requestId": "r1"}))

    task, _, second = run_to_rest(add_request(task, "convert_audio", "r2"))

    assert first == ["voice1-convert-audio-1"] and second == ["voice1-convert-audio-2"]
    assert [(s.request_id, s.phase) for s in task.status.steps] == [("r1", "completed"), ("r2", "completed")]


def test_a_request_whose_prerequisites_have_not_completed_fails_naming_them() -> None:
    task, outcome = step_once(a_task("train_gpt"))

    assert created_jobs(outcome) == []
    assert task.status.phase == "failed"
    assert ready(task).reason == "PrerequisiteMissing"
    assert "train_sovits" in ready(task).message
    assert "train_sovits" in (task.status.error_message or "")


def test_invalid_params_fail_the_task_for_good_with_the_validation_message() -> None:
    task, outcome = step_once(a_task({"name": "convert_audio", "params": {"sample_rate": 100}}))

    assert created_jobs(outcome) == []
    assert task.status.phase == "failed"
    assert ready(task).reason == "InvalidParams"
    assert (task.status.error_message or "").startswith("convert_audio.params.sample_rate:")


# -- failure and retries ----------------------------------------------------------------------


def test_a_failed_job_is_retried_after_backoff_as_a_new_attempt() -> None:
    task, _ = step_once(a_task("convert_audio"))
    first = failed("voice1-convert-audio-1", at=T0)

    waiting, outcome = step_once(task, [first], now=T0 + timedelta(seconds=1))

    assert created_jobs(outcome) == []
    assert outcome.of(RequeueAfter) == [RequeueAfter(19.0)]  # attempt 2 waits 2 x 10 s
    assert waiting.status.phase == "running"
    assert ready(waiting).reason == "StepRetrying"
    assert "AttemptFailed" in reasons(outcome)

    retried, outcome = step_once(waiting, [first], now=T0 + timedelta(seconds=20))

    assert created_jobs(outcome) == ["voice1-convert-audio-2"]
    assert record(retried, "convert_audio")["attempts"] == 2


def failed_every_attempt() -> tuple[TrainingTask, Outcome]:
    """convert_audio's Job failing on every attempt, each retried after its backoff."""
    task, outcome = step_once(a_task("convert_audio"))
    jobs: list[ObservedJob] = []
    now = T0
    for attempt in range(1, SETTINGS.max_attempts + 1):
        jobs.append(failed(job_name("voice1", "convert_audio", attempt), "ffmpeg: no audio stream", at=now))
        now += timedelta(minutes=5)
        task, outcome = step_once(task, jobs, now=now)
    return task, outcome


def test_after_the_last_attempt_the_task_fails_with_the_pods_termination_message() -> None:
    task, outcome = failed_every_attempt()

    assert created_jobs(outcome) == []
    assert task.status.phase == "failed"
    assert task.status.error_message == "ffmpeg: no audio stream"
    assert ready(task).reason == "StepFailed"
    assert record(task, "convert_audio")["attempts"] == 3


def test_an_interrupted_run_starts_again_at_once_without_using_up_an_attempt() -> None:
    task, _ = step_once(a_task("convert_audio"))
    jobs = []
    for run in range(1, SETTINGS.max_attempts + 2):  # more interruptions than attempts allowed
        jobs.append(interrupted(job_name("voice1", "convert_audio", run)))
        task, outcome = step_once(task, jobs)
        assert created_jobs(outcome) == [job_name("voice1", "convert_audio", run + 1)]

    assert task.status.phase == "running"
    assert record(task, "convert_audio")["attempts"] == 1
    assert record(task, "convert_audio")["interruptions"] == SETTINGS.max_attempts + 1
    assert "StepInterrupted" in reasons(outcome)


def test_a_failure_after_interruptions_still_gets_its_retries_under_fresh_job_names() -> None:
    task, _ = step_once(a_task("convert_audio"))
    jobs = [interrupted("voice1-convert-audio-1")]
    task, _ = step_once(task, jobs)
    jobs.append(failed("voice1-convert-audio-2", at=T0))

    task, outcome = step_once(task, jobs, now=T0 + timedelta(minutes=1))

    assert created_jobs(outcome) == ["voice1-convert-audio-3"]
    assert (record(task, "convert_audio")["attempts"], record(task, "convert_audio")["interruptions"]) == (2, 1)


def test_interruptions_past_the_bound_fail_the_step_as_a_crash_loop() -> None:
    settings = SETTINGS.model_copy(update={"max_interruptions": 2})
    task, _ = step_once(a_task("convert_audio"), settings=settings)
    jobs = []
    for run in range(1, 4):
        jobs.append(interrupted(job_name("voice1", "convert_audio", run), "evicted: node drained"))
        task, outcome = step_once(task, jobs, settings=settings)

    assert created_jobs(outcome) == []
    assert task.status.phase == "failed"
    assert task.status.error_message == "interrupted 3 times, giving up: evicted: node drained"


def test_a_step_run_again_after_interruptions_gets_a_job_name_no_earlier_run_used() -> None:
    task, _ = step_once(a_task("convert_audio"))
    task, _ = step_once(task, [interrupted("voice1-convert-audio-1")])
    task, _ = step_once(task, [interrupted("voice1-convert-audio-1"), succeeded("voice1-convert-audio-2")])

    task, outcome = step_once(add_request(task, "convert_audio", request_id="again"))

    assert created_jobs(outcome) == ["voice1-convert-audio-3"]


def test_a_bad_input_exit_code_fails_the_task_without_a_retry() -> None:
    task, _ = step_once(a_task("convert_audio"))

    task, outcome = step_once(
        task, [failed("voice1-convert-audio-1", "no input audio uploaded", exit_code=EXIT_BAD_INPUT)]
    )

    assert created_jobs(outcome) == []
    assert task.status.phase == "failed"
    assert task.status.error_message == "no input audio uploaded"
    assert ready(task).reason == "BadInput"


def test_a_failure_marks_the_requests_waiting_behind_it_as_not_run() -> None:
    task, _ = step_once(a_task("convert_audio", "slice_audio"))

    task, _ = step_once(task, [failed("voice1-convert-audio-1", exit_code=EXIT_BAD_INPUT)])

    assert record(task, "slice_audio")["phase"] == "cancelled"
    assert record(task, "slice_audio")["message"] == "not run: convert_audio failed"


def test_a_request_added_after_a_failure_runs_and_clears_the_error() -> None:
    task, _ = step_once(a_task("convert_audio"))
    task, _ = step_once(task, [failed("voice1-convert-audio-1", exit_code=EXIT_BAD_INPUT)])

    task, outcome = step_once(add_request(task, "convert_audio", "again"))

    assert created_jobs(outcome) == ["voice1-convert-audio-2"]
    assert task.status.phase == "running"
    assert task.status.error_message is None


def test_the_pipeline_stops_at_a_failed_step_until_that_step_is_requested_again() -> None:
    task, _ = step_once(a_task(pipeline="full"))
    task, _ = step_once(task, [failed("voice1-convert-audio-1", exit_code=EXIT_BAD_INPUT)])

    stopped, outcome = step_once(task)
    resumed, _, order = run_to_rest(add_request(task, "convert_audio", "fix"))

    assert created_jobs(outcome) == [] and stopped.status.phase == "failed"
    assert order[0] == "voice1-convert-audio-2" and order[1] == "voice1-slice-audio-1"
    assert resumed.status.phase == "completed"


# -- edits: each entry of spec.steps is one request, identified by name, requestId and params ----

BAD_SLICE = {"name": "slice_audio", "params": {"min_length": -34}}
FIXED_SLICE = {"name": "slice_audio", "params": {"threshold": -34, "min_length": 4000}}


def a_task_whose_slice_failed_on_its_params() -> TrainingTask:
    task, _ = step_once(a_task("convert_audio", BAD_SLICE))
    task, _ = step_once(task, [succeeded("voice1-convert-audio-1")])
    assert (task.status.phase, record(task, "slice_audio")["phase"]) == ("failed", "failed")
    return task


def test_an_edited_request_runs_with_its_new_params_and_a_repeated_entry_runs_again() -> None:
    # The edit: slice_audio's params fixed and convert_audio listed again, no requestIds.
    edited = with_spec(
        a_task_whose_slice_failed_on_its_params(),
        steps=[{"name": "convert_audio"}, FIXED_SLICE, {"name": "convert_audio"}],
    )

    task, _, order = run_to_rest(edited)

    assert order == ["voice1-slice-audio-1", "voice1-convert-audio-2"]
    assert task.status.phase == "completed"
    assert [(s.name, s.phase) for s in task.status.steps] == [
        ("convert_audio", "completed"),
        ("slice_audio", "failed"),
        ("slice_audio", "completed"),
        ("convert_audio", "completed"),
    ]
    assert (ready(task).status, ready(task).message) == ("True", "every requested step completed")


def test_a_failed_request_left_as_it_was_keeps_the_task_failed_whatever_ran_after() -> None:
    task = a_task_whose_slice_failed_on_its_params()

    task, _, order = run_to_rest(
        with_spec(task, steps=[{"name": "convert_audio"}, BAD_SLICE, {"name": "convert_audio"}])
    )

    assert order == ["voice1-convert-audio-2"]
    assert task.status.phase == "failed"
    assert task.status.current_step == "slice_audio"
    assert ready(task).reason == "StepFailed"
    assert "slice_audio failed earlier and was not requested again" in (task.status.error_message or "")


def test_an_unchanged_reordered_or_shortened_manifest_runs_nothing_again() -> None:
    task, _, _ = run_to_rest(a_task("convert_audio", {"name": "slice_audio", "params": {"threshold": -40}}))
    slice_first = [{"name": "slice_audio", "params": {"threshold": -40}}, {"name": "convert_audio"}]

    for steps in (slice_first, [{"name": "convert_audio"}], []):
        again, outcome = step_once(with_spec(task, steps=steps))

        assert created_jobs(outcome) == [], steps
        assert again.status.phase == "completed"


def test_params_differing_only_in_key_order_are_the_same_request() -> None:
    task, _, _ = run_to_rest(a_task({"name": "convert_audio", "params": {"sample_rate": 16000}}))

    reordered = with_spec(
        task, steps=[{"name": "convert_audio", "params": dict(reversed({"sample_rate": 16000}.items()))}]
    )
    _, outcome = step_once(reordered)

    assert created_jobs(outcome) == []


def test_a_running_request_edited_finishes_first_and_then_runs_with_the_new_params() -> None:
    task, _ = step_once(a_task({"name": "convert_audio", "params": {"sample_rate": 16000}}))
    edited = with_spec(task, steps=[{"name": "convert_audio", "params": {"sample_rate": 22050}}])

    task, outcome = step_once(edited, [running("voice1-convert-audio-1")])
    assert created_jobs(outcome) == [] and outcome.of(DeleteJob) == []

    task, outcome = step_once(task, [succeeded("voice1-convert-audio-1")])
    assert [(c.launch.job_name, c.launch.params) for c in outcome.of(CreateJob)] == [
        ("voice1-convert-audio-2", {"sample_rate": 22050})
    ]


def test_a_record_written_before_params_digests_still_handles_its_request() -> None:
    task, _, _ = run_to_rest(a_task({"name": "convert_audio", "params": {"sample_rate": 16000}}))
    legacy = task.status.model_copy(
        update={"steps": [s.model_copy(update={"params_digest": None}) for s in task.status.steps]}
    )

    _, outcome = step_once(task.model_copy(update={"status": legacy}))

    assert created_jobs(outcome) == []


# -- scheduling -------------------------------------------------------------------------------

NO_GPU = "0/6 nodes are available: 2 Insufficient nvidia.com/gpu, 4 node(s) didn't match selector."


def waiting_for_gpu(since_s: float) -> ObservedJob:
    return ObservedJob(
        name="voice1-asr-transcribe-1",
        state="active",
        unschedulable_since=T0 - timedelta(seconds=since_s),
        unschedulable_message=NO_GPU,
    )


def test_a_pod_unschedulable_past_the_limit_gives_a_condition_naming_the_resource() -> None:
    task, outcome = step_once(a_task_running_asr(), [waiting_for_gpu(61)])

    unschedulable = condition(task, "Unschedulable")
    assert unschedulable is not None and unschedulable.status == "True"
    assert "nvidia.com/gpu" in unschedulable.message
    assert task.status.phase == "running"
    assert "PodUnschedulable" in reasons(outcome)


def test_a_pod_unschedulable_for_less_than_the_limit_only_asks_to_look_again() -> None:
    task, outcome = step_once(a_task_running_asr(), [waiting_for_gpu(15)])

    assert condition(task, "Unschedulable") is None
    assert outcome.of(RequeueAfter) == [RequeueAfter(45.0)]


def test_the_unschedulable_condition_turns_false_once_the_pod_is_scheduled() -> None:
    task, _ = step_once(a_task_running_asr(), [waiting_for_gpu(61)])

    task, outcome = step_once(task, [running("voice1-asr-transcribe-1")])

    unschedulable = condition(task, "Unschedulable")
    assert unschedulable is not None and unschedulable.status == "False"
    assert "PodUnschedulable" not in reasons(outcome)


def test_a_step_whose_pod_waits_for_resources_reads_waiting_at_once_in_ready() -> None:
    task, _ = step_once(a_task_running_asr(), [waiting_for_gpu(15)])

    assert (ready(task).status, ready(task).reason) == ("False", "WaitingForResources")
    assert ready(task).message.startswith("asr_transcribe waiting for resources (attempt 1 of 3): ")
    assert "nvidia.com/gpu" in ready(task).message


def test_cancelling_a_step_that_never_got_its_pod_scheduled_says_so() -> None:
    task, _ = step_once(a_task_running_asr(), [waiting_for_gpu(61)])

    task, _ = step_once(with_spec(task, cancel=True), [waiting_for_gpu(62)])

    unschedulable = condition(task, "Unschedulable")
    assert unschedulable is not None and unschedulable.status == "False"
    assert unschedulable.reason == "Cancelled"
    assert unschedulable.message == "stopped waiting: the task was cancelled before its pods were scheduled"


def a_task_running_asr() -> TrainingTask:
    task, _, _ = run_to_rest(a_task("convert_audio", "slice_audio", "denoise_audio"))
    task, _ = step_once(add_request(task, "asr_transcribe"))
    return task


# -- cancel -------------------------------------------------------------------------------------


def test_cancel_deletes_the_running_job_and_keeps_finished_steps() -> None:
    task, _ = step_once(a_task("convert_audio", "slice_audio", "denoise_audio"))
    task, _ = step_once(task, [succeeded("voice1-convert-audio-1")])
    jobs = [succeeded("voice1-convert-audio-1"), running("voice1-slice-audio-1")]

    task, outcome = step_once(with_spec(task, cancel=True), jobs)

    assert outcome.of(DeleteJob) == [DeleteJob("voice1-slice-audio-1")]
    assert task.status.phase == "cancelled"
    assert ready(task).reason == "Cancelled"
    assert [(s.name, s.phase) for s in task.status.steps] == [
        ("convert_audio", "completed"),
        ("slice_audio", "cancelled"),
        ("denoise_audio", "cancelled"),
    ]
    assert "Cancelled" in reasons(outcome)


def test_a_cancelled_task_stays_cancelled_and_quiet() -> None:
    task, _ = step_once(a_task("convert_audio"))
    task, _ = step_once(with_spec(task, cancel=True), [running("voice1-convert-audio-1")])

    again, outcome = step_once(task)

    assert again.status == task.status
    assert outcome.actions == ()


def test_a_new_request_after_cancel_resumes_the_task() -> None:
    task, _ = step_once(a_task("convert_audio", "slice_audio"))
    task, _ = step_once(task, [succeeded("voice1-convert-audio-1")])
    task, _ = step_once(with_spec(task, cancel=True), [running("voice1-slice-audio-1")])

    resumed = add_request(with_spec(task, cancel=False), "slice_audio", "resume")
    task, outcome = step_once(resumed, [succeeded("voice1-convert-audio-1")])

    assert created_jobs(outcome) == ["voice1-slice-audio-2"]
    assert task.status.phase == "running"


# -- what status tells about a run ------------------------------------------------------------


def test_a_run_records_its_start_finish_and_duration_in_whole_seconds() -> None:
    start = T0 + timedelta(microseconds=250_000)
    task, _ = step_once(a_task("convert_audio"), now=start)
    assert (task.status.started_at, task.status.finished_at, task.status.duration) == (T0, None, None)
    assert record(task, "convert_audio")["started_at"] == T0
    assert ready(task).last_transition_time == T0

    done_at = T0 + timedelta(minutes=62, seconds=3)
    task, _ = step_once(
        task, [succeeded("voice1-convert-audio-1", at=done_at)], now=done_at + timedelta(microseconds=7)
    )

    assert (task.status.finished_at, task.status.duration) == (done_at, "1h2m3s")


def test_a_new_run_clears_the_last_runs_finish() -> None:
    task, _, _ = run_to_rest(a_task("convert_audio"))

    task, _ = step_once(add_request(task, "convert_audio", "again"), now=T0 + timedelta(hours=1))

    assert (task.status.started_at, task.status.finished_at, task.status.duration) == (
        T0 + timedelta(hours=1),
        None,
        None,
    )


def test_a_failure_ends_the_run_too() -> None:
    task, _ = step_once(a_task("train_gpt"))

    assert task.status.phase == "failed"
    assert (task.status.started_at, task.status.finished_at, task.status.duration) == (T0, T0, "0s")


def test_a_completed_step_lists_the_folders_it_wrote() -> None:
    task, _, _ = run_to_rest(a_task(pipeline="full"))

    assert record(task, "convert_audio")["outputs"] == ["converted_wav/"]
    assert record(task, "train_sovits")["outputs"] == ["experiments/spk/"]
    assert record(task, "test_inference")["outputs"] == ["output/"]


def test_a_completed_task_names_no_current_step() -> None:
    task, _, _ = run_to_rest(a_task("convert_audio"))

    assert (task.status.phase, task.status.current_step) == ("completed", None)


def test_events_name_the_step_and_attempt_they_are_about() -> None:
    task, started = step_once(a_task("convert_audio"))
    task, failing = step_once(task, [failed("voice1-convert-audio-1", at=T0)])
    _, retried = step_once(task, [failed("voice1-convert-audio-1", at=T0)], now=T0 + timedelta(seconds=30))

    assert [(e.reason, e.step, e.attempt) for o in (started, failing, retried) for e in o.of(RecordEvent)] == [
        ("StepStarted", "convert_audio", 1),
        ("AttemptFailed", "convert_audio", 1),
        ("StepRetrying", "convert_audio", 2),
    ]


# -- progress, generations, events -------------------------------------------------------------


def test_progress_is_weighted_across_the_requested_steps() -> None:
    task, _ = step_once(a_task("convert_audio", "slice_audio", "denoise_audio"))

    task, _ = step_once(task, [succeeded("voice1-convert-audio-1")])
    # convert (0.02) of convert + slice + denoise (0.07) is done
    assert task.status.progress == round(100 * 0.02 / 0.07, 2)

    task, _ = step_once(task, [running("voice1-slice-audio-1")], progress={"slice_audio": 50})
    assert task.status.progress == round(100 * 0.03 / 0.07, 2)


def test_progress_never_goes_back_within_a_run() -> None:
    task, _ = step_once(a_task("convert_audio", "slice_audio"))
    task, _ = step_once(task, [running("voice1-convert-audio-1")], progress={"convert_audio": 80})

    task, _ = step_once(task, [running("voice1-convert-audio-1")], progress={"convert_audio": 30})

    assert record(task, "convert_audio")["progress"] == 80
    assert task.status.progress == 40.0


def test_observed_generation_is_recorded_on_status_and_conditions() -> None:
    task, _ = step_once(a_task("convert_audio", generation=7))

    assert task.status.observed_generation == 7
    assert ready(task).observed_generation == 7


def test_a_condition_keeps_its_transition_time_while_its_status_holds() -> None:
    task, _ = step_once(a_task("convert_audio", "slice_audio"))
    since = ready(task).last_transition_time

    task, _ = step_once(task, [succeeded("voice1-convert-audio-1")], now=T0 + timedelta(minutes=1))

    assert ready(task).last_transition_time == since


def test_every_transition_of_a_two_step_run_has_one_event() -> None:
    _, outcomes, _ = run_to_rest(a_task("convert_audio", "slice_audio"))

    assert [r for o in outcomes for r in reasons(o)] == [
        "StepStarted",
        "StepCompleted",
        "StepStarted",
        "StepCompleted",
        "Completed",
    ]


# -- Jobs the status already decided about ------------------------------------------------------


def test_a_finished_job_gets_its_ttl_only_after_status_recorded_its_outcome() -> None:
    task, _ = step_once(a_task("convert_audio"))
    done = succeeded("voice1-convert-audio-1")

    task, recording = step_once(task, [done])
    _, after = step_once(task, [done])

    assert recording.of(ExpireJob) == []
    assert after.of(ExpireJob) == [ExpireJob("voice1-convert-audio-1", SETTINGS.job_ttl_s)]


def test_a_completed_step_whose_job_is_gone_is_never_created_again() -> None:
    task, _, _ = run_to_rest(a_task("convert_audio"))

    _, outcome = step_once(task, [])

    assert outcome.actions == ()


def test_a_running_step_whose_job_is_missing_gets_the_same_job_name_again() -> None:
    task, first = step_once(a_task("convert_audio"))

    _, again = step_once(task, [])

    assert created_jobs(again) == created_jobs(first) == ["voice1-convert-audio-1"]
    assert again.of(RecordEvent) == []


def test_an_active_job_the_status_does_not_name_is_deleted() -> None:
    task, _ = step_once(a_task("convert_audio"))

    _, outcome = step_once(task, [running("voice1-convert-audio-1"), running("voice1-train-gpt-4")])

    assert outcome.of(DeleteJob) == [DeleteJob("voice1-train-gpt-4")]


# -- what a launch asks for ----------------------------------------------------------------------


def launch_of(task: TrainingTask) -> CreateJob:
    actions = reconcile(task, [], T0, SETTINGS).of(CreateJob)
    assert len(actions) == 1
    return actions[0]  # type: ignore[no-any-return]


def test_a_sharded_step_gets_one_shard_per_gpu_and_one_gpu_per_shard() -> None:
    task, _, _ = run_to_rest(a_task("convert_audio", "slice_audio", "denoise_audio", "asr_transcribe", gpus=3))

    launch = launch_of(add_request(task, "extract_text_features")).launch

    assert (launch.shards, launch.gpus_per_pod) == (3, 1)


def test_explicit_shards_win_over_the_gpu_count() -> None:
    task, _, _ = run_to_rest(a_task("convert_audio", "slice_audio", "denoise_audio", "asr_transcribe", gpus=3))

    launch = launch_of(add_request(task, "extract_text_features", shards=5)).launch

    assert launch.shards == 5


def test_cpu_steps_ask_for_no_gpu() -> None:
    assert launch_of(a_task("convert_audio", gpus=4)).launch.gpus_per_pod == 0


def test_a_training_step_gets_all_of_the_tasks_gpus_in_one_pod() -> None:
    task = a_task(pipeline="full", gpus=2)
    task, _, _ = run_to_rest(task)

    launch = launch_of(add_request(task, "train_sovits", "again")).launch

    assert (launch.shards, launch.gpus_per_pod) == (1, 2)


def test_denoising_needs_a_gpu_only_with_the_model_backend() -> None:
    task, _, _ = run_to_rest(a_task("convert_audio", "slice_audio"))

    spectral = launch_of(add_request(task, "denoise_audio", backend="spectral")).launch
    frcrn = launch_of(add_request(task, "denoise_audio", backend="frcrn")).launch

    assert (spectral.gpus_per_pod, frcrn.gpus_per_pod) == (0, 1)


def test_params_reach_the_launch_validated_with_defaults_filled_in() -> None:
    launch = launch_of(a_task({"name": "convert_audio", "params": {"sample_rate": 16000}})).launch

    assert launch.params == {"sample_rate": 16000}


# -- CUDA out of memory --------------------------------------------------------------------

OOM = "out of memory: upstream s2_train.py: torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB."


def test_a_training_step_starts_with_spec_batch_size_and_records_it() -> None:
    task, outcome = step_once(add_request(featured(batchSize=16), "train_sovits"))

    assert batch_of(outcome) == 16
    assert record(task, "train_sovits")["batch_size"] == 16


def test_a_step_without_a_batch_size_records_none() -> None:
    task, outcome = step_once(a_task("convert_audio"))

    assert record(task, "convert_audio")["batch_size"] is None
    assert "batch_size" not in outcome.of(CreateJob)[0].launch.params


def test_out_of_memory_runs_the_step_again_at_once_with_half_the_batch_without_using_an_attempt() -> None:
    task, _ = step_once(add_request(featured(batchSize=16), "train_sovits"))

    task, outcome = step_once(task, [failed("voice1-train-sovits-1", OOM, exit_code=EXIT_OUT_OF_MEMORY)])

    assert created_jobs(outcome) == ["voice1-train-sovits-2"]
    assert batch_of(outcome) == 8
    found = record(task, "train_sovits")
    assert (found["phase"], found["attempts"], found["memory_retries"], found["batch_size"]) == ("running", 1, 1, 8)
    assert found["message"] == f"CUDA out of memory at batch size 16; running again with batch size 8: {OOM}"
    assert "OutOfMemory" in reasons(outcome)
    assert ready(task).message == "train_sovits running (attempt 1 of 3, batch size 8 after CUDA ran out of memory)"


def test_the_request_batch_size_param_wins_over_the_spec_and_is_halved() -> None:
    task, outcome = step_once(add_request(featured(9, batchSize=16), "train_gpt", batch_size=6))
    assert batch_of(outcome) == 6

    task, outcome = step_once(task, [failed("voice1-train-gpt-1", OOM, exit_code=EXIT_OUT_OF_MEMORY)])

    assert batch_of(outcome) == 3


def test_halving_goes_down_to_one_and_then_fails_the_step_as_out_of_memory() -> None:
    task, _ = step_once(add_request(featured(batchSize=5), "train_sovits"))
    jobs: list[ObservedJob] = []
    sizes = []
    for run in range(1, 4):  # 5 -> 2 -> 1
        jobs.append(failed(job_name("voice1", "train_sovits", run), OOM, exit_code=EXIT_OUT_OF_MEMORY))
        task, outcome = step_once(task, jobs)
        sizes += [batch_of(outcome)] if created_jobs(outcome) else []

    assert sizes == [2, 1]
    assert task.status.phase == "failed"
    assert task.status.error_message == f"CUDA out of memory even at batch size 1: {OOM}"
    assert ready(task).reason == "OutOfMemory"
    assert record(task, "train_sovits")["memory_retries"] == 2


def test_a_step_completed_after_running_out_of_memory_keeps_the_batch_size_it_used() -> None:
    task, _ = step_once(add_request(featured(batchSize=16), "train_sovits"))
    task, _ = step_once(task, [failed("voice1-train-sovits-1", OOM, exit_code=EXIT_OUT_OF_MEMORY)])

    task, _ = step_once(task, [succeeded("voice1-train-sovits-2")])

    found = record(task, "train_sovits")
    assert (found["phase"], found["batch_size"]) == ("completed", 8)
    assert found["message"] == "completed with batch size 8 after CUDA ran out of memory 1 time(s)"


def test_an_ordinary_failure_mentioning_memory_keeps_the_batch_size_and_uses_an_attempt() -> None:
    """The exit code decides, not the message: only the step's own check says it was CUDA."""
    task, _ = step_once(add_request(featured(batchSize=16), "train_sovits"))
    first = failed("voice1-train-sovits-1", "RuntimeError: CUDA out of memory", exit_code=EXIT_RETRYABLE)

    task, outcome = step_once(task, [first], now=T0 + timedelta(minutes=1))

    assert created_jobs(outcome) == ["voice1-train-sovits-2"]
    assert batch_of(outcome) == 16
    found = record(task, "train_sovits")
    assert (found["attempts"], found["memory_retries"], found["batch_size"]) == (2, 0, 16)


def test_out_of_memory_in_a_step_without_a_batch_size_is_an_ordinary_failed_attempt() -> None:
    task, _ = step_once(add_request(featured(4), "extract_text_features"))
    first = failed("voice1-extract-text-features-1", OOM, exit_code=EXIT_OUT_OF_MEMORY)

    waiting, outcome = step_once(task, [first], now=T0 + timedelta(seconds=1))

    assert created_jobs(outcome) == [] and ready(waiting).reason == "StepRetrying"
    retried, outcome = step_once(waiting, [first], now=T0 + timedelta(minutes=1))
    assert created_jobs(outcome) == ["voice1-extract-text-features-2"]
    found = record(retried, "extract_text_features")
    assert (found["attempts"], found["memory_retries"], found["batch_size"]) == (2, 0, None)


def test_after_an_out_of_memory_run_a_failure_gets_a_fresh_job_name_and_the_smaller_batch() -> None:
    task, _ = step_once(add_request(featured(batchSize=16), "train_sovits"))
    jobs = [failed("voice1-train-sovits-1", OOM, exit_code=EXIT_OUT_OF_MEMORY)]
    task, _ = step_once(task, jobs)
    jobs.append(failed("voice1-train-sovits-2", "NCCL error", at=T0))

    task, outcome = step_once(task, jobs, now=T0 + timedelta(minutes=1))

    assert created_jobs(outcome) == ["voice1-train-sovits-3"]
    assert batch_of(outcome) == 8


# -- the quality score -------------------------------------------------------------------------

SCORE = {"speakerSimilarity": 0.93, "errorRate": 0.14, "errorMetric": "wer", "asrBackend": "pocketsphinx",
         "secondsPerCharacter": 0.072, "pace": "ok"}  # fmt: skip
RESULT = "2.1 s of speech in output/output.wav" + RESULT_MARK + json.dumps(SCORE)


def test_a_completed_test_inference_records_its_quality_score_in_status() -> None:
    task, _ = step_once(add_request(featured(10), "test_inference"))
    job = ObservedJob(name="voice1-test-inference-1", state="succeeded", finished_at=T0, result=RESULT)

    task, _ = step_once(task, [job])

    assert task.status.quality is not None
    # a step image from before the choice of embedding always used the cepstral one
    assert task.status.quality.wire() == {**SCORE, "speakerModel": "cepstral"}
    by_model = RESULT_MARK.join(["2.1 s", json.dumps({**SCORE, "speakerModel": "eres2netv2"})])
    parsed = quality_of(by_model)
    assert parsed is not None and parsed.wire() == {**SCORE, "speakerModel": "eres2netv2"}


def test_a_test_inference_without_a_readable_result_leaves_no_score() -> None:
    assert quality_of("2.1 s of speech in output/output.wav") is None
    assert quality_of("2.1 s" + RESULT_MARK + '{"speakerSimilarity": "high"}') is None
    assert quality_of(None) is None


def test_only_test_inference_sets_the_score() -> None:
    task, _ = step_once(a_task("convert_audio"))
    task, _ = step_once(task, [ObservedJob(name="voice1-convert-audio-1", state="succeeded", result=RESULT)])
    assert task.status.quality is None


# -- at rest: finished, with nothing left to observe ------------------------------------------


def a_cancelled_task() -> TrainingTask:
    task, _ = step_once(a_task("convert_audio", "slice_audio"))
    task, _ = step_once(with_spec(task, cancel=True), [running("voice1-convert-audio-1")])
    return task


def finished_tasks() -> list[TrainingTask]:
    completed, _, _ = run_to_rest(a_task(pipeline="full"))
    return [completed, failed_every_attempt()[0], a_cancelled_task()]


def test_a_finished_task_with_no_job_left_to_observe_is_at_rest_and_a_pass_would_change_nothing() -> None:
    for task in finished_tasks():
        outcome = reconcile(task, [], T0 + timedelta(hours=1), SETTINGS)

        assert at_rest(task, []), task.status.phase
        assert outcome.actions == ()
        assert outcome.status.wire() == task.status.wire()


def test_a_pass_leaves_the_status_it_was_given_untouched() -> None:
    task, _ = step_once(a_task("convert_audio"))
    before = task.status.wire()

    outcome = reconcile(task, [succeeded("voice1-convert-audio-1")], T0, SETTINGS)

    assert outcome.status.phase == "completed" and outcome.status.steps[0].phase == "completed"
    assert task.status.wire() == before


def test_a_finished_task_is_not_at_rest_while_one_of_its_jobs_is_still_to_observe() -> None:
    completed, _, order = run_to_rest(a_task("convert_audio"))

    assert not at_rest(completed, [succeeded(order[0])])


def test_a_finished_task_edited_since_its_last_pass_is_not_at_rest() -> None:
    for task in finished_tasks():
        assert not at_rest(with_spec(task), []), task.status.phase


def test_an_unfinished_task_is_never_at_rest() -> None:
    assert not at_rest(a_task("convert_audio"), [])
    assert not at_rest(step_once(a_task("convert_audio"))[0], [])
