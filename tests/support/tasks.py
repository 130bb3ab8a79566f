"""Reading TrainingTasks and what the operator made for them, for the cluster tests."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from tests.support.cluster import ClusterInfo, get_json


def training_task(name: str, namespace: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "sovits.io/v1alpha1",
        "kind": "TrainingTask",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"expName": "speaker1", **spec},
    }


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def status(cluster: ClusterInfo, namespace: str, name: str) -> dict[str, Any]:
    found: dict[str, Any] = get_json(cluster, "trainingtask", name, "-n", namespace).get("status") or {}
    return found


def phase_is(cluster: ClusterInfo, namespace: str, name: str, phase: str) -> Callable[[], bool]:
    return lambda: status(cluster, namespace, name).get("phase") == phase


def task_jobs(cluster: ClusterInfo, namespace: str, task: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = get_json(cluster, "jobs", "-n", namespace, "-l", f"sovits.io/task={task}")["items"]
    return items


def task_pods(cluster: ClusterInfo, namespace: str, task: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = get_json(cluster, "pods", "-n", namespace, "-l", f"sovits.io/task={task}")["items"]
    return items


def events_of(cluster: ClusterInfo, namespace: str, name: str) -> list[str]:
    items = get_json(cluster, "events", "-n", namespace, "--field-selector", f"involvedObject.name={name}")["items"]
    return [e["reason"] for e in items]


def a_pod_running(cluster: ClusterInfo, namespace: str, task: str) -> Callable[[], bool]:
    return lambda: any(p["status"].get("phase") == "Running" for p in task_pods(cluster, namespace, task))


def ready(found: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in found.get("conditions", []) if c["type"] == "Ready")
