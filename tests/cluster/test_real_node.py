"""The real node: the kubelet registers it Ready at its veth address, and a pod from an image
imported into containerd (no registry) runs as a runc container whose output `kubectl logs`
reads through the API server and the kubelet."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from tests.support.cluster import get_json
from tests.support.processes import wait_for
from tests.support.real_node import NODE_NAME, POD_CIDR, RealNodeCluster

pytestmark = pytest.mark.real_node


def sandbox_image(real_node: RealNodeCluster) -> str:
    return (real_node.node.build / "pause.ref").read_text().strip()


def talking_pod(name: str, namespace: str, image: str, *lines: str) -> dict[str, Any]:
    """A pod of the pause image, which prints its arguments and then waits for SIGTERM."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "terminationGracePeriodSeconds": 5,
            "automountServiceAccountToken": False,
            "securityContext": {"runAsNonRoot": True, "runAsUser": 65535},
            "containers": [
                {
                    "name": "main",
                    "image": image,
                    "imagePullPolicy": "Never",
                    "args": list(lines),
                    "securityContext": {"readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False},
                }
            ],
        },
    }


def test_the_node_registers_ready_at_its_veth_address_with_containerd(real_node: RealNodeCluster) -> None:
    node = get_json(real_node.cluster, "node", NODE_NAME)

    assert {a["type"]: a["address"] for a in node["status"]["addresses"]}[
        "InternalIP"
    ] == real_node.node.network.node_ip
    info = node["status"]["nodeInfo"]
    versions = dict(line.split("=") for line in (real_node.cluster.bin.parent / "versions").read_text().split())
    assert info["kubeletVersion"] == versions["kube"]
    assert info["containerRuntimeVersion"].startswith("containerd://1.6")
    assert [c["status"] for c in node["status"]["conditions"] if c["type"] == "Ready"] == ["True"]


def test_a_pod_from_an_imported_image_runs_and_kubectl_logs_reads_it(real_node: RealNodeCluster) -> None:
    cluster = real_node.cluster
    namespace = cluster.create_namespace("node")
    cluster.apply(talking_pod("talker", namespace, sandbox_image(real_node), "hello from the real node", "second line"))

    pod = wait_for(
        lambda: (p := get_json(cluster, "pod", "talker", "-n", namespace))["status"].get("phase") == "Running" and p,
        timeout=60, what="pod Running",
    )  # fmt: skip

    assert pod["spec"]["nodeName"] == NODE_NAME
    assert ipaddress.ip_address(pod["status"]["podIP"]) in ipaddress.ip_network(POD_CIDR)
    status = pod["status"]["containerStatuses"][0]
    assert status["containerID"].startswith("containerd://")
    assert status["imageID"]  # resolved by containerd from the imported image
    logs = wait_for(lambda: cluster.kubectl("logs", "talker", "-n", namespace), timeout=30, what="pod log")
    assert logs.splitlines() == ["hello from the real node", "second line"]

    # SIGTERM ends the container at once (the grace period is 5 s): the runtime really stops it.
    cluster.kubectl("delete", "pod", "talker", "-n", namespace, "--wait=true", "--timeout=20s")
    assert real_node.node.running_containers(namespace) == []
