"""The Kubernetes adapter of the operator and the API: credentials, error mapping, concurrency,
and the status merge patch the operator sends."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from kubernetes.client.exceptions import ApiException

from sovits_core.errors import Conflict, InvalidInput, NotFound, Retryable, SovitsError
from sovits_kube.client import API_THREADS, Expired, Kube, configuration, resource_path, status_patch, translate
from sovits_operator.handlers import connection_info


def test_a_status_patch_replaces_lists_and_nulls_fields_that_went_away() -> None:
    old = {"phase": "failed", "errorMessage": "boom", "steps": [{"name": "convert_audio"}]}
    new = {"phase": "running", "steps": [{"name": "convert_audio"}, {"name": "slice_audio"}]}

    patch = status_patch(old, new)

    assert patch == {"status": {"errorMessage": None, "phase": "running", "steps": new["steps"]}}


def a_kubeconfig(path: Path, server: str, token: str) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": server}}],
                "users": [{"name": "u", "user": {"token": token}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    return path


@pytest.fixture
def in_a_pod(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The service account's files a pod has (at tmp paths) and its environment, no $KUBECONFIG."""
    (tmp_path / "token").write_text("pod-token")
    (tmp_path / "ca.crt").write_text("a CA bundle (read only when a call is made)")
    monkeypatch.setattr("kubernetes.config.incluster_config.SERVICE_TOKEN_FILENAME", str(tmp_path / "token"))
    monkeypatch.setattr("kubernetes.config.incluster_config.SERVICE_CERT_FILENAME", str(tmp_path / "ca.crt"))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    monkeypatch.delenv("KUBECONFIG", raising=False)


def test_in_a_pod_the_service_account_is_used(in_a_pod: None) -> None:
    found = configuration()

    assert found.host == "https://10.0.0.1:443"
    assert connection_info(found).token == "pod-token"


def test_kubeconfig_in_the_environment_wins_over_the_service_account(
    in_a_pod: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = a_kubeconfig(tmp_path / "kubeconfig", "https://laptop:6443", "user-token")
    monkeypatch.setenv("KUBECONFIG", str(path))
    monkeypatch.setattr("kubernetes.config.kube_config.KUBE_CONFIG_DEFAULT_LOCATION", str(path))

    found = configuration()

    # kopf's watches log in as our own calls do, not by kopf's order (service account first).
    assert (found.host, connection_info(found).token) == ("https://laptop:6443", "user-token")


def test_an_explicit_kubeconfig_wins_over_everything(in_a_pod: None, tmp_path: Path) -> None:
    path = a_kubeconfig(tmp_path / "given", "https://given:6443", "given-token")

    found = configuration(str(path))

    assert (found.host, connection_info(found).scheme, connection_info(found).token) == (
        "https://given:6443", "Bearer", "given-token",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("status", "error"),
    [(404, NotFound), (409, Conflict), (410, Expired), (422, InvalidInput), (429, Retryable), (503, Retryable)],
)
def test_an_api_error_becomes_the_domain_error_with_the_api_servers_words(
    status: int, error: type[SovitsError]
) -> None:
    exc = ApiException(status=status, reason="Reason")
    exc.body = json.dumps({"kind": "Status", "message": 'trainingtasks "v" is invalid: spec.batchSize'})

    translated = translate(exc, "create trainingtask ns/v")

    assert type(translated) is error
    assert isinstance(translated, SovitsError)
    assert translated.message == 'create trainingtask ns/v: trainingtasks "v" is invalid: spec.batchSize'


def test_refused_credentials_are_our_error_not_the_callers() -> None:
    translated = translate(ApiException(status=403, reason="Forbidden"), "list jobs ns")

    assert type(translated) is SovitsError and not isinstance(translated, InvalidInput)
    assert "refused our credentials" in str(translated) and "list jobs ns" in str(translated)


def test_an_unreachable_api_server_is_retryable() -> None:
    translated = translate(ConnectionRefusedError(111, "Connection refused"), "get trainingtask ns/v")

    assert isinstance(translated, Retryable) and "unreachable" in str(translated)


def test_every_worker_thread_has_a_pooled_connection_of_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = a_kubeconfig(tmp_path / "kubeconfig", "https://127.0.0.1:6443", "t")
    monkeypatch.setenv("KUBECONFIG", str(path))
    # The client reads KUBECONFIG once, at import; an earlier test in the session may have imported it.
    monkeypatch.setattr("kubernetes.config.kube_config.KUBE_CONFIG_DEFAULT_LOCATION", str(path))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)

    kube = Kube.connect()
    executor = Kube.executor()

    # Hundreds of tasks reconcile at once; Python's default (cpus + 4 threads) and the client's
    # default pool (cpus x 5) queued their calls for seconds in the scale benchmark.
    assert executor._max_workers == API_THREADS
    assert kube.api_client.configuration.connection_pool_maxsize == API_THREADS
    assert kube.api_client.configuration.host == "https://127.0.0.1:6443"
    executor.shutdown()


def test_the_watched_collections_are_found_under_their_groups_path_in_one_namespace_or_all() -> None:
    assert resource_path("jobs", None) == "/apis/batch/v1/jobs"
    assert resource_path("pods", "team-a") == "/api/v1/namespaces/team-a/pods"
