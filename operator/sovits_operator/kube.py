"""The operator's own Kubernetes calls, each run in a worker thread.

The ``kubernetes`` client blocks, so every call goes through ``asyncio.to_thread`` and never
holds the event loop. Its ``ApiException`` is translated here, once, into the domain errors
(``NotFound``, ``Conflict``, ``Retryable``, ``InvalidInput``) that callers branch on.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from .errors import Conflict, InvalidInput, NotFound, Retryable, SovitsError
from .model import GROUP, PLURAL, VERSION

# Concurrent blocking API calls (each in a worker thread, each with its pooled connection).
API_THREADS = 32


def status_patch(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """A merge patch turning status ``old`` into ``new``: lists are replaced, vanished keys nulled."""
    return {"status": {**{key: None for key in old if key not in new}, **new}}


def _translate(exc: Exception, what: str) -> Exception:
    from kubernetes.client.exceptions import ApiException

    if isinstance(exc, ApiException):
        status = int(exc.status or 0)
        detail = f"{what}: {status} {exc.reason}"
        if status == 404:
            return NotFound(detail)
        if status == 409:
            return Conflict(detail)
        if status in (400, 422):
            return InvalidInput(f"{detail}: {exc.body}")
        if status == 429 or status >= 500:
            return Retryable(detail)
        return SovitsError(detail)
    if isinstance(exc, OSError) or type(exc).__module__.startswith("urllib3"):
        return Retryable(f"{what}: {exc}")
    return exc


class KubeCalls(Protocol):
    """The calls the Controller makes: ``Kube`` against an API server, a fake in unit tests."""

    async def get_task(self, namespace: str, name: str) -> dict[str, Any] | None: ...
    async def patch_task_status(self, namespace: str, name: str, patch: dict[str, Any]) -> dict[str, Any]: ...
    async def create_job(self, namespace: str, body: dict[str, Any]) -> bool: ...
    async def delete_job(self, namespace: str, name: str) -> None: ...
    async def patch_job(self, namespace: str, name: str, patch: dict[str, Any]) -> None: ...
    async def delete_jobs(self, namespace: str, label_selector: str) -> list[str]: ...


class Kube:
    """The few API calls the operator makes beyond kopf's own watching."""

    def __init__(self, api_client: Any) -> None:
        from kubernetes import client

        self.custom = client.CustomObjectsApi(api_client)
        self.batch = client.BatchV1Api(api_client)

    @classmethod
    def connect(cls) -> Kube:
        """In-cluster credentials when present, else the kubeconfig (KUBECONFIG or ~/.kube/config)."""
        from kubernetes import client, config

        configuration = client.Configuration()
        try:
            config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        except config.ConfigException:
            config.load_kube_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        # One pooled connection per worker thread: a full pool would open (TLS) and drop one per call.
        configuration.connection_pool_maxsize = API_THREADS
        return cls(client.ApiClient(configuration))

    @staticmethod
    def executor() -> ThreadPoolExecutor:
        """The threads blocking calls run in (install as the loop's default executor). Python's
        default of cpus + 4 serialises hundreds of tasks' calls behind a handful of threads."""
        return ThreadPoolExecutor(API_THREADS, thread_name_prefix="kube")

    async def _call(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return await asyncio.to_thread(fn, *args, **kwargs)
        except Exception as exc:
            translated = _translate(exc, what)
            if translated is exc:
                raise
            raise translated from exc

    async def get_task(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = await self._call(
                f"get trainingtask {namespace}/{name}",
                self.custom.get_namespaced_custom_object, GROUP, VERSION, namespace, PLURAL, name,
            )  # fmt: skip
        except NotFound:
            return None
        return found

    async def patch_task_status(self, namespace: str, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        patched: dict[str, Any] = await self._call(
            f"patch trainingtask {namespace}/{name} status",
            self.custom.patch_namespaced_custom_object_status, GROUP, VERSION, namespace, PLURAL, name, patch,
        )  # fmt: skip
        return patched

    async def create_job(self, namespace: str, body: dict[str, Any]) -> bool:
        """True if created, False if a Job of that name already exists (a repeated create)."""
        try:
            await self._call(f"create job {namespace}/{body['metadata']['name']}",
                             self.batch.create_namespaced_job, namespace, body)  # fmt: skip
        except Conflict:
            return False
        return True

    async def delete_job(self, namespace: str, name: str) -> None:
        with contextlib.suppress(NotFound):
            await self._call(f"delete job {namespace}/{name}", self.batch.delete_namespaced_job, name,
                             namespace, propagation_policy="Background")  # fmt: skip

    async def patch_job(self, namespace: str, name: str, patch: dict[str, Any]) -> None:
        with contextlib.suppress(NotFound):
            await self._call(f"patch job {namespace}/{name}", self.batch.patch_namespaced_job, name, namespace,
                             patch)  # fmt: skip

    async def delete_jobs(self, namespace: str, label_selector: str) -> list[str]:
        """Delete every Job matching ``label_selector``; the names it found.

        Listed, then deleted one by one rather than with ``deletecollection``, a verb the chart's
        Role does not grant (it would let a leaked token wipe every Job in the namespace). Each
        delete takes its pods with it, as a cancel does.
        """
        listed = await self._call(f"list jobs {namespace} {label_selector}", self.batch.list_namespaced_job,
                                  namespace, label_selector=label_selector)  # fmt: skip
        names = [job.metadata.name for job in listed.items]
        for name in names:
            await self.delete_job(namespace, name)
        return names
