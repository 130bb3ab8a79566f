"""The chart's RBAC is enough: `sovits operator` and `sovits api` run here as local processes,
configured exactly as the chart's Deployments configure them (args, env, the settings
ConfigMap, Secret references) and authenticated as the chart's service accounts with real
tokens, and they carry TrainingTasks through the pipeline on kwok, cancel and delete them.
test_install.py shows, with `kubectl auth can-i`, that the same accounts may do no more."""

from __future__ import annotations

import base64
import contextlib
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from sovits_core.catalog import STEP_ORDER
from tests.support.cluster import ClusterInfo
from tests.support.helm_release import API_SA, OPERATOR_SA, Release, install, service_account_kubeconfig
from tests.support.operator_process import OperatorProcess, get_json, wait_for
from tests.support.ports import free_ports
from tests.support.seaweed import S3Store

pytestmark = pytest.mark.cluster

TOKEN = "chart-rbac-token"


def secret(namespace: str, name: str, data: dict[str, str]) -> dict[str, Any]:
    encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": namespace}, "data": encoded}


def deployment_container(cluster: ClusterInfo, namespace: str, component: str) -> dict[str, Any]:
    deployment = get_json(cluster, "deployment", f"rel-sovits-operator-{component}", "-n", namespace)
    found: dict[str, Any] = deployment["spec"]["template"]["spec"]["containers"][0]
    return found


def kubelet_env(cluster: ClusterInfo, namespace: str, container: dict[str, Any], config_file: Path) -> dict[str, str]:
    """The container's environment as the kubelet would build it, the config mount moved here."""
    env: dict[str, str] = {}
    for var in container["env"]:
        if "value" in var:
            env[var["name"]] = var["value"]
        else:
            ref = var["valueFrom"]["secretKeyRef"]
            data = get_json(cluster, "secret", ref["name"], "-n", namespace)["data"]
            env[var["name"]] = base64.b64decode(data[ref["key"]]).decode()
    assert env["SOVITS_CONFIG_FILE"] == "/etc/sovits/config.yaml"
    env["SOVITS_CONFIG_FILE"] = str(config_file)
    return env


@dataclass
class Installed:
    release: Release
    operator: OperatorProcess
    api_url: str

    @property
    def namespace(self) -> str:
        return self.release.namespace

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = requests.request(
            method, f"{self.api_url}/api/v1{path}", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30, **kwargs
        )
        assert response.status_code == 200, f"{method} {path}: {response.status_code} {response.text}"
        return response.json()


def start_api(
    cluster: ClusterInfo, env: dict[str, str], kubeconfig: Path, log: Path
) -> tuple[subprocess.Popen[bytes], str]:
    (port,) = free_ports(1)
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "sovits_cli.main", "api", "--host", "127.0.0.1", "--port", str(port),
             "--kubeconfig", str(kubeconfig)],
            env={**cluster.env, **env, "PYTHONUNBUFFERED": "1"}, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text(errors="replace")
        try:
            if requests.get(f"{url}/readyz", timeout=2).status_code == 200:
                return proc, url
        except requests.ConnectionError:
            pass
        time.sleep(0.3)
    proc.terminate()
    raise TimeoutError(f"API not ready\n{log.read_text(errors='replace')}")


@pytest.fixture(scope="module")
def installed(cluster: ClusterInfo, s3_store: S3Store, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    """A namespaced release whose operator and API run here with its service accounts' tokens."""
    work = tmp_path_factory.mktemp("chart-processes")
    sets = ["--set", f"storage.endpointUrl={s3_store.endpoint_url}", "--set", f"storage.bucket={s3_store.bucket}"]
    with contextlib.contextmanager(install)(cluster, *sets) as release:
        ns = release.namespace
        # What a platform engineer creates before installing (docs/install.md).
        cluster.apply(
            secret(ns, "sovits-s3", {"AWS_ACCESS_KEY_ID": s3_store.access_key,
                                     "AWS_SECRET_ACCESS_KEY": s3_store.secret_key}),
            secret(ns, "sovits-api-tokens", {TOKEN: ns}),
        )  # fmt: skip
        config = work / "config.yaml"
        config.write_text(get_json(cluster, "configmap", "rel-sovits-operator", "-n", ns)["data"]["config.yaml"])

        operator_container = deployment_container(cluster, ns, "operator")
        operator_env = kubelet_env(cluster, ns, operator_container, config)
        operator_env["SOVITS_OPERATOR__METRICS_HOST"] = "127.0.0.1"  # the chart's 0.0.0.0 is for a pod IP
        operator_env["KUBECONFIG"] = str(service_account_kubeconfig(cluster, ns, OPERATOR_SA, work / "operator.kc"))
        assert operator_container["args"][0] == "operator"
        operator = OperatorProcess(cluster, None, work, env=operator_env, args=operator_container["args"][1:])
        operator.start()

        api_env = kubelet_env(cluster, ns, deployment_container(cluster, ns, "api"), config)
        api_kubeconfig = service_account_kubeconfig(cluster, ns, API_SA, work / "api.kc")
        api_proc: subprocess.Popen[bytes] | None = None
        try:
            api_proc, url = start_api(cluster, api_env, api_kubeconfig, work / "api.log")
            yield Installed(release, operator, url)
        finally:
            if api_proc is not None:
                api_proc.terminate()
                api_proc.wait(timeout=30)
            operator.stop()


@pytest.fixture
def hold(cluster: ClusterInfo) -> Iterator[Callable[[str], None]]:
    """Keep the pods of a task Running (a kwok Stage), removed afterwards."""
    names: list[str] = []

    def add(task: str) -> None:
        cluster.apply(cluster.hold_pods_stage(f"{task}-hold", {"sovits.io/task": task}))
        names.append(f"{task}-hold")

    yield add
    for name in names:
        cluster.kubectl("delete", "stage", name, "--ignore-not-found")


def create_task(installed: Installed, name: str) -> str:
    created = installed.call("POST", "/task/create", json={"task_name": name, "config": {"exp_name": "speaker1"}})
    task_id: str = created["task_id"]
    return task_id


def settled(installed: Installed, task_id: str) -> Callable[[], dict[str, Any] | None]:
    def check() -> dict[str, Any] | None:
        task: dict[str, Any] = installed.call("GET", f"/task/{task_id}")
        return task if task["status"] != "running" else None

    return check


def labelled(cluster: ClusterInfo, kind: str, namespace: str, task_id: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = get_json(cluster, kind, "-n", namespace, "-l", f"sovits.io/task={task_id}")["items"]
    return items


def task_gone(cluster: ClusterInfo, namespace: str, task_id: str) -> Callable[[], bool]:
    return lambda: (
        not get_json(cluster, "trainingtasks", "-n", namespace, "--field-selector", f"metadata.name={task_id}")["items"]
    )


def no_forbidden_calls(operator: OperatorProcess) -> None:
    text = operator.log.read_text(errors="replace")
    assert "Forbidden" not in text and "forbidden" not in text, operator.tail(80)


def test_the_full_pipeline_completes_with_only_the_charts_permissions(
    cluster: ClusterInfo, installed: Installed
) -> None:
    task_id = create_task(installed, "rbac-pipeline")

    for step in STEP_ORDER:
        installed.call("POST", f"/task/{task_id}/step/{step}")
        task = wait_for(settled(installed, task_id), timeout=90, what=f"{step} settled")
        assert (task["status"], task["current_step"]) == ("completed", step), task

    assert task["progress"] == 100.0
    raw = get_json(cluster, "trainingtask", task_id, "-n", installed.namespace)
    assert [(s["name"], s["phase"]) for s in raw["status"]["steps"]] == [(s, "completed") for s in STEP_ORDER]
    assert len(labelled(cluster, "jobs", installed.namespace, task_id)) == len(STEP_ORDER)
    # The operator's Events were accepted (kopf only logs a refused Event, so look for them).
    events = get_json(cluster, "events", "-n", installed.namespace, "--field-selector",
                      f"involvedObject.name={task_id}")["items"]  # fmt: skip
    assert [e["reason"] for e in events].count("StepCompleted") == len(STEP_ORDER)

    # TTLs are patched onto finished Jobs once the status holds their outcome.
    def expiring() -> bool:
        jobs = labelled(cluster, "jobs", installed.namespace, task_id)
        return all(j["spec"].get("ttlSecondsAfterFinished") == 3600 for j in jobs)

    wait_for(expiring, what="TTLs set")
    no_forbidden_calls(installed.operator)


def test_cancel_through_the_api_removes_the_running_job_and_its_pod(
    cluster: ClusterInfo, installed: Installed, hold: Callable[[str], None]
) -> None:
    task_id = create_task(installed, "rbac-cancel")
    hold(task_id)
    installed.call("POST", f"/task/{task_id}/step/convert_audio")

    def running() -> bool:
        pods = labelled(cluster, "pods", installed.namespace, task_id)
        return any(p["status"].get("phase") == "Running" for p in pods)

    wait_for(running, what="pod running")

    installed.call("POST", f"/task/{task_id}/cancel")

    ns = installed.namespace
    wait_for(lambda: get_json(cluster, "trainingtask", task_id, "-n", ns)["status"]["phase"] == "cancelled",
             what="the operator confirmed the cancel")  # fmt: skip
    wait_for(lambda: not labelled(cluster, "jobs", ns, task_id), what="Job deleted")
    wait_for(lambda: not labelled(cluster, "pods", ns, task_id), what="pod gone with it")
    no_forbidden_calls(installed.operator)


def test_deleting_a_running_task_through_the_api_releases_its_finalizer(
    cluster: ClusterInfo, installed: Installed, hold: Callable[[str], None]
) -> None:
    task_id = create_task(installed, "rbac-delete")
    hold(task_id)
    installed.call("POST", f"/task/{task_id}/step/convert_audio")
    ns = installed.namespace
    wait_for(lambda: labelled(cluster, "pods", ns, task_id), what="pod created")
    assert get_json(cluster, "trainingtask", task_id, "-n", ns)["metadata"]["finalizers"] == ["sovits.io/cleanup"]

    installed.call("DELETE", f"/task/{task_id}")

    # The finalizer lists the task's Jobs and deletes each: a refused call would keep it (and
    # the task) in place, as kopf retries the handler.
    wait_for(task_gone(cluster, ns, task_id), what="task gone")
    wait_for(lambda: not labelled(cluster, "jobs", ns, task_id), what="Jobs gone")
    wait_for(lambda: not labelled(cluster, "pods", ns, task_id), what="pods gone")
    no_forbidden_calls(installed.operator)
