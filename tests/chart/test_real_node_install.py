"""`helm install` of the chart with the images hack/images.sh built, on the real node: the
operator and the API run as pods (non-root, read-only root file systems), reach the API server
through the ``kubernetes`` Service (kube-proxy) and SeaweedFS through the node's veth; the
operator pod runs a TrainingTask's steps as containers, and when it is deleted mid-step its
replacement picks the task up and finishes it without starting the step again."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.operator.cluster.test_end_to_end import credentials_secret, objects
from tests.support.audio import encode, white_noise
from tests.support.cluster import get_json
from tests.support.helm_release import Release, install
from tests.support.processes import wait_for
from tests.support.real_node import NODE_NAME, RealNodeCluster
from tests.support.tasks import status, task_jobs, training_task, unique

pytestmark = pytest.mark.real_node

TOKEN = "real-node-test-token"


def repository_and_tag(ref: str) -> tuple[str, str]:
    repository, _, tag = ref.rpartition(":")
    return repository, tag


@pytest.fixture(scope="module")
def release(real_node: RealNodeCluster) -> Iterator[Release]:
    operator_repo, operator_tag = repository_and_tag(real_node.node.load_image("operator"))
    step_repo, step_tag = repository_and_tag(real_node.node.load_image("step-audio"))

    def secrets(namespace: str) -> None:
        tokens = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "sovits-api-tokens", "namespace": namespace},
            "data": {TOKEN: base64.b64encode(namespace.encode()).decode()},
        }
        real_node.cluster.apply(credentials_secret(namespace, real_node.store), tokens)

    values = {
        "image.repository": operator_repo,
        "image.tag": operator_tag,
        "steps.image.repository": step_repo,
        "steps.image.tag": step_tag,
        "storage.endpointUrl": real_node.pod_endpoint_url,
        "storage.bucket": real_node.store.bucket,
    }
    args = [a for k, v in values.items() for a in ("--set-string", f"{k}={v}")]
    args += ["--set", "operator.retryBackoffSeconds=1", "--set", "operator.progressIntervalSeconds=1"]
    yield from install(real_node.cluster, *args, "--wait", "--timeout=4m", prepare=secrets)


def component_pods(release: Release, component: str) -> list[dict[str, Any]]:
    selector = f"app.kubernetes.io/component={component}"
    items: list[dict[str, Any]] = get_json(release.cluster, "pods", "-n", release.namespace, "-l", selector)["items"]
    return items


def ready_pod(release: Release, component: str, other_than: str = "") -> str | None:
    for pod in component_pods(release, component):
        conditions = {c["type"]: c["status"] for c in pod["status"].get("conditions", [])}
        if pod["metadata"]["name"] != other_than and conditions.get("Ready") == "True":
            return str(pod["metadata"]["name"])
    return None


def test_the_operator_and_the_api_run_as_pods_from_the_built_image_on_the_real_node(
    real_node: RealNodeCluster, release: Release
) -> None:
    image = real_node.node.load_image("operator")
    for component, uid in (("operator", 10001), ("api", 10001)):
        (pod,) = component_pods(release, component)
        assert pod["spec"]["nodeName"] == NODE_NAME
        (container,) = pod["spec"]["containers"]
        assert container["image"] == image
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert pod["spec"]["securityContext"]["runAsUser"] == uid
        (state,) = pod["status"]["containerStatuses"]
        assert state["ready"] is True and state["restartCount"] == 0, state
    # The operator's log shows it reached the API server through the kubernetes Service.
    operator_log = release.cluster.kubectl("logs", "deploy/rel-sovits-operator-operator", "-n", release.namespace)
    assert "Traceback" not in operator_log


def test_an_operator_pod_deleted_mid_step_comes_back_and_finishes_the_task(
    real_node: RealNodeCluster, release: Release, tmp_path: Path
) -> None:
    cluster, namespace = release.cluster, release.namespace
    first = wait_for(lambda: ready_pod(release, "operator"), what="operator pod Ready")
    name = unique("survive")
    long_take = encode(white_noise(600.0, rate=44100, std=0.05), tmp_path / "long_take.wav", rate=44100, channels=2)
    real_node.store.client().upload_file(str(long_take), real_node.store.bucket, f"tasks/{name}/input_audio/long.wav")
    cluster.apply(training_task(name, namespace, steps=[{"name": "convert_audio"}]))
    wait_for(lambda: status(cluster, namespace, name).get("phase") == "running", what="step running")

    cluster.kubectl("delete", "pod", first, "-n", namespace, "--wait=false")

    second = wait_for(lambda: ready_pod(release, "operator", other_than=first), timeout=120, what="new operator")
    found = wait_for(
        lambda: (s := status(cluster, namespace, name)).get("phase") in ("completed", "failed") and s,
        timeout=240, what="task settled",
    )  # fmt: skip
    assert found["phase"] == "completed", found
    assert second != first
    assert [(s["name"], s["phase"], s["attempts"]) for s in found["steps"]] == [("convert_audio", "completed", 1)]
    assert [j["metadata"]["name"] for j in task_jobs(cluster, namespace, name)] == [f"{name}-convert-audio-1"]
    assert sorted(objects(real_node.store, f"tasks/{name}/converted_wav/")) == ["long.wav"]
