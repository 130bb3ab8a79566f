"""The operator's Kubernetes adapter: the status merge patch it sends, its client's concurrency."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sovits_operator.kube import API_THREADS, Kube, status_patch


def test_a_status_patch_replaces_lists_and_nulls_fields_that_went_away() -> None:
    old = {"phase": "failed", "errorMessage": "boom", "steps": [{"name": "convert_audio"}]}
    new = {"phase": "running", "steps": [{"name": "convert_audio"}, {"name": "slice_audio"}]}

    patch = status_patch(old, new)

    assert patch == {"status": {"errorMessage": None, "phase": "running", "steps": new["steps"]}}


def test_every_worker_thread_has_a_pooled_connection_of_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:6443"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "x",
    }
    (tmp_path / "kubeconfig").write_text(yaml.safe_dump(kubeconfig))
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "kubeconfig"))
    # The client reads KUBECONFIG once, at import; an earlier test in the session may have imported it.
    monkeypatch.setattr("kubernetes.config.kube_config.KUBE_CONFIG_DEFAULT_LOCATION", str(tmp_path / "kubeconfig"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)

    kube = Kube.connect()
    executor = Kube.executor()

    # Hundreds of tasks reconcile at once; Python's default (cpus + 4 threads) and the client's
    # default pool (cpus x 5) queued their calls for seconds in the scale benchmark.
    assert executor._max_workers == API_THREADS
    assert kube.batch.api_client.configuration.connection_pool_maxsize == API_THREADS
    assert kube.batch.api_client.configuration.host == "https://127.0.0.1:6443"
    executor.shutdown()
