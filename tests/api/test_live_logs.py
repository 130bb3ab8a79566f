"""A running step's log read live through the real API server: the app wired as `sovits api`
wires it (``cluster_services``, so ``KubePodLogs``), a real `sovits operator` running the
step's Job, and the kwok controller serving that Job's pod log as the fake node's kubelet.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from sovits_api.app import create_app
from sovits_api.services import cluster_services
from tests.support.cluster import ClusterInfo
from tests.support.operator_process import OperatorProcess, get_json, wait_for
from tests.support.seaweed import S3Store

from .conftest import s3_settings

pytestmark = pytest.mark.cluster

TOKEN = "live-logs-token"
STEP = "convert_audio"


@pytest.fixture
def client(cluster: ClusterInfo, namespace: str, s3_store: S3Store) -> Iterator[TestClient]:
    """The facade as `sovits api` builds it, for one tenant; webhooks off (not under test)."""
    # The operator's default prefix (tasks/), so the app and the operator agree on keys.
    settings = s3_settings(s3_store, "", tokens={TOKEN: namespace}, default_namespace=namespace)
    services = dataclasses.replace(cluster_services(settings, str(cluster.kubeconfig)), webhooks=False)
    with TestClient(create_app(services), headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        yield http


def cri_lines(*lines: tuple[str, str]) -> str:
    """Container log lines as a container runtime writes them (what a kubelet serves from)."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f000Z")
    return "".join(f"{now} {stream} F {text}\n" for stream, text in lines)


def running_pod(cluster: ClusterInfo, namespace: str, job: str) -> str | None:
    pods = get_json(cluster, "pods", "-n", namespace, "-l", f"job-name={job}")["items"]
    names = [p["metadata"]["name"] for p in pods if p["status"].get("phase") == "Running"]
    return names[0] if names else None


def test_a_running_steps_log_is_read_live_from_its_pod_and_tailed(
    cluster: ClusterInfo,
    namespace: str,
    operator: OperatorProcess,
    client: TestClient,
    s3_store: S3Store,
    stages: Callable[[dict[str, Any]], None],
    tmp_path: Path,
) -> None:
    created = client.post("/api/v1/task/create", json={"task_name": "live", "config": {"exp_name": "spk"}})
    task_id = created.json()["task_id"]
    stages(cluster.hold_pods_stage(f"{task_id}-hold", {"sovits.io/task": task_id}))
    # An earlier attempt's stored log: while the step runs, the pod's log must win over it.
    s3_store.client().put_object(Bucket=s3_store.bucket, Key=f"tasks/{task_id}/logs/{STEP}.log", Body=b"stale\n")
    assert client.post(f"/api/v1/task/{task_id}/step/{STEP}").status_code == 200

    def running_job() -> str | None:
        status = get_json(cluster, "trainingtask", task_id, "-n", namespace).get("status", {})
        steps = status.get("steps", [])
        return steps[-1].get("jobName") if status.get("phase") == "running" and steps else None

    job = wait_for(running_job, what=f"{STEP} running with a Job")
    pod = wait_for(lambda: running_pod(cluster, namespace, job), what=f"a Running pod of Job {job}")
    log_file = tmp_path / "container.log"
    log_file.write_text(cri_lines(("stdout", "converting a.wav"), ("stderr", "warn: mono"), ("stdout", "1 of 3")))
    cluster.apply(cluster.pod_log(pod, namespace, log_file))

    url = f"/api/v1/task/{task_id}/logs"

    # The kwok controller picks the Logs object up from a watch; until then the pod has no log.
    def served() -> dict[str, Any] | None:
        body: dict[str, Any] = client.get(url, params={"step": STEP}).json()
        return body if body["logs"] != "stale\n" else None

    body = wait_for(served, what="the pod's log served")
    assert body == {"logs": "converting a.wav\nwarn: mono\n1 of 3\n", "steps": [STEP]}

    tailed = client.get(url, params={"step": STEP, "tail": 2}).json()
    assert tailed == {"logs": "warn: mono\n1 of 3\n", "steps": [STEP]}

    with log_file.open("a") as grows:
        grows.write(cri_lines(("stdout", "2 of 3"), ("stdout", "3 of 3")))
    assert client.get(url, params={"step": STEP, "tail": 1}).json()["logs"] == "3 of 3\n"

    every_step = client.get(url).json()
    assert every_step["steps"] == [STEP]
    assert every_step["logs"].startswith(f"==> {STEP} <==\nconverting a.wav\n")
    assert every_step["logs"].endswith("2 of 3\n3 of 3\n")
