"""A Helm release of our chart on the test control plane, and clients acting as its service accounts."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

from tests.support.cluster import ClusterInfo

CHART = Path(__file__).resolve().parents[2] / "charts" / "sovits-operator"

RELEASE = "rel"
OPERATOR_SA = "rel-sovits-operator-operator"
API_SA = "rel-sovits-operator-api"


def kubectl(cluster: ClusterInfo, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(cluster.bin / "kubectl"), *args], env=cluster.env, input=input, capture_output=True, text=True, timeout=120
    )


def helm(cluster: ClusterInfo, *args: str) -> str:
    result = subprocess.run([str(cluster.helm), *args], env=cluster.env, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    return result.stdout


def server_dry_run(cluster: ClusterInfo, manifests: str) -> subprocess.CompletedProcess[str]:
    # --validate=strict: a field the API server does not know is an error, not a silent drop.
    return kubectl(cluster, "apply", "--dry-run=server", "--validate=strict", "-f", "-", input=manifests)


@dataclass(frozen=True)
class Release:
    cluster: ClusterInfo
    namespace: str
    other_namespace: str
    notes: str

    def can(
        self, service_account: str, verb: str, resource: str, *, namespace: str | None = None, name: str | None = None
    ) -> bool:
        """Whether the service account may; ``resource`` may name a subresource (``pods/log``)."""
        resource, _, subresource = resource.partition("/")
        args = ["auth", "can-i", verb, f"{resource}/{name}" if name else resource]
        args += [f"--subresource={subresource}"] if subresource else []
        args += [f"--as=system:serviceaccount:{self.namespace}:{service_account}"]
        args += ["--all-namespaces"] if namespace == "*" else ["-n", namespace or self.namespace]
        result = kubectl(self.cluster, *args)
        assert result.stdout.strip() in ("yes", "no"), result.stdout + result.stderr
        return result.stdout.strip() == "yes"


def service_account_kubeconfig(cluster: ClusterInfo, namespace: str, service_account: str, path: Path) -> Path:
    """A kubeconfig that authenticates as the service account with a real token (TokenRequest API),
    so any client - kubectl, kopf, the kubernetes package - runs with exactly the chart's RBAC."""
    admin = json.loads(cluster.kubectl("config", "view", "--minify", "--raw", "-o", "json"))
    token = cluster.kubectl("create", "token", service_account, "-n", namespace, "--duration=1h").strip()
    user = f"system:serviceaccount:{namespace}:{service_account}"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "test", "cluster": admin["clusters"][0]["cluster"]}],
                "users": [{"name": user, "user": {"token": token}}],
                "contexts": [{"name": "sa", "context": {"cluster": "test", "user": user, "namespace": namespace}}],
                "current-context": "sa",
            }
        )
    )
    return path


def install(cluster: ClusterInfo, *extra: str, prepare: Callable[[str], None] | None = None) -> Iterator[Release]:
    """The chart installed into a fresh namespace; ``prepare`` gets that namespace first (to
    create the Secrets the release's pods read)."""
    namespace = cluster.create_namespace("chart")
    other = cluster.create_namespace("other")
    if prepare is not None:
        prepare(namespace)
    # The fixture owns the CRD (it applied crds/trainingtask.yaml); a release must not adopt it.
    out = helm(cluster, "install", RELEASE, str(CHART), "--namespace", namespace, "--set", "crds.enabled=false", *extra)
    try:
        yield Release(cluster, namespace, other, out.split("NOTES:", 1)[-1])
    finally:
        helm(cluster, "uninstall", RELEASE, "--namespace", namespace)
        for ns in (namespace, other):
            kubectl(cluster, "delete", "namespace", ns, "--wait=false")
