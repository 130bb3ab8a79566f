"""A test-only node agent: a tiny kubelet that runs pods as local processes.

It registers a Node (tainted, so only pods that tolerate it land here), keeps its Lease and
Ready condition fresh, and for every pod bound to it runs the first container's command with
the pod's environment (``value`` and ``secretKeyRef``) as a local process in its own process
group. It writes the pod's phase, exit code and termination message back, and on deletion
kills the process group and confirms the deletion, as a kubelet would. The container's
termination-message file is emulated by pointing ``SOVITS_TERMINATION_LOG`` at a local file.

This is what lets `kubectl apply -f task.yaml` really run steps through the operator in
tests; images are ignored (the step code is this checkout's). Run it as
``python -m tests.support.node_agent --kubeconfig K --name N --workdir D``.
"""

from __future__ import annotations

import argparse
import base64
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

log = logging.getLogger("node-agent")

TAINT_KEY = "sovits.test/agent"
LEASE_NS = "kube-node-lease"


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class NodeAgent:
    def __init__(self, name: str, workdir: Path, extra_path: str) -> None:
        self.name = name
        self.workdir = workdir
        self.extra_path = extra_path
        self.core = client.CoreV1Api()
        self.coordination = client.CoordinationV1Api()
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.lock = threading.Lock()
        self.stopping = threading.Event()

    # -- node registration and heartbeats -------------------------------------------------
    def register(self) -> None:
        resources = {"cpu": "8", "memory": "32Gi", "pods": "20"}
        body = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": self.name,
                "labels": {"kubernetes.io/hostname": self.name, "kubernetes.io/os": "linux", TAINT_KEY: "true"},
            },
            "spec": {"taints": [{"key": TAINT_KEY, "value": "true", "effect": "NoSchedule"}]},
        }
        try:
            self.core.create_node(body)
        except ApiException as exc:
            if exc.status != 409:
                raise
        self.core.patch_node_status(
            self.name,
            {
                "status": {
                    "capacity": resources,
                    "allocatable": resources,
                    "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
                    "conditions": self._conditions(),
                    "nodeInfo": {"kubeletVersion": "node-agent", "operatingSystem": "linux", "architecture": "amd64"},
                }
            },
        )

    def _conditions(self) -> list[dict[str, str]]:
        stamp = now()
        return [
            {
                "type": "Ready",
                "status": "True",
                "reason": "AgentReady",
                "message": "test node agent is running",
                "lastHeartbeatTime": stamp,
                "lastTransitionTime": stamp,
            }
        ]

    def heartbeat_forever(self) -> None:
        while not self.stopping.wait(5):
            try:
                self._renew_lease()
                self.core.patch_node_status(self.name, {"status": {"conditions": self._conditions()}})
            except Exception:
                log.exception("heartbeat failed")

    def _renew_lease(self) -> None:
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        lease = {
            "metadata": {"name": self.name, "namespace": LEASE_NS},
            "spec": {"holderIdentity": self.name, "leaseDurationSeconds": 40, "renewTime": stamp},
        }
        try:
            self.coordination.patch_namespaced_lease(self.name, LEASE_NS, lease)
        except ApiException as exc:
            if exc.status != 404:
                raise
            self.coordination.create_namespaced_lease(LEASE_NS, lease)

    # -- pods ------------------------------------------------------------------------------
    def watch_pods_forever(self) -> None:
        selector = f"spec.nodeName={self.name}"
        while not self.stopping.is_set():
            try:
                stream = watch.Watch().stream(
                    self.core.list_pod_for_all_namespaces, field_selector=selector, timeout_seconds=30
                )
                for event in stream:
                    self._on_pod(event["type"], event["object"])
            except Exception:
                log.exception("pod watch failed; restarting")
                time.sleep(1)

    def _on_pod(self, kind: str, pod: Any) -> None:
        key = f"{pod.metadata.namespace}/{pod.metadata.name}"
        if kind == "DELETED":
            self._kill(key)
            return
        if pod.metadata.deletion_timestamp is not None:
            self._kill(key)
            self._confirm_deletion(pod)
            return
        with self.lock:
            known = key in self.procs
        if not known and pod.status.phase == "Pending":
            self._start(key, pod)

    def _start(self, key: str, pod: Any) -> None:
        container = pod.spec.containers[0]
        argv = list(container.command or []) + list(container.args or [])
        run_dir = self.workdir / pod.metadata.namespace / pod.metadata.name
        run_dir.mkdir(parents=True, exist_ok=True)
        termination = run_dir / "termination-log"
        env = {
            "PATH": f"{self.extra_path}:{os.environ.get('PATH', '')}",
            "HOME": str(run_dir),
            "TMPDIR": str(run_dir),
            **self._env(pod, container),
            "SOVITS_TERMINATION_LOG": str(termination),
        }
        with (run_dir / "container.log").open("wb") as log_file:  # the child keeps its own descriptor
            proc = subprocess.Popen(
                argv, env=env, cwd=run_dir, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
            )
        with self.lock:
            self.procs[key] = proc
        self._patch_status(pod, "Running", container.name, running=True)
        threading.Thread(target=self._wait, args=(key, pod, proc, termination), daemon=True).start()

    def _env(self, pod: Any, container: Any) -> dict[str, str]:
        values: dict[str, str] = {}
        for var in container.env or []:
            if var.value is not None:
                values[var.name] = var.value
            elif var.value_from is not None and var.value_from.secret_key_ref is not None:
                ref = var.value_from.secret_key_ref
                secret = self.core.read_namespaced_secret(ref.name, pod.metadata.namespace)
                values[var.name] = base64.b64decode(secret.data[ref.key]).decode()
            elif var.value_from is not None and var.value_from.field_ref is not None:
                values[var.name] = self._field(pod, var.value_from.field_ref.field_path)
        annotations = pod.metadata.annotations or {}
        index = annotations.get("batch.kubernetes.io/job-completion-index")
        if index is not None:
            values.setdefault("JOB_COMPLETION_INDEX", index)
        return values

    def _field(self, pod: Any, path: str) -> str:
        """A downward-API field; the Job controller gives Indexed Jobs' pods JOB_COMPLETION_INDEX
        as ``metadata.annotations['batch.kubernetes.io/job-completion-index']``."""
        for prefix, mapping in (("metadata.annotations", pod.metadata.annotations),
                                ("metadata.labels", pod.metadata.labels)):  # fmt: skip
            if path.startswith(f"{prefix}['") and path.endswith("']"):
                return str((mapping or {}).get(path[len(prefix) + 2 : -2], ""))
        found = {
            "metadata.name": pod.metadata.name,
            "metadata.namespace": pod.metadata.namespace,
            "spec.nodeName": self.name,
        }.get(path, "")
        return str(found)

    def _wait(self, key: str, pod: Any, proc: subprocess.Popen[bytes], termination: Path) -> None:
        code = proc.wait()
        with self.lock:
            still_ours = self.procs.pop(key, None) is proc
        if not still_ours or code < 0:
            return  # killed for deletion: the pod is going away
        message = termination.read_text(errors="replace")[:4096] if termination.exists() else ""
        phase = "Succeeded" if code == 0 else "Failed"
        try:
            self._patch_status(pod, phase, pod.spec.containers[0].name, exit_code=code, message=message)
        except ApiException as exc:
            if exc.status != 404:
                raise

    def _patch_status(
        self,
        pod: Any,
        phase: str,
        container: str,
        running: bool = False,
        exit_code: int | None = None,
        message: str = "",
    ) -> None:
        stamp = now()
        if running:
            state: dict[str, Any] = {"running": {"startedAt": stamp}}
        else:
            reason = "Completed" if exit_code == 0 else "Error"
            state = {
                "terminated": {
                    "exitCode": exit_code,
                    "reason": reason,
                    "message": message,
                    "startedAt": stamp,
                    "finishedAt": stamp,
                }
            }
        ready = "True" if running else "False"
        status = {
            "phase": phase,
            "hostIP": "127.0.0.1",
            "podIP": "127.0.0.1",
            "startTime": stamp,
            "conditions": [
                {"type": "Initialized", "status": "True", "lastTransitionTime": stamp},
                {"type": "Ready", "status": ready, "lastTransitionTime": stamp},
                {"type": "ContainersReady", "status": ready, "lastTransitionTime": stamp},
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": stamp},
            ],
            "containerStatuses": [
                {
                    "name": container,
                    "image": "local",
                    "imageID": "",
                    "ready": running,
                    "restartCount": 0,
                    "state": state,
                }
            ],
        }
        self.core.patch_namespaced_pod_status(pod.metadata.name, pod.metadata.namespace, {"status": status})

    def _kill(self, key: str) -> None:
        with self.lock:
            proc = self.procs.pop(key, None)
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)

    def _confirm_deletion(self, pod: Any) -> None:
        try:
            self.core.delete_namespaced_pod(pod.metadata.name, pod.metadata.namespace, grace_period_seconds=0)
        except ApiException as exc:
            if exc.status != 404:
                raise

    def stop(self, *_: object) -> None:
        self.stopping.set()
        with self.lock:
            keys = list(self.procs)
        for key in keys:
            self._kill(key)
        try:
            self.core.delete_node(self.name)
        except Exception:
            log.exception("could not deregister")
        sys.exit(0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--workdir", required=True, type=Path)
    parser.add_argument("--path", default=str(Path(sys.executable).parent), help="prepended to PATH of pods")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    config.load_kube_config(config_file=args.kubeconfig)
    agent = NodeAgent(args.name, args.workdir, args.path)
    agent.register()
    signal.signal(signal.SIGTERM, agent.stop)
    signal.signal(signal.SIGINT, agent.stop)
    threading.Thread(target=agent.heartbeat_forever, daemon=True).start()
    log.info("node %s registered", args.name)
    agent.watch_pods_forever()


if __name__ == "__main__":
    main()
