"""The installed CRD on the real API server: status conditions are a list map keyed by type."""

from __future__ import annotations

import json

import pytest

from tests.support.cluster import ClusterInfo
from tests.support.helm_release import kubectl
from tests.support.tasks import training_task

pytestmark = pytest.mark.cluster


def ready(status: str, reason: str) -> dict[str, str]:
    return {
        "type": "Ready",
        "status": status,
        "reason": reason,
        "message": "",
        "lastTransitionTime": "2026-01-01T00:00:00Z",
    }


def test_two_conditions_of_one_type_are_refused_by_the_api_server(cluster: ClusterInfo, namespace: str) -> None:
    # No operator watches this namespace: the status below is all the API server sees.
    cluster.apply(training_task("conditions", namespace, steps=[]))
    patch = {"status": {"conditions": [ready("True", "Completed"), ready("False", "Failed")]}}

    result = kubectl(cluster, "patch", "trainingtask", "conditions", "-n", namespace, "--subresource=status",
                     "--type=merge", "-p", json.dumps(patch))  # fmt: skip

    assert result.returncode != 0
    assert 'status.conditions[1]: Duplicate value: {"type":"Ready"}' in result.stderr


def test_one_condition_per_type_is_stored(cluster: ClusterInfo, namespace: str) -> None:
    cluster.apply(training_task("conditions", namespace, steps=[]))
    patch = {"status": {"conditions": [ready("True", "Completed")]}}

    result = kubectl(cluster, "patch", "trainingtask", "conditions", "-n", namespace, "--subresource=status",
                     "--type=merge", "-p", json.dumps(patch))  # fmt: skip

    assert result.returncode == 0, result.stderr
    stored = json.loads(cluster.kubectl("get", "trainingtask", "conditions", "-n", namespace, "-o", "json"))
    assert [c["reason"] for c in stored["status"]["conditions"]] == ["Completed"]
