"""What the routes use, built once per process: the task store, the object store, the tenants.

``cluster_services`` wires the Kubernetes backends for ``sovits api``; ``sovits local``
builds a ``Services`` with its SQLite store, the local object store and auth switched off
(``Tenants(..., disabled_namespace=...)``). Nothing here contacts a server on construction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sovits_core import storage
from sovits_core.model import TrainingTask
from sovits_core.settings import Settings

from .auth import Tenants, tokens_from_secret_data
from .logs import LiveLogs
from .metrics import Metrics
from .store import TaskStore
from .uploads import Reservations
from .view_cache import ViewCache

log = logging.getLogger(__name__)

SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


@dataclass
class Services:
    settings: Settings
    tasks: TaskStore
    objects: storage.ObjectStore
    tenants: Tenants
    live_logs: LiveLogs | None = None
    # Reads the tokens Secret (blocking); None when tokens come from settings only.
    secret_tokens: Callable[[], Mapping[str, str]] | None = None
    webhooks: bool = True
    metrics: Metrics = field(default_factory=Metrics)
    reservations: Reservations = field(default_factory=Reservations)
    views: ViewCache = field(default_factory=ViewCache)

    def task_files(self, task: TrainingTask) -> storage.TaskFiles:
        """The task's folder in the object store, with the operator's own prefix rule."""
        return storage.TaskFiles(self.objects, storage.task_prefix(task, self.settings))


def cluster_services(settings: Settings, kubeconfig: str | None = None) -> Services:
    from kubernetes import client as k8s

    from .kube_store import KubeTaskStore, api_client
    from .logs import KubePodLogs

    api = api_client(kubeconfig)
    secret_tokens = None
    if settings.api.tokens_secret:
        secret_name = settings.api.tokens_secret
        core = k8s.CoreV1Api(api)
        own_namespace = _own_namespace(settings)

        def secret_tokens() -> Mapping[str, str]:
            secret = core.read_namespaced_secret(secret_name, own_namespace, _request_timeout=10)
            return tokens_from_secret_data({k: str(v) for k, v in (secret.data or {}).items()})

    return Services(
        settings=settings,
        tasks=KubeTaskStore(api, ping_namespace=settings.api.default_namespace),
        objects=storage.open_store(settings.storage),
        tenants=Tenants(settings.api.tokens),
        live_logs=KubePodLogs(api),
        secret_tokens=secret_tokens,
    )


def _own_namespace(settings: Settings) -> str:
    """The namespace the API runs in (where its tokens Secret lives)."""
    try:
        return SERVICE_ACCOUNT_NAMESPACE.read_text().strip()
    except OSError:
        return settings.api.default_namespace
