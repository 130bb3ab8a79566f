"""What `helm template` renders: the operator's single replica, scoped RBAC, hardened pods,
and a settings file the processes read without dropping a key."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from sovits_core import settings as settings_module
from sovits_core.settings import Settings
from tests.chart.conftest import ALL_OPTIONS, CHART, NAMESPACE, Render, Rendered, run_helm

OPERATOR = "rel-sovits-operator-operator"
API = "rel-sovits-operator-api"


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]  # type: ignore[no-any-return]


def rules(role: dict[str, Any]) -> list[dict[str, Any]]:
    return role["rules"]  # type: ignore[no-any-return]


def verbs_on(role: dict[str, Any], group: str, resource: str) -> set[str]:
    return {
        verb
        for rule in rules(role)
        if group in rule["apiGroups"] and resource in rule["resources"]
        for verb in rule["verbs"]
    }


def settings_file(rendered: Rendered, tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(rendered.one("ConfigMap")["data"]["config.yaml"])
    return path


def unknown_keys(data: dict[str, Any], model: type[BaseModel], where: str = "") -> list[str]:
    """Keys the settings model would silently ignore (it is lenient with extras)."""
    found = []
    for key, value in data.items():
        field = model.model_fields.get(key)
        if field is None:
            found.append(f"{where}{key}")
        elif isinstance(value, dict) and isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            found += unknown_keys(value, field.annotation, f"{where}{key}.")
    return found


def test_helm_lint_strict_passes_with_defaults_and_with_every_option(helm: Path) -> None:
    for extra in ([], ["--values", str(ALL_OPTIONS)]):
        result = run_helm(helm, "lint", "--strict", str(CHART), *extra)
        assert result.returncode == 0, result.stdout + result.stderr


def test_defaults_render_the_operator_api_and_namespaced_rbac(render: Render) -> None:
    assert render().kinds() == sorted(
        ["ConfigMap", "CustomResourceDefinition", "Deployment", "Deployment", "Service", "Service"]
        + ["ServiceAccount"] * 2
        + ["Role"] * 3
        + ["RoleBinding"] * 3
    )


def test_every_option_renders_every_optional_object(render: Render) -> None:
    kinds = set(render(ALL_OPTIONS).kinds())
    assert {"Ingress", "PodDisruptionBudget", "NetworkPolicy", "ServiceMonitor", "ClusterRole"} <= kinds


def test_operator_runs_one_replica_recreated_never_rolled(render: Render) -> None:
    for rendered in (render(), render(ALL_OPTIONS)):
        deployment = rendered.one("Deployment", OPERATOR)
        assert deployment["spec"]["replicas"] == 1
        assert deployment["spec"]["strategy"] == {"type": "Recreate"}


def test_operator_watches_the_release_namespace_by_default(render: Render) -> None:
    args = container(render(namespace="voices").one("Deployment", OPERATOR))["args"]
    assert args == ["operator", "--namespace", "voices"]


def test_operator_watches_all_namespaces_when_asked(render: Render) -> None:
    args = container(render(sets={"watch.allNamespaces": "true"}).one("Deployment", OPERATOR))["args"]
    assert args[:2] == ["operator", "--all-namespaces"]
    assert "--namespace" not in args


def test_namespaced_mode_grants_no_cluster_wide_role(render: Render) -> None:
    rendered = render()
    assert rendered.all("ClusterRole") == []
    assert rendered.all("ClusterRoleBinding") == []
    assert all(role["metadata"]["namespace"] == NAMESPACE for role in rendered.all("Role"))


def test_all_namespaces_mode_uses_cluster_roles_named_per_release_namespace(render: Render) -> None:
    rendered = render(sets={"watch.allNamespaces": "true"}, namespace="voices")
    names = sorted(role["metadata"]["name"] for role in rendered.all("ClusterRole"))
    assert names == ["voices-rel-sovits-operator-api", "voices-rel-sovits-operator-operator"]
    # The API's tokens Secret stays behind a namespaced Role whatever the scope.
    assert [role["metadata"]["name"] for role in rendered.all("Role")] == ["rel-sovits-operator-api-tokens"]


def test_operator_role_grants_exactly_what_the_operator_uses(render: Render) -> None:
    role = render().one("Role", OPERATOR)
    assert verbs_on(role, "sovits.io", "trainingtasks") == {"get", "list", "watch", "patch"}
    assert verbs_on(role, "sovits.io", "trainingtasks/status") == {"patch"}
    assert verbs_on(role, "sovits.io", "trainingtasks/finalizers") == {"update"}
    # Jobs are deleted one by one: no deletecollection, which would reach every Job in the namespace.
    assert verbs_on(role, "batch", "jobs") == {"list", "watch", "create", "delete", "patch"}
    assert verbs_on(role, "", "pods") == {"list", "watch"}
    assert verbs_on(role, "", "events") == {"create"}
    granted = {(group, res) for rule in rules(role) for group in rule["apiGroups"] for res in rule["resources"]}
    assert granted == {
        ("sovits.io", "trainingtasks"),
        ("sovits.io", "trainingtasks/status"),
        ("sovits.io", "trainingtasks/finalizers"),
        ("batch", "jobs"),
        ("", "pods"),
        ("", "events"),
    }


def test_api_role_grants_task_crud_and_log_reads_only(render: Render) -> None:
    role = render().one("Role", API)
    assert verbs_on(role, "sovits.io", "trainingtasks") == {
        "create", "get", "list", "watch", "patch", "update", "delete"
    }  # fmt: skip
    assert verbs_on(role, "sovits.io", "trainingtasks/status") == {"get"}
    assert verbs_on(role, "", "pods") == {"get", "list"}
    assert verbs_on(role, "", "pods/log") == {"get"}
    assert verbs_on(role, "batch", "jobs") == set()
    assert verbs_on(role, "", "secrets") == set()


@pytest.mark.parametrize("values", [(), (ALL_OPTIONS,)], ids=["defaults", "all-options"])
def test_every_secret_rule_names_its_secrets(render: Render, values: tuple[Path, ...]) -> None:
    rendered = render(*values)
    secret_rules = [
        rule
        for role in rendered.all("Role") + rendered.all("ClusterRole")
        for rule in rules(role)
        if "secrets" in rule["resources"]
    ]
    assert secret_rules, "expected the named-Secret rules"
    for rule in secret_rules:
        assert rule["verbs"] == ["get"]
        assert rule.get("resourceNames"), rule


def test_only_the_api_may_read_a_secret_and_only_its_tokens(render: Render) -> None:
    rendered = render(ALL_OPTIONS)
    operator_role = rendered.one("ClusterRole", "sovits-rel-sovits-operator-operator")
    assert [r for r in rules(operator_role) if "secrets" in r["resources"]] == []
    api_tokens = rendered.one("Role", "rel-sovits-operator-api-tokens")
    assert rules(api_tokens) == [
        {"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["voices-tokens"], "verbs": ["get"]}
    ]


@pytest.mark.parametrize("values", [(), (ALL_OPTIONS,)], ids=["defaults", "all-options"])
def test_every_pod_is_non_root_read_only_and_drops_all_capabilities(render: Render, values: tuple[Path, ...]) -> None:
    for deployment in render(*values).all("Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        ctx = container(deployment)["securityContext"]
        assert ctx["readOnlyRootFilesystem"] is True
        assert ctx["allowPrivilegeEscalation"] is False
        assert ctx["capabilities"]["drop"] == ["ALL"]
        # A read-only root needs somewhere to write.
        tmp = next(v for v in pod["volumes"] if v["name"] == "tmp")
        assert tmp["emptyDir"] == {}
        assert {"name": "tmp", "mountPath": "/tmp"} in container(deployment)["volumeMounts"]


def test_probes_hit_the_health_endpoints(render: Render) -> None:
    rendered = render()
    operator = container(rendered.one("Deployment", OPERATOR))
    assert operator["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert {"name": "metrics", "containerPort": 8080, "protocol": "TCP"} in operator["ports"]
    # The probe comes from the kubelet, on the pod IP: the server must not bind loopback only.
    env = {e["name"]: e.get("value") for e in operator["env"]}
    assert env["SOVITS_OPERATOR__METRICS_HOST"] == "0.0.0.0"
    api = container(rendered.one("Deployment", API))
    assert api["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert api["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}


def test_no_resources_are_set_by_default(render: Render) -> None:
    for deployment in render().all("Deployment"):
        assert "resources" not in container(deployment)


def test_selectors_never_carry_the_chart_version(render: Render) -> None:
    rendered = render(ALL_OPTIONS)
    selectors = [d["spec"]["selector"]["matchLabels"] for d in rendered.all("Deployment")]
    selectors += [s["spec"]["selector"] for s in rendered.all("Service")]
    selectors += [p["spec"]["selector"]["matchLabels"] for p in rendered.all("PodDisruptionBudget")]
    for selector in selectors:
        assert "helm.sh/chart" not in selector
        assert "app.kubernetes.io/version" not in selector


def test_s3_credentials_reach_the_processes_only_through_secret_references(render: Render) -> None:
    for deployment in render(ALL_OPTIONS).all("Deployment"):
        env = {e["name"]: e for e in container(deployment)["env"]}
        for name, key in (
            ("SOVITS_STORAGE__ACCESS_KEY_ID", "AWS_ACCESS_KEY_ID"),
            ("SOVITS_STORAGE__SECRET_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY"),
        ):
            assert env[name]["valueFrom"]["secretKeyRef"] == {"name": "voices-s3", "key": key}
        assert env["SOVITS_CONFIG_FILE"]["value"] == "/etc/sovits/config.yaml"


def test_the_config_map_holds_no_secret_values(render: Render) -> None:
    text = render(ALL_OPTIONS).one("ConfigMap")["data"]["config.yaml"]
    assert "access_key" not in text
    assert "webhook_secret" not in text


@pytest.mark.parametrize("values", [(), (ALL_OPTIONS,)], ids=["defaults", "all-options"])
def test_every_settings_key_is_one_the_processes_read(render: Render, tmp_path: Path, values: tuple[Path, ...]) -> None:
    data = yaml.safe_load(settings_file(render(*values), tmp_path).read_text())
    assert unknown_keys(data, Settings) == []


@pytest.fixture
def no_sovits_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The file alone decides: SOVITS_* variables would win over it."""
    for name in list(os.environ):
        if name.startswith("SOVITS_"):
            monkeypatch.delenv(name)


@pytest.mark.usefixtures("no_sovits_env")
def test_chart_values_arrive_in_the_loaded_settings(render: Render, tmp_path: Path) -> None:
    loaded = settings_module.load(settings_file(render(ALL_OPTIONS), tmp_path))

    assert loaded.server.host == "0.0.0.0"
    assert loaded.gpu.default_device == "0-1"
    assert loaded.gpu.resource_name == "nvidia.com/mig-1g.10gb"
    assert loaded.gpu.node_selector == {"nvidia.com/gpu.present": "true"}
    assert loaded.gpu.tolerations == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert loaded.training.default_epochs_s2 == 8
    assert loaded.storage.endpoint_url == "https://s3.example.com"
    assert loaded.storage.bucket == "voices"
    assert loaded.storage.credentials_secret == "voices-s3"
    assert loaded.images.default == "registry.example.com/sovits/step:0.1.0-cu126"
    assert loaded.images.for_step("slice_audio") == "registry.example.com/sovits/step-cpu:0.1.0"
    assert loaded.images.for_step("train_gpt") == loaded.images.default
    assert loaded.images.pull_policy == "Always"
    assert loaded.images.pull_secrets == ["registry-credentials"]
    assert loaded.operator.queue_name == "gpu-queue"
    assert loaded.operator.max_attempts == 5
    assert loaded.operator.delete_storage_on_delete is True
    assert loaded.operator.metrics_port == 9090
    assert loaded.operator.run_as_user == 2000
    assert loaded.operator.step_node_selector == {"kubernetes.io/os": "linux"}
    assert loaded.operator.step_tolerations == [{"key": "batch", "operator": "Exists"}]
    assert "podAntiAffinity" in loaded.operator.step_affinity
    assert loaded.api.tokens_secret == "voices-tokens"
    assert loaded.api.default_namespace == "voices"
    assert loaded.api.download_mode == "stream"


@pytest.mark.usefixtures("no_sovits_env")
def test_default_settings_leave_the_queue_unset_and_use_the_release_namespace(render: Render, tmp_path: Path) -> None:
    loaded = settings_module.load(settings_file(render(namespace="voices"), tmp_path))
    assert loaded.operator.queue_name is None
    assert loaded.storage.endpoint_url is None
    assert loaded.api.default_namespace == "voices"
    assert loaded.images.default == "ghcr.io/sovits-operator/step:0.1.0"


OFF_GPU_NODES = {
    "requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [
            {"matchExpressions": [{"key": "nvidia.com/gpu.present", "operator": "NotIn", "values": ["true"]}]}
        ]
    }
}


def pod_affinity(rendered: Rendered, name: str) -> dict[str, Any] | None:
    return rendered.one("Deployment", name)["spec"]["template"]["spec"].get("affinity")  # type: ignore[no-any-return]


def test_the_operator_and_the_api_stay_off_gpu_nodes_by_default(render: Render) -> None:
    rendered = render()

    assert pod_affinity(rendered, OPERATOR) == {"nodeAffinity": OFF_GPU_NODES}
    assert pod_affinity(rendered, API) == {"nodeAffinity": OFF_GPU_NODES}


def test_a_node_affinity_of_ones_own_or_an_empty_gpu_label_replaces_the_rule(render: Render, tmp_path: Path) -> None:
    spread = {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": []}}
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump({"api": {"affinity": spread}}))

    own = render(ALL_OPTIONS, values)  # the operator brings a nodeAffinity, the API only a podAntiAffinity
    anywhere = render(sets={"gpu.nodeLabel": ""})

    operator = pod_affinity(own, OPERATOR)
    assert operator is not None and operator["nodeAffinity"] != OFF_GPU_NODES
    assert pod_affinity(own, API) == {**spread, "nodeAffinity": OFF_GPU_NODES}
    assert (pod_affinity(anywhere, OPERATOR), pod_affinity(anywhere, API)) == (None, None)


@pytest.mark.usefixtures("no_sovits_env")
def test_the_gpu_node_label_reaches_the_operators_settings(render: Render, tmp_path: Path) -> None:
    default = settings_module.load(settings_file(render(), tmp_path))
    assert default.gpu.node_label == "nvidia.com/gpu.present"

    custom = settings_module.load(settings_file(render(sets={"gpu.nodeLabel": "example.com/gpu"}), tmp_path))
    assert custom.gpu.node_label == "example.com/gpu"


def test_a_digest_wins_over_the_tag(render: Render) -> None:
    deployment = render(ALL_OPTIONS).one("Deployment", OPERATOR)
    assert container(deployment)["image"] == (
        "registry.example.com/sovits/sovits-operator@sha256:" + "0123456789abcdef" * 4
    )


def test_a_config_change_rolls_the_pods(render: Render) -> None:
    def checksum(rendered: Rendered) -> str:
        return rendered.one("Deployment", OPERATOR)["spec"]["template"]["metadata"]["annotations"]["checksum/config"]  # type: ignore[no-any-return]

    assert checksum(render()) != checksum(render(sets={"storage.bucket": "other"}))


def test_api_pdb_uses_max_unavailable_when_set(render: Render) -> None:
    assert render(ALL_OPTIONS).one("PodDisruptionBudget")["spec"] == {
        "selector": {"matchLabels": render(ALL_OPTIONS).one("Deployment", API)["spec"]["selector"]["matchLabels"]},
        "maxUnavailable": 1,
    }
    default_on = render(sets={"api.podDisruptionBudget.enabled": "true"}).one("PodDisruptionBudget")
    assert default_on["spec"]["minAvailable"] == 1
    assert "maxUnavailable" not in default_on["spec"]


def test_api_network_policy_admits_listed_clients_and_scrapers_only(render: Render) -> None:
    policy = render(ALL_OPTIONS).one("NetworkPolicy", API)
    peers = policy["spec"]["ingress"][0]["from"]
    sources = [peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] for peer in peers]
    assert sources == ["ingress-nginx", "monitoring"]


def test_every_sovits_variable_the_chart_sets_names_a_setting(render: Render) -> None:
    names = {
        env["name"]
        for deployment in render(ALL_OPTIONS).all("Deployment")
        for env in container(deployment)["env"]
        if env["name"].startswith("SOVITS_") and env["name"] != "SOVITS_CONFIG_FILE"
    }
    assert "SOVITS_API__WEBHOOK_SECRET" in names
    for name in names:
        model: type[BaseModel] = Settings
        *groups, leaf = name.removeprefix("SOVITS_").lower().split("__")
        for group in groups:
            annotation = model.model_fields[group].annotation
            assert isinstance(annotation, type) and issubclass(annotation, BaseModel), name
            model = annotation
        assert leaf in model.model_fields, f"{name} sets nothing: no field {leaf!r} in {model.__name__}"
