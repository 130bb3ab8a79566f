"""``sovits local``: the seed's API and the pipeline on one machine, no cluster.

The same FastAPI app as ``sovits api``, over the SQLite task store, with the local runtime
(the operator's reconcile carried out with child processes) in a thread beside it. Files live
under ``--data-dir`` with the cluster's layout, or in S3 when storage is configured for it.

Layout of the data directory: ``tasks.db`` (tasks), ``runtime.db`` (the runtime's shard
rows), ``store/`` (the object store: ``tasks/<id>/...``, ``models/...``), ``runs/`` (each
shard's working directory and its stdout, the live log while a step runs).
"""

from __future__ import annotations

import ipaddress
import logging
import os
import threading
from pathlib import Path

from sovits_api import webhook_targets
from sovits_api.app import create_app
from sovits_api.auth import Tenants
from sovits_api.logs import tail_lines
from sovits_api.services import Services
from sovits_core import storage
from sovits_core.catalog import StepName
from sovits_core.model import TrainingTask
from sovits_core.settings import Settings

from .jobs import LocalJobs
from .runtime import LocalRuntime
from .store import SqliteTaskStore

log = logging.getLogger(__name__)

# Open event streams (a console tab follows its task) never end by themselves while a task is
# unfinished; on Ctrl-C or SIGTERM the server gives them this long, then stops.
GRACEFUL_SHUTDOWN_S = 3


class LocalRefused(Exception):
    """``sovits local`` will not start as asked (the message says why)."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def local_settings(settings: Settings, data_dir: Path, max_parallel: int | None) -> Settings:
    """The process settings adjusted for one machine; S3 stays in use when it is configured."""
    use_s3 = os.environ.get("SOVITS_STORAGE__BACKEND") == "s3" or settings.storage.endpoint_url is not None
    storage_settings = settings.storage.model_copy(
        update={"backend": "s3" if use_s3 else "local", "local_root": data_dir / "store"}
    )
    operator = settings.operator.model_copy(
        update={
            # Waiting for a free slot is shown at once; nobody else can free one sooner.
            "unschedulable_after_s": 0.0,
            "retry_backoff_s": min(settings.operator.retry_backoff_s, 2.0),
            "delete_storage_on_delete": True,
        }
    )
    gpu = settings.gpu.model_copy(update={"max_parallel": max_parallel or settings.gpu.max_parallel})
    paths = settings.paths.model_copy(update={"work_dir": data_dir})
    # One user on one machine: a webhook to a local receiver is theirs to ask for.
    api = settings.api.model_copy(
        update={"webhook_allowed_networks": settings.api.webhook_allowed_networks or list(webhook_targets.EVERYWHERE)}
    )
    return settings.model_copy(
        update={"storage": storage_settings, "operator": operator, "gpu": gpu, "paths": paths, "api": api}
    )


class LocalLiveLogs:
    """The running step's stdout, read from its run directory."""

    def __init__(self, runs: Path) -> None:
        self.runs = runs

    def read(self, namespace: str, task: TrainingTask, step: StepName, tail: int | None) -> str | None:
        record = next((r for r in reversed(task.status.steps) if r.name == step and r.phase == "running"), None)
        if record is None or not record.job_name:
            return None
        shards = sorted((self.runs / task.metadata.name / record.job_name).glob("*/output.log"))
        if not shards:
            return None
        return tail_lines(shards[0].read_text(errors="replace"), tail)


def build(settings: Settings, host: str, data_dir: Path) -> tuple[Services, LocalRuntime]:
    """The API's services and the runtime, wired to the same stores; nothing starts yet."""
    tokens = settings.api.tokens
    if not is_loopback(host) and not tokens:
        raise LocalRefused(
            f"refusing to serve on {host} without API tokens: set SOVITS_API__TOKENS "
            '(e.g. \'{"<token>": "default"}\') or bind 127.0.0.1'
        )
    namespace = settings.api.default_namespace
    tenants = Tenants(tokens) if tokens else Tenants({}, disabled_namespace=namespace)
    tasks = SqliteTaskStore.open(data_dir / "tasks.db")
    services = Services(
        settings=settings,
        tasks=tasks,
        objects=storage.open_store(settings.storage),
        tenants=tenants,
        live_logs=LocalLiveLogs(data_dir / "runs"),
    )
    runtime = LocalRuntime(
        tasks=tasks,
        jobs=LocalJobs.open(data_dir / "runtime.db"),
        settings=settings,
        data_dir=data_dir,
        namespaces=sorted(set(tokens.values())) if tokens else [namespace],
        max_parallel=settings.gpu.max_parallel,
    )
    return services, runtime


def serve(settings: Settings, *, host: str, port: int, data_dir: Path, max_parallel: int | None) -> int:
    import uvicorn

    data_dir = data_dir.resolve()
    settings = local_settings(settings, data_dir, max_parallel)
    try:
        services, runtime = build(settings, host, data_dir)
    except LocalRefused as exc:
        log.error("%s", exc)
        return 2
    runtime.recover()  # before the API serves: it removes partial writes no upload may be making
    worker = threading.Thread(target=runtime.run_forever, name="local-runtime", daemon=True)
    worker.start()
    log.info("sovits local: data in %s, at most %d steps at once", data_dir, runtime.max_parallel)
    try:
        uvicorn.run(
            create_app(services), host=host, port=port, log_level="info", timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S
        )
    finally:
        runtime.stop()
        worker.join(timeout=30)
    return 0
