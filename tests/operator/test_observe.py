"""Observing Jobs: the facts reconcile needs, read from Job and Pod objects as the API serves them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sovits_core.contract import EXIT_BAD_INPUT
from sovits_operator.observe import observe_job, prune_job, prune_pod

JOB = "voice1-train-gpt-1"


def job(*conditions: dict[str, Any], ttl: int | None = None, deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": JOB, "namespace": "ns", "labels": {"x": "y"}, "managedFields": [{}]}
    if deleting:
        meta["deletionTimestamp"] = "2025-01-01T12:10:00Z"
    return prune_job(
        {"metadata": meta, "spec": {"ttlSecondsAfterFinished": ttl}, "status": {"conditions": list(conditions)}}
    )


def cond(type_: str, at: str = "2025-01-01T12:05:00Z", **extra: Any) -> dict[str, Any]:
    return {"type": type_, "status": "True", "lastTransitionTime": at, **extra}


def pod(phase: str, *, exit_code: int | None = None, message: str | None = None, reason: str = "Error",
        scheduled: dict[str, Any] | None = None, name: str = "p1") -> dict[str, Any]:  # fmt: skip
    status: dict[str, Any] = {"phase": phase, "conditions": [scheduled] if scheduled else []}
    if exit_code is not None:
        terminated = {"exitCode": exit_code, "reason": reason, "message": message, "finishedAt": "2025-01-01T12:04:00Z"}
        status["containerStatuses"] = [{"name": "step", "state": {"terminated": terminated}}]
    return prune_pod({"metadata": {"name": name, "labels": {"batch.kubernetes.io/job-name": JOB}}, "status": status})


def test_a_job_without_a_final_condition_is_active() -> None:
    assert observe_job(job(), []).state == "active"


def test_a_complete_job_succeeded_at_its_completion_time() -> None:
    seen = observe_job(job(cond("Complete", "2025-01-01T12:07:00Z")), [])

    assert seen.state == "succeeded"
    assert seen.finished_at == datetime(2025, 1, 1, 12, 7, tzinfo=UTC)


def test_a_failed_job_carries_its_pods_exit_code_and_termination_message() -> None:
    seen = observe_job(
        job(cond("Failed", reason="BackoffLimitExceeded")), [pod("Failed", exit_code=75, message="S3 down\n")]
    )

    assert (seen.state, seen.exit_code, seen.message) == ("failed", 75, "S3 down")


def test_a_container_killed_at_its_memory_limit_is_named_oomkilled_before_its_log_tail() -> None:
    observed = observe_job(job(cond("Failed")), [pod("Failed", exit_code=137, reason="OOMKilled", message="loading\n")])
    assert observed.exit_code == 137
    assert observed.message == "OOMKilled: the step went over its memory limit; last output: loading"

    silent = observe_job(job(cond("Failed")), [pod("Failed", exit_code=137, reason="OOMKilled")])
    assert silent.message == "OOMKilled: the step went over its memory limit"


def test_bad_input_from_any_shard_wins_so_the_step_is_not_retried() -> None:
    pods = [
        pod("Failed", exit_code=75, message="timeout", name="a"),
        pod("Failed", exit_code=EXIT_BAD_INPUT, message="empty transcript", name="b"),
    ]

    seen = observe_job(job(cond("Failed")), pods)

    assert (seen.exit_code, seen.message) == (EXIT_BAD_INPUT, "empty transcript")


def test_a_failed_job_without_pods_falls_back_to_the_jobs_own_message() -> None:
    seen = observe_job(
        job(cond("Failed", reason="DeadlineExceeded", message="Job was active longer than specified deadline")), []
    )

    assert seen.message == "Job was active longer than specified deadline"


def test_an_unschedulable_pod_reports_since_when_and_the_schedulers_message() -> None:
    scheduled = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                 "message": "0/6 nodes are available: 6 Insufficient nvidia.com/gpu.",
                 "lastTransitionTime": "2025-01-01T12:01:00Z"}  # fmt: skip

    seen = observe_job(job(), [pod("Pending", scheduled=scheduled)])

    assert seen.unschedulable_since == datetime(2025, 1, 1, 12, 1, tzinfo=UTC)
    assert "nvidia.com/gpu" in (seen.unschedulable_message or "")


def test_pods_of_other_jobs_are_ignored() -> None:
    terminated = {"state": {"terminated": {"exitCode": 65, "message": "x"}}}
    other = prune_pod(
        {"metadata": {"labels": {"job-name": "else"}}, "status": {"phase": "Failed", "containerStatuses": [terminated]}}
    )

    seen = observe_job(job(cond("Failed", message="BackoffLimitExceeded")), [other])

    assert seen.exit_code is None


def test_ttl_and_deletion_are_seen() -> None:
    assert observe_job(job(ttl=600), []).ttl_set is True
    assert observe_job(job(), []).ttl_set is False
    assert observe_job(job(deleting=True), []).deleting is True


def test_a_job_failed_by_its_disruption_rule_is_an_interruption_not_the_steps_failure() -> None:
    evicted = cond(
        "Failed", reason="PodFailurePolicy",
        message="Pod ns/p1 has condition DisruptionTarget matching FailJob rule at index 0",
    )  # fmt: skip

    observed = observe_job(job(evicted), [pod("Failed", exit_code=143)])

    assert (observed.state, observed.interrupted) == ("failed", True)


def test_a_job_failed_by_its_backoff_limit_is_the_steps_own_failure() -> None:
    observed = observe_job(job(cond("Failed", reason="BackoffLimitExceeded")), [pod("Failed", exit_code=1)])

    assert (observed.state, observed.interrupted) == ("failed", False)


def test_a_complete_job_carries_its_pods_termination_message_as_its_result() -> None:
    done = pod("Succeeded", exit_code=0, message="2.1 s of speech | result: {}\n", reason="Completed")

    assert observe_job(job(cond("Complete")), [done]).result == "2.1 s of speech | result: {}"
    assert observe_job(job(cond("Complete")), []).result is None
