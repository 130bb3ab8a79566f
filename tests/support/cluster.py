"""A real Kubernetes control plane on loopback: etcd, kube-apiserver, kube-controller-manager,
kube-scheduler and the kwok controller, started by kwokctl's binary runtime from binaries that
tests/cluster/build.sh builds from pinned Go modules.

Nodes are fake (kwok): GPU nodes advertise ``nvidia.com/gpu`` and CPU-only nodes do not, and
the ordinary scheduler places pods on them. Stages are CRs (``--enable-crds=Stage``), so a
test can add a Stage at run time to hold or fail the pods it selects; the defaults (nodes
ready, pods running then completing when owned by a Job, deletion) come from the kwok module
the build downloaded, not from a copy in this repository.

Container logs of fake pods are CRs too (``Logs``): the kwok controller is the fake nodes'
kubelet (node-initialize points their kubelet endpoint at its port on localhost), so the API
server's ``pods/log`` reads the file a ``Logs`` object names.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import yaml

from .ports import free_ports
from .processes import stop_process

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "tests" / "cluster" / "build.sh"
CRD = REPO / "crds" / "trainingtask.yaml"

# Stage manifests shipped inside the kwok module (relative to its module root).
DEFAULT_STAGES = (
    "kustomize/stage/node/fast/node-initialize.yaml",
    "kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
    "kustomize/stage/pod/fast/pod-ready.yaml",
    "kustomize/stage/pod/fast/pod-complete.yaml",
    "kustomize/stage/pod/fast/pod-delete.yaml",
    "kustomize/stage/pod/chaos/pod-container-running-failed.yaml",
)

FAIL_LABEL = "pod-container-running-failed.stage.kwok.x-k8s.io"


def build_binaries() -> Path:
    """The bin dir with every control-plane binary (built once, then cached by version)."""
    out = subprocess.run([str(BUILD)], check=True, capture_output=True, text=True)
    return Path(out.stdout.strip().splitlines()[-1])


def kwok_module_dir() -> Path:
    out = subprocess.run(
        ["go", "list", "-m", "-f", "{{.Dir}}", "sigs.k8s.io/kwok"],
        cwd=REPO / "tests" / "cluster" / "go" / "kwok",
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "GOFLAGS": "-mod=mod", "GOTOOLCHAIN": "local"},
    )
    return Path(out.stdout.strip())


@dataclass
class NodePool:
    prefix: str
    count: int
    gpus: int
    cpu: str = "32"
    memory: str = "256Gi"
    labels: dict[str, str] = field(default_factory=dict)


DEFAULT_POOLS = (
    NodePool("gpu-node", 4, 8, labels={"nvidia.com/gpu.present": "true"}),
    NodePool("cpu-node", 2, 0),
)


def node_manifest(name: str, pool: NodePool) -> dict[str, Any]:
    resources = {"cpu": pool.cpu, "memory": pool.memory, "pods": "110"}
    if pool.gpus:
        resources["nvidia.com/gpu"] = str(pool.gpus)
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {"kwok.x-k8s.io/node": "fake"},
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "type": "kwok",
                **pool.labels,
            },
        },
        "status": {"capacity": resources, "allocatable": resources},
    }


class Cluster:
    """One kwokctl cluster; ``start`` returns once nodes are Ready and the CRD is served."""

    def __init__(
        self,
        workdir: Path,
        pools: tuple[NodePool, ...] = DEFAULT_POOLS,
        kwokctl_args: tuple[str, ...] = (),
        options: dict[str, Any] | None = None,
        patches: tuple[dict[str, Any], ...] = (),
    ) -> None:
        self.workdir = workdir
        self.pools = pools
        self.kwokctl_args = kwokctl_args  # extra `kwokctl create cluster` flags (e.g. --kube-audit-policy)
        # Extra KwokctlConfiguration options and componentsPatches (component flags): given in the
        # config file rather than as --extra-args, which kwokctl 0.7.0 mis-indexes across components.
        self.options = options or {}
        self.patches = patches
        self.name = f"sovits-{uuid.uuid4().hex[:8]}"
        self.bin: Path | None = None
        self.kubeconfig = workdir / "kubeconfig"

    @property
    def env(self) -> dict[str, str]:
        assert self.bin is not None
        return {
            **os.environ,
            "PATH": f"{self.bin}:{os.environ.get('PATH', '')}",
            "KWOK_WORKDIR": str(self.workdir / "kwok"),
            "KWOK_KUBECTL_BINARY": str(self.bin / "kubectl"),
            "KUBECONFIG": str(self.kubeconfig),
        }

    def start(self) -> ClusterInfo:
        self.bin = build_binaries()
        config = self.workdir / "kwokctl.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "config.kwok.x-k8s.io/v1alpha1",
                    "kind": "KwokctlConfiguration",
                    "options": {"bindAddress": "127.0.0.1", **self._ports(), **self.options},
                    "componentsPatches": list(self.patches),
                }
            )
        )
        b = self.bin
        self._run(
            str(b / "kwokctl"), "create", "cluster", "--name", self.name, "--config", str(config),
            "--runtime", "binary", "--kube-authorization=true", "--disable-qps-limits",
            "--enable-crds=Stage,Logs,ClusterLogs", "--wait", "3m", "--kubeconfig", str(self.kubeconfig),
            # kwok manages only its fake nodes, so the node agent's real node is left alone.
            "--extra-args=kwok-controller=manage-all-nodes=false",
            "--extra-args=kwok-controller=manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
            f"--kube-apiserver-binary={b / 'kube-apiserver'}",
            f"--kube-controller-manager-binary={b / 'kube-controller-manager'}",
            f"--kube-scheduler-binary={b / 'kube-scheduler'}",
            f"--etcd-binary={b / 'etcd'}", f"--kwok-controller-binary={b / 'kwok'}", *self.kwokctl_args,
            timeout=300,
        )  # fmt: skip
        module = kwok_module_dir()
        for stage in DEFAULT_STAGES:
            self.kubectl("apply", "-f", str(module / stage))
        if nodes := [node_manifest(f"{p.prefix}-{i}", p) for p in self.pools for i in range(p.count)]:
            self.apply_docs(nodes)
        self.kubectl("apply", "--server-side", "-f", str(CRD))
        self.kubectl("wait", "--for=condition=Established", "crd/trainingtasks.sovits.io", "--timeout=60s")
        self._wait_nodes_ready(sum(p.count for p in self.pools))
        return ClusterInfo(kubeconfig=self.kubeconfig, bin=b, cluster=self)

    @staticmethod
    def _ports() -> dict[str, int]:
        # kwokctl counts down from 32767 looking for free ports, so two clusters created at the
        # same moment (parallel test sessions) would pick the same ones; random ones do not.
        names = ("etcdPeerPort", "etcdPort", "kubeApiserverPort", "kwokControllerPort", "kubeSchedulerPort",
                 "kubeControllerManagerPort")  # fmt: skip
        return dict(zip(names, free_ports(len(names)), strict=True))

    def _wait_nodes_ready(self, count: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            nodes = json.loads(self.kubectl("get", "nodes", "-o", "json"))["items"]
            ready = [
                n for n in nodes
                if any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"].get("conditions", []))
            ]  # fmt: skip
            if len(ready) >= count:
                return
            time.sleep(0.5)
        raise TimeoutError(f"fewer than {count} nodes Ready after {timeout}s")

    @property
    def pki(self) -> Path:
        """The cluster's CA and the one admin certificate kwokctl gives every component."""
        return self.workdir / "kwok" / "clusters" / self.name / "pki"

    @property
    def logs(self) -> Path:
        """Where kwokctl keeps this cluster's component logs (and audit.log when audited)."""
        return self.workdir / "kwok" / "clusters" / self.name / "logs"

    def stop(self) -> None:
        if self.bin is not None:
            subprocess.run(
                [str(self.bin / "kwokctl"), "delete", "cluster", "--name", self.name],
                env=self.env,
                capture_output=True,
                timeout=120,
            )

    def kubectl(self, *args: str, input: str | None = None, timeout: float = 60) -> str:
        assert self.bin is not None
        return self._run(str(self.bin / "kubectl"), *args, input=input, timeout=timeout)

    def apply_docs(self, docs: list[dict[str, Any]]) -> str:
        return self.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(docs))

    def _run(self, *args: str, input: str | None = None, timeout: float = 60) -> str:
        proc = subprocess.run(args, env=self.env, input=input, capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise subprocess.CalledProcessError(proc.returncode, args, proc.stdout, proc.stderr)
        return proc.stdout


@dataclass
class ClusterInfo:
    """What tests get: a kubeconfig with admin rights, the binaries, and helpers."""

    kubeconfig: Path
    bin: Path
    cluster: Cluster

    @property
    def helm(self) -> Path:
        return self.bin / "helm"

    @property
    def api_port(self) -> int:
        server = yaml.safe_load(self.kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
        return int(server.rsplit(":", 1)[1])

    @property
    def env(self) -> dict[str, str]:
        return self.cluster.env

    def kubectl(self, *args: str, input: str | None = None, timeout: float = 60) -> str:
        return self.cluster.kubectl(*args, input=input, timeout=timeout)

    def apply(self, *docs: dict[str, Any]) -> str:
        return self.cluster.apply_docs(list(docs))

    def create_namespace(self, prefix: str = "t") -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        self.kubectl("create", "namespace", name)
        return name

    def fail_pods_stage(self, name: str, selector: dict[str, str], exit_code: int, message: str) -> dict[str, Any]:
        """A Stage that fails the Running pods matching ``selector`` with an exit code and message."""
        return _status_stage(name, selector, _terminated("Failed", exit_code, "Error", message), delay_ms=0)

    def complete_pods_stage(
        self, name: str, selector: dict[str, str], delay_ms: int, message: str = ""
    ) -> dict[str, Any]:
        """A Stage that lets the Running pods matching ``selector`` succeed after ``delay_ms``, with
        ``message`` as their termination message."""
        return _status_stage(name, selector, _terminated("Succeeded", 0, "Completed", message), delay_ms=delay_ms)

    def evict_pods_stage(self, name: str, selector: dict[str, str]) -> dict[str, Any]:
        """A Stage doing what a kubelet does to the pods it evicts under node pressure: Failed,
        reason Evicted, with the DisruptionTarget condition (reason TerminationByKubelet)."""
        message = "The node was low on resource: memory."
        template = (
            _terminated("Failed", 137, "Error", "")
            + "reason: Evicted\n"
            + f"message: {json.dumps(message)}\n"
            + "conditions:\n"
            + "- type: DisruptionTarget\n"
            + "  status: 'True'\n"
            + "  reason: TerminationByKubelet\n"
            + f"  message: {json.dumps(message)}\n"
            + "  lastTransitionTime: {{ Now | Quote }}\n"
        )
        return _status_stage(name, selector, template, delay_ms=500)

    def hold_pods_stage(self, name: str, selector: dict[str, str]) -> dict[str, Any]:
        """A Stage that keeps matching Running pods running (outweighs the fast completion)."""
        # A long delay before a no-op transition: the pod stays Running meanwhile.
        return _status_stage(name, selector, "phase: Running\n", delay_ms=24 * 3600 * 1000)

    def pod_log(self, pod: str, namespace: str, path: Path) -> dict[str, Any]:
        """A kwok ``Logs`` object: every container of ``pod`` logs what ``path`` holds, a file in
        the CRI log format (``<RFC3339Nano time> stdout F <line>``) that may grow meanwhile."""
        return {
            "apiVersion": "kwok.x-k8s.io/v1alpha1",
            "kind": "Logs",
            "metadata": {"name": pod, "namespace": namespace},
            "spec": {"logs": [{"containers": [], "logsFile": str(path)}]},
        }


def _terminated(phase: str, exit_code: int, reason: str, message: str) -> str:
    """A kwok status template: the pod in ``phase``, every container terminated so."""
    return (
        f"phase: {phase}\n"
        "containerStatuses:\n"
        "{{ range .spec.containers }}\n"
        "- name: {{ .name | Quote }}\n"
        "  image: {{ .image | Quote }}\n"
        "  ready: false\n"
        "  restartCount: 0\n"
        "  state:\n"
        "    terminated:\n"
        f"      exitCode: {int(exit_code)}\n"
        f"      reason: {reason}\n"
        f"      message: {json.dumps(message)}\n"
        "      startedAt: {{ Now | Quote }}\n"
        "      finishedAt: {{ Now | Quote }}\n"
        "{{ end }}\n"
    )


def _status_stage(name: str, selector: dict[str, str], template: str, delay_ms: int) -> dict[str, Any]:
    """A Stage for the Running pods matching ``selector``; its weight outweighs kwok's fast stages."""
    expressions: list[dict[str, Any]] = [
        {"key": f'.metadata.labels["{k}"]', "operator": "In", "values": [v]} for k, v in selector.items()
    ]
    expressions += [
        {"key": ".metadata.deletionTimestamp", "operator": "DoesNotExist"},
        {"key": ".status.phase", "operator": "In", "values": ["Running"]},
    ]
    return {
        "apiVersion": "kwok.x-k8s.io/v1alpha1",
        "kind": "Stage",
        "metadata": {"name": name},
        "spec": {
            "resourceRef": {"apiGroup": "v1", "kind": "Pod"},
            "selector": {"matchExpressions": expressions},
            "weight": 20000,
            "delay": {"durationMilliseconds": delay_ms},
            "next": {"statusTemplate": template},
        },
    }


class NodeAgentProcess:
    """Runs tests/support/node_agent.py against a cluster; pods that tolerate it run for real."""

    TOLERATION: ClassVar[dict[str, str]] = {
        "key": "sovits.test/agent",
        "operator": "Equal",
        "value": "true",
        "effect": "NoSchedule",
    }

    def __init__(self, info: ClusterInfo, workdir: Path, name: str = "agent-node") -> None:
        self.info = info
        self.workdir = workdir
        self.name = name
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def node_selector(self) -> dict[str, str]:
        return {"kubernetes.io/hostname": self.name}

    def start(self, timeout: float = 30) -> NodeAgentProcess:
        import sys

        with (self.workdir / "agent.log").open("wb") as log:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(
                [
                    sys.executable, "-m", "tests.support.node_agent", "--kubeconfig", str(self.info.kubeconfig),
                    "--name", self.name, "--workdir", str(self.workdir / "pods"),
                ],
                cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"node agent exited; see {self.workdir / 'agent.log'}")
            try:
                node = json.loads(self.info.kubectl("get", "node", self.name, "-o", "json"))
                if any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"].get("conditions", [])):
                    return self
            except subprocess.CalledProcessError:
                pass
            time.sleep(0.3)
        raise TimeoutError("node agent did not become Ready")

    def stop(self) -> None:
        stop_process(self.proc, grace=20)


def get_json(cluster: ClusterInfo, *args: str) -> Any:
    """``kubectl get ARGS -o json``, parsed."""
    return json.loads(cluster.kubectl("get", *args, "-o", "json"))


def job_pods(cluster: ClusterInfo, namespace: str, job_name: str) -> list[dict[str, Any]]:
    """The pods the Job controller made for ``job_name``."""
    items: list[dict[str, Any]] = get_json(cluster, "pods", "-n", namespace, "-l", f"job-name={job_name}")["items"]
    return items
