"""Turning Job and Pod objects into the ``ObservedJob`` facts that reconcile reads.

Pure functions over plain dicts (what the watch streams deliver). The operator keeps only the
pruned shapes in memory, so thousands of tasks cost little.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sovits_core import contract
from sovits_core.reconcile import JobState, ObservedJob

from .jobs import DISRUPTION_TARGET

JOB_NAME_LABELS = ("batch.kubernetes.io/job-name", "job-name")


def parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(str(value))


def prune_job(body: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of a Job that observe_job reads."""
    meta, spec, status = body.get("metadata", {}), body.get("spec", {}), body.get("status") or {}
    return {
        "metadata": {"name": meta.get("name"), "deletionTimestamp": meta.get("deletionTimestamp")},
        "spec": {"ttlSecondsAfterFinished": spec.get("ttlSecondsAfterFinished")},
        "status": {
            "conditions": status.get("conditions") or [],
            "completionTime": status.get("completionTime"),
        },
    }


def is_complete(job: Mapping[str, Any]) -> bool:
    """The (pruned) Job succeeded."""
    return any(
        c.get("type") == "Complete" and c.get("status") == "True"
        for c in (job.get("status") or {}).get("conditions") or []
    )


def is_recorded(job: Mapping[str, Any]) -> bool:
    """The Job finished and its TTL is set. The TTL is set only once status holds the outcome
    (reconcile's ExpireJob), so its news, including its deletion, changes no decision."""
    finished = any(
        c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
        for c in (job.get("status") or {}).get("conditions") or []
    )
    return finished and (job.get("spec") or {}).get("ttlSecondsAfterFinished") is not None


def prune_pod(body: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of a step pod that observe_job reads."""
    meta, status = body.get("metadata", {}), body.get("status") or {}
    labels = meta.get("labels") or {}
    terminated = [
        (cs.get("state") or {}).get("terminated")
        for cs in status.get("containerStatuses") or []
        if (cs.get("state") or {}).get("terminated")
    ]
    return {
        "name": meta.get("name"),
        "job": next((labels[k] for k in JOB_NAME_LABELS if k in labels), None),
        "deleting": bool(meta.get("deletionTimestamp")),
        "phase": status.get("phase"),
        "scheduled": next((c for c in status.get("conditions") or [] if c.get("type") == "PodScheduled"), None),
        "terminated": terminated,
    }


def is_unschedulable(pod: Mapping[str, Any]) -> bool:
    """A (pruned) pod the scheduler could not place: Job events cover success and failure, so
    a pod is news alone only then."""
    return bool((pod.get("scheduled") or {}).get("reason") == "Unschedulable")


def observe_job(job: Mapping[str, Any], pods: Iterable[Mapping[str, Any]]) -> ObservedJob:
    """Facts about a (pruned) Job and its (pruned) pods."""
    name = str(job["metadata"]["name"])
    mine = [p for p in pods if p.get("job") == name]
    status = job.get("status") or {}
    true = {c.get("type"): c for c in status.get("conditions") or [] if c.get("status") == "True"}
    state: JobState = "active"
    finished_at = None
    exit_code = None
    message = None
    interrupted = False
    result = None
    if "Complete" in true:
        state = "succeeded"
        result = next((t.get("message") for p in mine for t in p.get("terminated") or [] if t.get("message")), None)
        finished_at = parse_time(status.get("completionTime")) or parse_time(true["Complete"].get("lastTransitionTime"))
    elif "Failed" in true:
        state = "failed"
        finished_at = parse_time(true["Failed"].get("lastTransitionTime"))
        exit_code, message = _termination(mine)
        message = message or true["Failed"].get("message") or true["Failed"].get("reason")
        interrupted = exit_code != contract.EXIT_BAD_INPUT and is_disruption(true["Failed"])
    since, why = _unschedulable(mine) if state == "active" else (None, None)
    return ObservedJob(
        name=name,
        state=state,
        finished_at=finished_at,
        exit_code=exit_code,
        message=message.strip() if message else None,
        unschedulable_since=since,
        unschedulable_message=why,
        deleting=bool(job["metadata"].get("deletionTimestamp")),
        ttl_set=(job.get("spec") or {}).get("ttlSecondsAfterFinished") is not None,
        interrupted=interrupted,
        result=result.strip() if result else None,
    )


def is_disruption(failed: Mapping[str, Any]) -> bool:
    """The Job failed by its pod failure policy's DisruptionTarget rule: evicted or preempted."""
    return failed.get("reason") == "PodFailurePolicy" and DISRUPTION_TARGET in str(failed.get("message") or "")


def _termination(pods: list[Mapping[str, Any]]) -> tuple[int | None, str | None]:
    """The failed container's exit code and message; bad input wins, so it is never retried."""
    failures = [
        (int(t.get("exitCode", 1)), _message(t), str(t.get("finishedAt") or ""))
        for pod in pods
        for t in pod.get("terminated") or []
        if int(t.get("exitCode", 0)) != 0
    ]
    if not failures:
        return None, None
    bad_input = [f for f in failures if f[0] == contract.EXIT_BAD_INPUT]
    code, message, _ = (bad_input or sorted(failures, key=lambda f: (f[1] is not None, f[2])))[-1]
    return code, message


def _message(terminated: Mapping[str, Any]) -> str | None:
    """The termination message; a container the kernel killed at its memory limit says so
    first (its own message is then only the log tail that FallbackToLogsOnError copied)."""
    message = terminated.get("message")
    if terminated.get("reason") != "OOMKilled":
        return message
    oom = "OOMKilled: the step went over its memory limit"
    return f"{oom}; last output: {message.strip()}" if message and message.strip() else oom


def _unschedulable(pods: list[Mapping[str, Any]]) -> tuple[datetime | None, str | None]:
    waiting = [
        p["scheduled"]
        for p in pods
        if not p.get("deleting")
        and p.get("phase") == "Pending"
        and p.get("scheduled")
        and p["scheduled"].get("status") == "False"
        and p["scheduled"].get("reason") == "Unschedulable"
    ]
    if not waiting:
        return None, None
    first = min(waiting, key=lambda c: str(c.get("lastTransitionTime") or ""))
    return parse_time(first.get("lastTransitionTime")), first.get("message")
