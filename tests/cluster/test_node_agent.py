"""The test node agent runs pods bound to it as real local processes, like a tiny kubelet."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from tests.support.cluster import ClusterInfo, NodeAgentProcess, get_json, job_pods
from tests.support.processes import wait_for

pytestmark = pytest.mark.cluster


def agent_job(name: str, namespace: str, agent: NodeAgentProcess, script: str, env: list[Any]) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "nodeSelector": agent.node_selector,
                    "tolerations": [agent.TOLERATION],
                    "containers": [{"name": "main", "image": "local", "command": ["sh", "-c", script], "env": env}],
                }
            },
        },
    }


def finished_pod(cluster: ClusterInfo, namespace: str, job: str) -> dict[str, Any] | None:
    pods = job_pods(cluster, namespace, job)
    return pods[0] if pods and pods[0]["status"].get("phase") in {"Succeeded", "Failed"} else None


def test_a_pod_runs_as_a_local_process_with_its_env_and_secret(
    cluster: ClusterInfo, namespace: str, node_agent: NodeAgentProcess, tmp_path: Any
) -> None:
    marker = tmp_path / "ran.txt"
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "creds", "namespace": namespace},
        "data": {"key": base64.b64encode(b"s3cret").decode()},
    }
    env = [
        {"name": "GREETING", "value": "hello"},
        {"name": "KEY", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "key"}}},
    ]
    cluster.apply(secret, agent_job("runs", namespace, node_agent, f'echo "$GREETING $KEY" > {marker}', env))

    pod = wait_for(lambda: finished_pod(cluster, namespace, "runs"))

    assert pod["status"]["phase"] == "Succeeded"
    assert marker.read_text().strip() == "hello s3cret"
    wait_for(lambda: get_json(cluster, "job", "runs", "-n", namespace).get("status", {}).get("succeeded"))


def test_a_failing_process_reports_its_exit_code_and_termination_message(
    cluster: ClusterInfo, namespace: str, node_agent: NodeAgentProcess
) -> None:
    script = 'echo "no usable audio in input_audio/" > "$SOVITS_TERMINATION_LOG"; exit 65'
    cluster.apply(agent_job("fails", namespace, node_agent, script, []))

    pod = wait_for(lambda: finished_pod(cluster, namespace, "fails"))

    terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert pod["status"]["phase"] == "Failed"
    assert terminated["exitCode"] == 65
    assert terminated["message"].strip() == "no usable audio in input_audio/"


def test_deleting_a_running_pod_kills_its_process(
    cluster: ClusterInfo, namespace: str, node_agent: NodeAgentProcess, tmp_path: Any
) -> None:
    pidfile = tmp_path / "pid"
    cluster.apply(agent_job("sleeper", namespace, node_agent, f"echo $$ > {pidfile}; exec sleep 300", []))
    wait_for(lambda: pidfile.exists() and pidfile.read_text().strip())
    pid = int(pidfile.read_text())

    cluster.kubectl("delete", "job", "sleeper", "-n", namespace, "--cascade=foreground", "--timeout=60s")

    def gone() -> bool:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                return stat.read().split()[2] == "Z"
        except FileNotFoundError:
            return True

    wait_for(gone)
    assert json.loads(cluster.kubectl("get", "pods", "-n", namespace, "-o", "json"))["items"] == []
