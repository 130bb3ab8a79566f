"""The one Kubernetes adapter: client set-up, error mapping and timeouts for the operator
(its own calls and kopf's watches) and the API (its task store).

Credentials are found in one order everywhere: an explicit kubeconfig, then ``$KUBECONFIG``,
then the pod's service account, then ``~/.kube/config`` (kubectl's order, with the
service account where kubectl has none). The ``kubernetes`` client blocks, so the operator
runs every call through ``asyncio.to_thread`` and never holds the event loop. Every call has a
timeout, and its ``ApiException`` is translated here, once, into the domain errors
(``NotFound``, ``Conflict``, ``Expired``, ``InvalidInput``, ``Retryable``) callers branch on.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from sovits_core.errors import Conflict, InvalidInput, NotFound, Retryable, SovitsError
from sovits_core.model import GROUP, PLURAL, VERSION

# Concurrent blocking API calls (each in a worker thread, each with its pooled connection).
API_THREADS = 32
REQUEST_TIMEOUT_S = 30.0


class Expired(SovitsError):
    """A list's continue token (or a watch's resourceVersion) is too old: HTTP 410 Gone."""

    code = "gone"


def configuration(kubeconfig: str | None = None) -> Any:
    """A ``kubernetes.client.Configuration`` from the first credentials found, in the order above."""
    from kubernetes import client, config

    found = client.Configuration()
    if kubeconfig is None and "KUBECONFIG" not in os.environ and "KUBERNETES_SERVICE_HOST" in os.environ:
        config.load_incluster_config(client_configuration=found)  # type: ignore[no-untyped-call]
    else:
        config.load_kube_config(config_file=kubeconfig, client_configuration=found)  # type: ignore[no-untyped-call]
    # One pooled connection per worker thread: a full pool would open (TLS) and drop one per call.
    found.connection_pool_maxsize = API_THREADS
    return found


def api_client(kubeconfig: str | None = None) -> Any:
    """A ``kubernetes.client.ApiClient`` with the credentials of ``configuration``."""
    from kubernetes import client

    return client.ApiClient(configuration(kubeconfig))


def bearer(found: Any) -> tuple[str | None, str | None]:
    """The (scheme, token) of a configuration's Authorization header, if it has one."""
    header = found.get_api_key_with_prefix("BearerToken") or found.get_api_key_with_prefix("authorization")
    if not header:
        return None, None
    scheme, _, token = str(header).partition(" ")
    return (scheme, token) if token else (None, scheme)


def status_message(exc: Any) -> str:
    """The API server's own words from an ``ApiException`` (its Status object), else its reason."""
    try:
        return str(json.loads(exc.body or "").get("message") or exc.reason)
    except (ValueError, AttributeError):
        return str(exc.reason or exc.status)


def translate(exc: Exception, what: str = "") -> Exception:
    """The domain error for a failed call (``exc`` itself when it is no client or network error)."""
    from kubernetes.client.exceptions import ApiException

    if isinstance(exc, ApiException):
        status = int(exc.status or 0)
        message = f"{what}: {status_message(exc)}" if what else status_message(exc)
        if status == 404:
            return NotFound(message)
        if status == 409:
            return Conflict(message)
        if status == 410:
            return Expired(message)
        if status in (400, 422):
            return InvalidInput(message)
        if status in (401, 403):
            # Our own service account lacks rights: an operator's error, not the caller's.
            return SovitsError(f"the kubernetes API refused our credentials: {message}")
        if status == 429 or status >= 500:
            return Retryable(message)
        return SovitsError(message)
    if isinstance(exc, OSError) or type(exc).__module__.startswith("urllib3"):
        return Retryable(f"{what + ': ' if what else ''}kubernetes API unreachable: {exc}")
    return exc


def call(fn: Callable[..., Any], *args: Any, what: str = "", timeout: Any = REQUEST_TIMEOUT_S, **kwargs: Any) -> Any:
    """One blocking API call with the timeout (seconds, or (connect, read)), its errors translated."""
    try:
        return fn(*args, _request_timeout=timeout, **kwargs)
    except Exception as exc:
        translated = translate(exc, what)
        if translated is exc:
            raise
        raise translated from exc


def status_patch(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """A merge patch turning status ``old`` into ``new``: lists are replaced, vanished keys nulled."""
    return {"status": {**{key: None for key in old if key not in new}, **new}}


# The collections the operator watches; list and watch share one path.
RESOURCE_PATHS = {"jobs": "/apis/batch/v1", "pods": "/api/v1"}
QUERY_NAMES = {"label_selector": "labelSelector", "field_selector": "fieldSelector", "limit": "limit",
               "_continue": "continue", "watch": "watch",
               "resource_version": "resourceVersion", "timeout_seconds": "timeoutSeconds",
               "allow_watch_bookmarks": "allowWatchBookmarks",
               "propagation_policy": "propagationPolicy"}  # fmt: skip
MERGE_PATCH = "application/merge-patch+json"


def resource_path(resource: str, namespace: str | None) -> str:
    """The API path of a collection (``jobs``, ``pods``) in ``namespace``, or in all."""
    root = RESOURCE_PATHS[resource]
    return f"{root}/{resource}" if namespace is None else f"{root}/namespaces/{namespace}/{resource}"


def task_path(namespace: str, name: str) -> str:
    return f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}/{name}"


def raw_request(
    api_client: Any,
    method: str,
    path: str,
    *,
    body: Any = None,
    content_type: str | None = None,
    _request_timeout: Any = None,
    **params: Any,
) -> Any:
    """One request for ``path`` answered as the raw HTTP response (the client's parameter names;
    ``_preload_content`` is implied); an error status raises the client's ``ApiException``.
    The generated API classes are not used: an instance of ``CoreV1Api`` alone costs the process
    about 14 MB, importing ``BatchV1Api`` 7 MB, and each of their calls validates its body and
    turns the answer into model objects that nothing here reads."""
    from kubernetes.client.exceptions import ApiException

    params.pop("_preload_content", None)
    query = [(QUERY_NAMES[k], str(v).lower() if isinstance(v, bool) else v) for k, v in params.items() if v is not None]
    headers = {"Accept": "application/json"}
    if body is not None:
        headers["Content-Type"] = content_type or "application/json"
    request = api_client.param_serialize(method=method, resource_path=path, query_params=query, body=body,
                                         header_params=headers, auth_settings=["BearerToken"])  # fmt: skip
    answer = api_client.call_api(*request, _request_timeout=_request_timeout)
    if not 200 <= answer.status <= 299:
        answer.read()
        raise ApiException.from_response(http_resp=answer, body=None, data=None)
    return answer.response


def raw_list(api_client: Any, path: str, *, _request_timeout: Any = None, **params: Any) -> Any:
    """A list or watch request for ``path``, answered as the raw HTTP response (see raw_request)."""
    return raw_request(api_client, "GET", path, _request_timeout=_request_timeout, **params)


def raw_json(api_client: Any, method: str, path: str, **kwargs: Any) -> Any:
    """``raw_request`` with its answer read as JSON (None when empty)."""
    data = raw_request(api_client, method, path, **kwargs).data
    return json.loads(data) if data else None


class KubeCalls(Protocol):
    """The calls the Controller makes: ``Kube`` against an API server, a fake in unit tests."""

    async def get_task(self, namespace: str, name: str) -> dict[str, Any] | None: ...
    async def patch_task_status(self, namespace: str, name: str, patch: dict[str, Any]) -> dict[str, Any]: ...
    async def create_job(self, namespace: str, body: dict[str, Any]) -> bool: ...
    async def delete_job(self, namespace: str, name: str) -> None: ...
    async def patch_job(self, namespace: str, name: str, patch: dict[str, Any]) -> None: ...
    async def delete_jobs(self, namespace: str, label_selector: str) -> list[str]: ...
    async def list_pods(self, namespace: str, label_selector: str) -> list[dict[str, Any]]: ...


class Kube:
    """The few API calls the operator makes beyond kopf's own watching."""

    def __init__(self, api_client: Any) -> None:
        self.api_client = api_client

    @classmethod
    def connect(cls) -> Kube:
        return cls(api_client())

    @staticmethod
    def executor() -> ThreadPoolExecutor:
        """The threads blocking calls run in (install as the loop's default executor). Python's
        default of cpus + 4 serialises hundreds of tasks' calls behind a handful of threads."""
        return ThreadPoolExecutor(API_THREADS, thread_name_prefix="kube")

    def lister(self, resource: str, namespace: str | None) -> Callable[..., Any]:
        """The list call of ``jobs`` or ``pods`` in ``namespace`` (None: every namespace), for
        a ``watch.ListWatch``."""
        return functools.partial(raw_list, self.api_client, resource_path(resource, namespace))

    async def _call(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(call, fn, *args, what=what, **kwargs)

    async def _json(self, what: str, method: str, path: str, **kwargs: Any) -> Any:
        return await self._call(what, raw_json, self.api_client, method, path, **kwargs)

    async def get_task(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = await self._json(
                f"get trainingtask {namespace}/{name}", "GET", task_path(namespace, name)
            )
        except NotFound:
            return None
        return found

    async def patch_task_status(self, namespace: str, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        patched: dict[str, Any] = await self._json(
            f"patch trainingtask {namespace}/{name} status", "PATCH", task_path(namespace, name) + "/status",
            body=patch, content_type=MERGE_PATCH,
        )  # fmt: skip
        return patched

    async def create_job(self, namespace: str, body: dict[str, Any]) -> bool:
        """True if created, False if a Job of that name already exists (a repeated create)."""
        try:
            await self._json(f"create job {namespace}/{body['metadata']['name']}", "POST",
                             resource_path("jobs", namespace), body=body)  # fmt: skip
        except Conflict:
            return False
        return True

    async def delete_job(self, namespace: str, name: str) -> None:
        with contextlib.suppress(NotFound):
            await self._json(f"delete job {namespace}/{name}", "DELETE", f"{resource_path('jobs', namespace)}/{name}",
                             propagation_policy="Background")  # fmt: skip

    async def patch_job(self, namespace: str, name: str, patch: dict[str, Any]) -> None:
        with contextlib.suppress(NotFound):
            await self._json(f"patch job {namespace}/{name}", "PATCH", f"{resource_path('jobs', namespace)}/{name}",
                             body=patch, content_type=MERGE_PATCH)  # fmt: skip

    async def list_pods(self, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        """The pods matching ``label_selector`` as plain dicts (one page: a Job has a few)."""
        path = resource_path("pods", namespace)
        response = await self._call(f"list pods {namespace} {label_selector}", raw_list, self.api_client, path,
                                    label_selector=label_selector)  # fmt: skip
        items: list[dict[str, Any]] = json.loads(response.data).get("items") or []
        return items

    async def delete_jobs(self, namespace: str, label_selector: str) -> list[str]:
        """Delete every Job matching ``label_selector``; the names it found.

        Listed, then deleted one by one rather than with ``deletecollection``, a verb the chart's
        Role does not grant (it would let a leaked token wipe every Job in the namespace). Each
        delete takes its pods with it, as a cancel does.
        """
        listed = await self._json(f"list jobs {namespace} {label_selector}", "GET", resource_path("jobs", namespace),
                                  label_selector=label_selector)  # fmt: skip
        names = [str(job["metadata"]["name"]) for job in listed.get("items") or []]
        for name in names:
            await self.delete_job(namespace, name)
        return names
