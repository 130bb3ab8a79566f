"""kopf handlers: thin adapters from watch events to ``Controller.reconcile``.

Nothing is registered at import time: ``build_registry`` binds the handlers to one Settings
object, so settings are built once, by the CLI. The operator's state (the Controller) lives in
kopf's ``memo``, set by the start-up handler. kopf watches TrainingTasks only: step Jobs and
pods come from the operator's own light watches (watches.py), whose first list the start-up
handler awaits before kopf resumes any task. kopf's own bookkeeping lives in annotations
under our prefix, never in the public status, and no handler returns a value (kopf would
write it into status).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import socket
from collections.abc import Mapping
from typing import Any, cast

import kopf

from sovits_core.errors import SovitsError
from sovits_core.model import GROUP, KIND, PLURAL, VERSION
from sovits_core.settings import Settings
from sovits_kube import client as kube
from sovits_kube.client import Kube

from . import metrics
from .controller import Controller
from .watches import StepWatches

log = logging.getLogger(__name__)

BACKOFF_S = 5.0  # before kopf retries a failed handler (its default is a minute)
EVENT_SOURCE = "sovits-operator"


class TaskDiffBase(kopf.AnnotationsDiffBaseStorage):
    """kopf's diff base in our annotation, the same essence built without first deep-copying what
    it throws away: kopf copies the whole body, status and managedFields included, on every
    event of every task (a tenth of a restart's time over 1,000 finished tasks)."""

    def build(self, *, body: kopf.Body, extra_fields: Any = None) -> kopf.BodyEssence:
        if not extra_fields:  # fields of the status a handler asked for would be cut off
            meta = body.get("metadata") or {}
            kept = {key: value for key, value in body.items() if key != "status"}
            # What the essence keeps of the metadata, and what kopf's key convention reads.
            kept["metadata"] = {k: meta[k] for k in ("labels", "annotations", "ownerReferences") if k in meta}
            body = kopf.Body(cast(kopf.RawBody, kept))
        return super().build(body=body, extra_fields=extra_fields)


def kopf_settings(settings: Settings) -> kopf.OperatorSettings:
    prefix = settings.operator.annotation_prefix
    ks = kopf.OperatorSettings()
    ks.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=prefix)
    ks.persistence.diffbase_storage = TaskDiffBase(prefix=prefix, key="last-handled-configuration")
    ks.persistence.finalizer = f"{prefix}/cleanup"
    ks.posting.loggers = False  # only the Events reconcile decides on are posted
    # `kubectl describe` shows this as the Events' From (kopf's default says "kopf").
    ks.posting.reporting_component = EVENT_SOURCE
    ks.posting.reporting_instance = socket.gethostname()[:128]
    ks.posting.event_name_prefix = "sovits-"
    # Fixed resources in exact namespaces (or all): no need to observe Namespaces and CRDs,
    # which would take cluster-wide list/watch grants the chart's least-privilege RBAC omits.
    ks.scanning.disabled = True
    ks.watching.server_timeout = 300
    ks.watching.client_timeout = 330
    ks.watching.inactivity_timeout = 600  # a silently dead watch stream is restarted
    return ks


def _post_event(body: Mapping[str, Any], type_: str, reason: str, message: str) -> None:
    ref = {
        "apiVersion": body.get("apiVersion", f"{GROUP}/{VERSION}"),
        "kind": body.get("kind", KIND),
        "metadata": {k: body["metadata"].get(k) for k in ("name", "namespace", "uid")},
    }
    kopf.event(kopf.Body(cast(Any, ref)), type=type_, reason=reason, message=message[:1000])


class Poster:
    """Posts Events through kopf's queue from any pass. kopf puts its queue into the context of
    its own per-object workers only; a pass started by news from our Job and pod watches runs
    outside them, so it borrows the context of the first kopf handler called."""

    def __init__(self) -> None:
        self._borrowed: contextvars.Context | None = None

    def borrow(self) -> None:
        """Called in every task handler: the first one lends its context."""
        if self._borrowed is None:
            self._borrowed = contextvars.copy_context()

    def __call__(self, body: Mapping[str, Any], type_: str, reason: str, message: str) -> None:
        try:
            if self._borrowed is None:
                _post_event(body, type_, reason, message)
            else:
                self._borrowed.run(_post_event, body, type_, reason, message)
        except LookupError:  # no kopf worker has run yet: the decision is logged, its Event lost
            log.warning("Event %s not posted: kopf's event queue is not known yet", reason)


def _translated(exc: SovitsError) -> kopf.TemporaryError | kopf.PermanentError:
    """The one boundary where domain errors become kopf's retry decisions."""
    if exc.retryable or exc.code in ("conflict", "internal"):
        return kopf.TemporaryError(exc.message, delay=5)
    return kopf.PermanentError(exc.message)


def connection_info(found: Any) -> kopf.ConnectionInfo:
    """kopf's watches log in with the credentials our own calls use (kube.configuration), not
    with kopf's order (service account before $KUBECONFIG), so both always talk as one user."""
    scheme, token = kube.bearer(found)
    return kopf.ConnectionInfo(
        server=found.host,
        ca_path=found.ssl_ca_cert,
        insecure=not found.verify_ssl,
        username=found.username or None,
        password=found.password or None,
        scheme=scheme,
        token=token,
        certificate_path=found.cert_file,
        private_key_path=found.key_file,
    )


def controller_of(memo: Any) -> Controller:
    """The operator's state: one Controller, put into kopf's ``memo`` at start-up (handlers get
    shallow copies of that memo, which share it)."""
    memo.poster.borrow()
    ctl: Controller = memo.controller
    return ctl


async def reconciled(
    ctl: Controller,
    namespace: str,
    name: str,
    progress: Mapping[str, float] | None = None,
    listed: dict[str, Any] | None = None,
) -> None:
    try:
        await ctl.reconcile(namespace, name, progress, listed)
    except SovitsError as exc:
        raise _translated(exc) from exc


def build_registry(settings: Settings, namespaces: list[str] | None) -> kopf.OperatorRegistry:
    """The handlers of one operator process, bound to ``settings``, for ``namespaces`` (None: all)."""
    registry = kopf.OperatorRegistry()
    _register_lifecycle(registry, settings, namespaces)
    _register_task_handlers(registry, settings)
    return registry


def _register_lifecycle(registry: kopf.OperatorRegistry, settings: Settings, namespaces: list[str] | None) -> None:
    @kopf.on.login(id="login", registry=registry)
    def login(**_: Any) -> kopf.ConnectionInfo:
        return connection_info(kube.configuration())

    @kopf.on.startup(id="startup", registry=registry)
    async def startup(memo: kopf.Memo, **_: Any) -> None:
        asyncio.get_running_loop().set_default_executor(Kube.executor())
        calls = await asyncio.to_thread(Kube.connect)
        memo.poster = Poster()
        ctl = Controller(settings, calls, memo.poster)
        memo.metrics = None
        if settings.operator.metrics_port:
            memo.metrics = await metrics.serve(settings.operator.metrics_host, settings.operator.metrics_port)
        memo.watches = StepWatches(calls, ctl.labels, namespaces, on_job=ctl.job_seen, on_pod=ctl.pod_seen)
        ctl.jobs_index, ctl.pods_index = memo.watches.jobs, memo.watches.pods
        memo.watches.start()
        # Before kopf resumes the first task: a retained Job it did not know of would be created again.
        await memo.watches.synced()
        memo.controller = ctl
        memo.progress = asyncio.create_task(ctl.progress_timer(settings.operator.progress_interval_s))

    @kopf.on.cleanup(id="cleanup", registry=registry)
    async def cleanup(memo: kopf.Memo, **_: Any) -> None:
        if memo.get("progress") is not None:
            memo.progress.cancel()
        if memo.get("watches") is not None:
            memo.watches.stop()
        if memo.get("metrics") is not None:
            await memo.metrics.cleanup()


def _register_task_handlers(registry: kopf.OperatorRegistry, settings: Settings) -> None:
    @kopf.on.create(GROUP, VERSION, PLURAL, id="reconcile", backoff=BACKOFF_S, registry=registry)
    @kopf.on.update(GROUP, VERSION, PLURAL, id="reconcile", backoff=BACKOFF_S, registry=registry)
    async def task_changed(namespace: str | None, name: str, memo: kopf.Memo, **_: Any) -> None:
        await reconciled(controller_of(memo), namespace or "", name)

    @kopf.on.resume(GROUP, VERSION, PLURAL, id="reconcile", backoff=BACKOFF_S, registry=registry)
    async def task_resumed(namespace: str | None, name: str, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
        # At start-up nothing of ours is newer than kopf's listing: no read per (finished) task.
        await reconciled(controller_of(memo), namespace or "", name, listed=dict(body))

    @kopf.on.event(GROUP, VERSION, PLURAL, id="task_event", registry=registry)
    async def task_event(body: kopf.Body, type: str | None, memo: kopf.Memo, **_: Any) -> None:  # async: on the loop
        controller_of(memo).task_seen(body, gone=type == "DELETED")

    @kopf.on.delete(GROUP, VERSION, PLURAL, id="delete", backoff=BACKOFF_S, registry=registry)
    async def task_deleted(
        namespace: str | None, name: str, uid: str, body: kopf.Body, memo: kopf.Memo, **_: Any
    ) -> None:
        ctl = controller_of(memo)
        namespace = namespace or ""
        ctl.forget(namespace, name, uid)
        try:
            await ctl.delete_jobs(namespace, uid)
        except SovitsError as exc:
            raise _translated(exc) from exc
        if settings.operator.delete_storage_on_delete:
            await ctl.delete_storage(dict(body))


def quiet_kopf(settings: Settings) -> None:
    """The controller logs one line per decision; kopf's line per handler call ("Handler ...
    succeeded", thousands an hour) shows only at the level asked for. Its warnings and errors stay."""
    logging.getLogger("kopf").setLevel(settings.operator.kopf_log_level)


def run(settings: Settings, namespaces: list[str], clusterwide: bool) -> None:
    """Run the operator until it is stopped (SIGINT/SIGTERM)."""
    quiet_kopf(settings)
    kopf.run(
        registry=build_registry(settings, None if clusterwide else namespaces),
        memo=kopf.Memo(),  # the Controller and the metrics server, set by the start-up handler
        settings=kopf_settings(settings),
        standalone=True,  # one replica (the chart uses Recreate): no peering objects
        clusterwide=clusterwide,
        namespaces=namespaces,
    )
