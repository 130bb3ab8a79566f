"""The chart on the real test control plane: the API server accepts every rendered object, the
release installs, and its service accounts can do what the code needs and nothing more.

Least privilege is proven with `kubectl auth can-i --as=system:serviceaccount:...`, which asks
the API server's own RBAC authorizer.
"""

from __future__ import annotations

import json
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.chart.conftest import ALL_OPTIONS, Render
from tests.support.cluster import ClusterInfo
from tests.support.helm_release import (
    API_SA,
    CHART,
    OPERATOR_SA,
    Release,
    install,
    kubectl,
    server_dry_run,
    service_account_kubeconfig,
)

pytestmark = pytest.mark.cluster

# The Prometheus Operator's ServiceMonitor CRD is not part of this project and is ~1 MB; this
# stand-in registers the kind (schema left open) so the API server accepts our ServiceMonitors.
SERVICE_MONITOR_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "servicemonitors.monitoring.coreos.com"},
    "spec": {
        "group": "monitoring.coreos.com",
        "scope": "Namespaced",
        "names": {"kind": "ServiceMonitor", "listKind": "ServiceMonitorList", "plural": "servicemonitors",
                  "singular": "servicemonitor"},
        "versions": [{
            "name": "v1", "served": True, "storage": True,
            "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
        }],
    },
}  # fmt: skip


@pytest.fixture(scope="module")
def namespaced(cluster: ClusterInfo) -> Iterator[Release]:
    yield from install(cluster)


@pytest.fixture(scope="module")
def cluster_wide(cluster: ClusterInfo) -> Iterator[Release]:
    yield from install(cluster, "--set", "watch.allNamespaces=true")


# Server-side dry runs -------------------------------------------------------------------------


def test_default_manifests_pass_a_strict_server_side_dry_run(
    cluster: ClusterInfo, namespace: str, render: Render
) -> None:
    result = server_dry_run(cluster, render(namespace=namespace).yaml())
    assert result.returncode == 0, result.stderr
    assert "deployment.apps/rel-sovits-operator-operator created (server dry run)" in result.stdout


def test_every_option_passes_a_strict_server_side_dry_run(cluster: ClusterInfo, namespace: str, render: Render) -> None:
    cluster.apply(SERVICE_MONITOR_CRD)
    cluster.kubectl("wait", "--for=condition=Established", "crd/servicemonitors.monitoring.coreos.com")

    result = server_dry_run(cluster, render(ALL_OPTIONS, namespace=namespace).yaml())

    assert result.returncode == 0, result.stderr
    for created in ("ingress.networking.k8s.io/", "poddisruptionbudget.policy/", "networkpolicy.networking.k8s.io/",
                    "servicemonitor.monitoring.coreos.com/", "clusterrole.rbac.authorization.k8s.io/"):  # fmt: skip
        assert created in result.stdout


def test_the_api_server_refuses_a_broken_manifest(cluster: ClusterInfo, namespace: str, render: Render) -> None:
    # The dry run really validates: a field that no Deployment has is refused.
    manifests = render(namespace=namespace).yaml().replace("strategy:\n", "stratgy:\n", 1)

    result = server_dry_run(cluster, manifests)

    assert result.returncode != 0
    assert "stratgy" in result.stderr


# The installed release --------------------------------------------------------------------------


def test_install_creates_both_deployments(namespaced: Release) -> None:
    names = kubectl(namespaced.cluster, "get", "deployments", "-n", namespaced.namespace, "-o", "name").stdout.split()
    assert sorted(names) == ["deployment.apps/rel-sovits-operator-api", "deployment.apps/rel-sovits-operator-operator"]


def test_the_operator_token_reads_tasks_but_no_secret_list_and_nothing_elsewhere(
    namespaced: Release, tmp_path: Path
) -> None:
    config = service_account_kubeconfig(namespaced.cluster, namespaced.namespace, OPERATOR_SA, tmp_path / "kubeconfig")

    def as_operator(*args: str) -> subprocess.CompletedProcess[str]:
        return kubectl(namespaced.cluster, "--kubeconfig", str(config), *args)

    assert as_operator("get", "trainingtasks", "-n", namespaced.namespace).returncode == 0
    assert as_operator("get", "jobs", "-n", namespaced.namespace).returncode == 0
    denied = [
        as_operator("get", "secrets", "-n", namespaced.namespace),
        as_operator("get", "trainingtasks", "-n", namespaced.other_namespace),
        as_operator("run", "probe", "--image=busybox", "-n", namespaced.namespace),
    ]
    for result in denied:
        assert result.returncode != 0
        assert "Forbidden" in result.stderr or "forbidden" in result.stderr, result.stderr


def test_install_notes_show_a_first_task_and_how_to_reach_the_api(namespaced: Release) -> None:
    assert f"kubectl -n {namespaced.namespace} apply -f -" in namespaced.notes
    assert "kind: TrainingTask" in namespaced.notes
    assert f"kubectl -n {namespaced.namespace} port-forward svc/rel-sovits-operator-api" in namespaced.notes
    assert "/api/v1/task/create" in namespaced.notes
    assert "Authorization: Bearer" in namespaced.notes


@pytest.mark.parametrize(
    ("verb", "resource"),
    [
        ("watch", "trainingtasks.sovits.io"),
        ("patch", "trainingtasks.sovits.io"),
        ("patch", "trainingtasks.sovits.io/status"),
        ("update", "trainingtasks.sovits.io/finalizers"),
        ("create", "jobs.batch"),
        ("delete", "jobs.batch"),
        ("list", "jobs.batch"),
        ("watch", "pods"),
        ("create", "events"),
    ],
)
def test_operator_may_do_what_reconciling_needs(namespaced: Release, verb: str, resource: str) -> None:
    assert namespaced.can(OPERATOR_SA, verb, resource)


def test_operator_may_not_read_even_the_storage_secret(namespaced: Release) -> None:
    # Step pods get the keys by secretKeyRef (the kubelet reads it); the operator's come as env.
    assert not namespaced.can(OPERATOR_SA, "get", "secrets", name="sovits-s3")


@pytest.mark.parametrize(
    ("verb", "resource", "name"),
    [
        ("get", "secrets", "sovits-api-tokens"),
        ("get", "secrets", "some-other-secret"),
        ("list", "secrets", None),
        ("watch", "secrets", None),
        ("create", "pods", None),
        ("delete", "pods", None),
        ("create", "pods/exec", None),
        ("get", "pods/log", None),
        ("deletecollection", "jobs.batch", None),
        ("create", "trainingtasks.sovits.io", None),
        ("update", "trainingtasks.sovits.io", None),
        ("delete", "trainingtasks.sovits.io", None),
        ("update", "deployments.apps", None),
        ("create", "rolebindings.rbac.authorization.k8s.io", None),
    ],
)
def test_operator_may_not_go_beyond_its_needs(namespaced: Release, verb: str, resource: str, name: str | None) -> None:
    assert not namespaced.can(OPERATOR_SA, verb, resource, name=name)


@pytest.mark.parametrize(
    ("verb", "resource"),
    [("list", "trainingtasks.sovits.io"), ("create", "jobs.batch"), ("list", "pods"), ("create", "events")],
)
def test_namespaced_operator_is_blind_outside_its_namespace(namespaced: Release, verb: str, resource: str) -> None:
    assert not namespaced.can(OPERATOR_SA, verb, resource, namespace=namespaced.other_namespace)
    assert not namespaced.can(OPERATOR_SA, verb, resource, namespace="*")


def test_namespaced_operator_cannot_read_the_storage_secret_elsewhere(namespaced: Release) -> None:
    assert not namespaced.can(OPERATOR_SA, "get", "secrets", name="sovits-s3", namespace=namespaced.other_namespace)


@pytest.mark.parametrize(
    ("verb", "resource", "name"),
    [
        ("create", "trainingtasks.sovits.io", None),
        ("delete", "trainingtasks.sovits.io", None),
        ("watch", "trainingtasks.sovits.io", None),
        ("get", "trainingtasks.sovits.io/status", None),
        ("list", "pods", None),
        ("get", "pods/log", None),
        ("get", "secrets", "sovits-api-tokens"),
    ],
)
def test_api_may_do_what_the_facade_needs(namespaced: Release, verb: str, resource: str, name: str | None) -> None:
    assert namespaced.can(API_SA, verb, resource, name=name)


@pytest.mark.parametrize(
    ("verb", "resource", "name"),
    [
        ("get", "secrets", "sovits-s3"),
        ("list", "secrets", None),
        ("patch", "trainingtasks.sovits.io/status", None),
        ("create", "jobs.batch", None),
        ("create", "pods", None),
        ("watch", "pods", None),
    ],
)
def test_api_may_not_go_beyond_its_needs(namespaced: Release, verb: str, resource: str, name: str | None) -> None:
    assert not namespaced.can(API_SA, verb, resource, name=name)


def test_namespaced_api_is_blind_outside_its_namespace(namespaced: Release) -> None:
    assert not namespaced.can(API_SA, "create", "trainingtasks.sovits.io", namespace=namespaced.other_namespace)
    assert not namespaced.can(API_SA, "list", "trainingtasks.sovits.io", namespace="*")


def test_nothing_cluster_scoped_is_granted_in_namespaced_mode(namespaced: Release) -> None:
    for sa in (OPERATOR_SA, API_SA):
        assert not namespaced.can(sa, "list", "nodes")
        assert not namespaced.can(sa, "list", "namespaces")
        assert not namespaced.can(sa, "update", "customresourcedefinitions.apiextensions.k8s.io")


# All namespaces ----------------------------------------------------------------------------------


def test_cluster_wide_operator_reconciles_tasks_in_any_namespace(cluster_wide: Release) -> None:
    assert cluster_wide.can(OPERATOR_SA, "watch", "trainingtasks.sovits.io", namespace="*")
    assert cluster_wide.can(OPERATOR_SA, "create", "jobs.batch", namespace=cluster_wide.other_namespace)
    assert cluster_wide.can(API_SA, "create", "trainingtasks.sovits.io", namespace=cluster_wide.other_namespace)


def test_cluster_wide_accounts_still_read_no_arbitrary_secret_and_create_no_pod(cluster_wide: Release) -> None:
    other = cluster_wide.other_namespace
    for sa in (OPERATOR_SA, API_SA):
        assert not cluster_wide.can(sa, "list", "secrets", namespace="*")
        assert not cluster_wide.can(sa, "get", "secrets", name="some-other-secret", namespace=other)
        assert not cluster_wide.can(sa, "create", "pods", namespace=other)
    # The tokens Secret is readable in the release namespace only.
    assert cluster_wide.can(API_SA, "get", "secrets", name="sovits-api-tokens")
    assert not cluster_wide.can(API_SA, "get", "secrets", name="sovits-api-tokens", namespace=other)


# The CRD applied with kubectl before helm install -----------------------------------------------

CRD_NAME = "trainingtasks.sovits.io"
HELM_OWNERSHIP = ("app.kubernetes.io/managed-by", "meta.helm.sh/release-name", "meta.helm.sh/release-namespace")


def adoption_commands(release: str, namespace: str) -> list[list[str]]:
    """The kubectl lines of install.md's "If the CRD is already there", for this release."""
    text = (CHART.parents[1] / "docs" / "install.md").read_text(encoding="utf-8")
    section = text.split("**If the CRD is already there.**", 1)[1].split("**Where pods run.**", 1)[0]
    lines = [line.strip() for line in section.splitlines() if line.strip().startswith("kubectl ")]
    assert len(lines) == 2, lines
    ours = {
        "release-name=sovits": f"release-name={release}",
        "release-namespace=sovits": f"release-namespace={namespace}",
    }
    commands = []
    for line in lines:
        for theirs, mine in ours.items():
            line = line.replace(theirs, mine)
        commands.append(shlex.split(line)[1:])
    return commands


def crd_helm_metadata(cluster: ClusterInfo) -> dict[str, str]:
    meta = json.loads(cluster.kubectl("get", "crd", CRD_NAME, "-o", "json"))["metadata"]
    found = {**meta.get("labels", {}), **meta.get("annotations", {})}
    return {key: found[key] for key in HELM_OWNERSHIP if key in found}


@pytest.fixture
def crd_left_as_kubectl_applied(cluster: ClusterInfo) -> Iterator[None]:
    """The session's CRD, as `kubectl apply -f crds/` made it; afterwards no release owns it again."""
    assert crd_helm_metadata(cluster) == {}
    yield
    cluster.kubectl("label", "crd", CRD_NAME, "app.kubernetes.io/managed-by-")
    cluster.kubectl("annotate", "crd", CRD_NAME, "meta.helm.sh/release-name-", "meta.helm.sh/release-namespace-",
                    "helm.sh/resource-policy-")  # fmt: skip


@pytest.mark.usefixtures("crd_left_as_kubectl_applied")
@pytest.mark.parametrize("way", ["take-ownership", "label-and-annotate"])
def test_helm_install_after_kubectl_apply_of_the_crd_works_as_the_install_guide_says(
    cluster: ClusterInfo, way: str
) -> None:
    namespace = cluster.create_namespace("adopt")
    release = f"adopt-{way[:4]}"
    install = [str(cluster.helm), "install", release, str(CHART), "--namespace", namespace]
    try:
        refused = subprocess.run(install, env=cluster.env, capture_output=True, text=True, timeout=180)
        assert refused.returncode != 0 and "invalid ownership metadata" in refused.stderr

        if way == "take-ownership":
            install.append("--take-ownership")
        else:
            for command in adoption_commands(release, namespace):
                cluster.kubectl(*command)
        adopted = subprocess.run(install, env=cluster.env, capture_output=True, text=True, timeout=180)

        assert adopted.returncode == 0, adopted.stderr
        assert crd_helm_metadata(cluster) == {
            "app.kubernetes.io/managed-by": "Helm",
            "meta.helm.sh/release-name": release,
            "meta.helm.sh/release-namespace": namespace,
        }
    finally:
        subprocess.run([str(cluster.helm), "uninstall", release, "--namespace", namespace], env=cluster.env,
                       capture_output=True, timeout=180)  # fmt: skip
        kubectl(cluster, "delete", "namespace", namespace, "--wait=false")
    assert (
        cluster.kubectl("get", "crd", CRD_NAME, "-o", "name").strip()
        == f"customresourcedefinition.apiextensions.k8s.io/{CRD_NAME}"
    )
