"""The test control plane is real: the API server validates, the scheduler places, Jobs run."""

from __future__ import annotations

import json
import re
import subprocess
from typing import Any

import pytest
from tests.support.cluster import ClusterInfo, get_json, job_pods
from tests.support.processes import wait_for
from tests.support.tasks import training_task

pytestmark = pytest.mark.cluster


def job(name: str, namespace: str, gpus: int, labels: dict[str, str] | None = None) -> dict[str, Any]:
    resources = {"limits": {"nvidia.com/gpu": str(gpus)}} if gpus else {}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "metadata": {"labels": labels or {}},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "main", "image": "busybox", "resources": resources}],
                },
            },
        },
    }


def rejection(cluster: ClusterInfo, doc: dict[str, Any]) -> str:
    with pytest.raises(subprocess.CalledProcessError) as info:
        cluster.apply(doc)
    return str(info.value.stderr)


def test_a_valid_training_task_is_stored_and_read_back_with_defaults(cluster: ClusterInfo, namespace: str) -> None:
    cluster.apply(training_task("t1", namespace, steps=[{"name": "convert_audio"}], gpu={"count": 2}))

    stored = get_json(cluster, "trainingtask", "t1", "-n", namespace)

    assert [s["name"] for s in stored["spec"]["steps"]] == ["convert_audio"]
    assert stored["spec"]["gpu"]["count"] == 2
    assert stored["spec"]["modelVersion"] == "v2Pro"  # defaulted by the API server from the schema
    assert stored["spec"]["batchSize"] == 16


def test_the_short_name_and_printer_columns_are_served(cluster: ClusterInfo, namespace: str) -> None:
    cluster.apply(training_task("t2", namespace))

    table = cluster.kubectl("get", "tt", "-n", namespace, "-o", "wide")

    header = table.splitlines()[0].split()
    assert header == ["NAME", "PHASE", "STEP", "PROGRESS", "READY", "REASON", "DURATION", "AGE", "MESSAGE", "DATASET"]


def undescribed_fields(explained: str) -> list[str]:
    """Fields under FIELDS: of `kubectl explain` with no indented description below them (enums aside)."""
    lines = [line for line in explained.split("FIELDS:", 1)[1].splitlines() if not line.startswith("  enum: ")]
    return [
        line.split()[0]
        for line, after in zip(lines, [*lines[1:], ""], strict=True)
        if re.match(r"^  \w+\t<", line) and (not after.startswith("    ") or after.strip() == "<no description>")
    ]


def test_kubectl_explain_describes_every_spec_and_status_field(cluster: ClusterInfo) -> None:
    spec = cluster.kubectl("explain", "trainingtask.spec")
    status = cluster.kubectl("explain", "trainingtask.status")
    epochs = cluster.kubectl("explain", "trainingtask.spec.epochsS1")

    assert "epochsS2" in spec and "conditions" in status
    assert undescribed_fields(spec) + undescribed_fields(status) == []
    assert "GPT" in epochs and "train_gpt" in epochs


def test_an_unknown_step_name_is_rejected_by_the_api_server(cluster: ClusterInfo, namespace: str) -> None:
    message = rejection(cluster, training_task("bad-step", namespace, steps=[{"name": "make_coffee"}]))

    assert "spec.steps[0].name" in message
    assert "Unsupported value" in message and "convert_audio" in message


def test_negative_epochs_are_rejected_with_the_schema_bound(cluster: ClusterInfo, namespace: str) -> None:
    message = rejection(cluster, training_task("bad-epochs", namespace, epochsS2=-1))

    assert "spec.epochsS2" in message
    assert "should be greater than or equal to 1" in message


def test_a_missing_exp_name_is_rejected(cluster: ClusterInfo, namespace: str) -> None:
    doc = training_task("no-exp", namespace)
    del doc["spec"]["expName"]

    message = rejection(cluster, doc)

    assert "spec.expName" in message and "Required value" in message


def test_an_exp_name_outside_the_pattern_is_rejected(cluster: ClusterInfo, namespace: str) -> None:
    message = rejection(cluster, training_task("bad-exp", namespace, expName="../etc"))

    assert "spec.expName" in message and "should match" in message


def test_a_negative_gpu_count_is_rejected(cluster: ClusterInfo, namespace: str) -> None:
    message = rejection(cluster, training_task("bad-gpu", namespace, gpu={"count": -1}))

    assert "spec.gpu.count" in message


def test_status_is_a_subresource_that_spec_writes_cannot_touch(cluster: ClusterInfo, namespace: str) -> None:
    doc = training_task("t3", namespace)
    doc["status"] = {"phase": "completed"}
    cluster.apply(doc)

    assert "status" not in get_json(cluster, "tt", "t3", "-n", namespace)

    cluster.kubectl(
        "patch", "tt", "t3", "-n", namespace, "--subresource=status", "--type=merge",
        "-p", json.dumps({"status": {"phase": "running", "progress": 12.5}}),
    )  # fmt: skip
    assert get_json(cluster, "tt", "t3", "-n", namespace)["status"]["phase"] == "running"


def test_a_job_asking_for_one_gpu_runs_on_a_fake_gpu_node_and_succeeds(cluster: ClusterInfo, namespace: str) -> None:
    cluster.apply(job("one-gpu", namespace, gpus=1))

    def succeeded() -> bool:
        status = get_json(cluster, "job", "one-gpu", "-n", namespace).get("status", {})
        return bool(status.get("succeeded"))

    wait_for(succeeded)
    (pod,) = job_pods(cluster, namespace, "one-gpu")
    assert pod["status"]["phase"] == "Succeeded"
    node = get_json(cluster, "node", pod["spec"]["nodeName"])
    assert node["status"]["allocatable"]["nvidia.com/gpu"] == "8"


def test_a_job_asking_for_more_gpus_than_any_node_has_stays_pending_unschedulable(
    cluster: ClusterInfo, namespace: str
) -> None:
    cluster.apply(job("too-many", namespace, gpus=9))

    def unschedulable() -> dict[str, Any] | None:
        for pod in job_pods(cluster, namespace, "too-many"):
            for cond in pod["status"].get("conditions", []):
                if cond["type"] == "PodScheduled" and cond.get("reason") == "Unschedulable":
                    return cond  # type: ignore[no-any-return]
        return None

    condition = wait_for(unschedulable)
    assert "nvidia.com/gpu" in condition["message"]
    (pod,) = job_pods(cluster, namespace, "too-many")
    assert pod["status"]["phase"] == "Pending"
    assert "nodeName" not in pod["spec"]


def test_a_kwok_stage_fails_a_pod_with_an_exit_code_and_message(cluster: ClusterInfo, namespace: str) -> None:
    selector = {"sovits.test/fail": namespace}
    cluster.apply(cluster.fail_pods_stage(f"fail-{namespace}", selector, 65, "no usable audio"))
    try:
        cluster.apply(job("doomed", namespace, gpus=0, labels=selector))

        def failed() -> dict[str, Any] | None:
            pods = job_pods(cluster, namespace, "doomed")
            return pods[0] if pods and pods[0]["status"].get("phase") == "Failed" else None

        pod = wait_for(failed)
    finally:
        cluster.kubectl("delete", "stage", f"fail-{namespace}")
    terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert terminated["exitCode"] == 65
    assert terminated["message"] == "no usable audio"
    wait_for(lambda: get_json(cluster, "job", "doomed", "-n", namespace).get("status", {}).get("failed"))


def test_the_binaries_report_the_pinned_release(cluster: ClusterInfo) -> None:
    version = json.loads(cluster.kubectl("version", "-o", "json"))

    assert version["serverVersion"]["gitVersion"].startswith("v1.")
    assert version["serverVersion"]["gitVersion"] == version["clientVersion"]["gitVersion"]
    helm = subprocess.run([str(cluster.helm), "version", "--short"], capture_output=True, text=True, check=True)
    assert helm.stdout.startswith("v3.")
