"""The task store over TrainingTask objects in a Kubernetes cluster.

The API writes only ``spec`` and annotations; status belongs to the operator (the status
subresource ignores ``status`` in our PUTs). Reads of one task come from a watch-fed cache
(task_cache.py) holding our own writes' answers too. Writes are optimistic: read, apply the
pure mutation, PUT with the read resourceVersion, and on 409 read again and retry; a write reads
the API server, never the cache.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from kubernetes import client as k8s

from sovits_core.errors import Conflict, InvalidInput, NotFound, Retryable
from sovits_core.model import (
    API_VERSION,
    GROUP,
    KIND,
    PLURAL,
    VERSION,
    StepRequest,
    TrainingTask,
    TrainingTaskSpec,
)
from sovits_kube import client as kube

from . import bookkeeping, mutations
from . import labels as label_syntax
from .store import Held, Mutation, Page
from .task_cache import TaskCache, version_of

T = TypeVar("T")
UPDATE_ATTEMPTS = 8
FIELD_MANAGER = "sovits-api"


def _utcnow() -> datetime:
    return datetime.now(UTC)


def api_client(kubeconfig: str | None = None) -> k8s.ApiClient:
    """A client with the operator's credential order (sovits_kube.client.configuration)."""
    return cast(k8s.ApiClient, kube.api_client(kubeconfig))


class KubeTaskStore:
    def __init__(
        self,
        api: k8s.ApiClient,
        ping_namespace: str = "default",
        clock: Callable[[], datetime] = _utcnow,
        cache: bool = True,
    ) -> None:
        self._objects = k8s.CustomObjectsApi(api)
        self._ping_namespace = ping_namespace
        self._clock = clock
        self._cache = TaskCache(self._objects.list_namespaced_custom_object) if cache else None

    def start(self) -> None:
        """Watch the default namespace now, so its first reads find the cache filled (another
        namespace's watch starts on its first read)."""
        if self._cache is not None:
            self._cache.namespace(self._ping_namespace)

    def close(self) -> None:
        """Stop the cache's watches (they run in daemon threads; a process exit ends them too)."""
        if self._cache is not None:
            self._cache.close()

    def _kept(self, namespace: str, obj: Any) -> TrainingTask:
        """Our write's answer, kept so the next read sees it, as a task."""
        if self._cache is not None:
            self._cache.namespace(namespace).answered(obj)
        return TrainingTask.model_validate(obj)

    def create(self, namespace: str, task_id: str, spec: TrainingTaskSpec, labels: Mapping[str, str]) -> TrainingTask:
        body = {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "metadata": {
                "name": task_id,
                "labels": dict(labels),
                "annotations": {bookkeeping.UPDATED_AT: self._clock().isoformat()},
            },
            "spec": spec.wire(),
        }
        obj = _call(
            self._objects.create_namespaced_custom_object,
            GROUP, VERSION, namespace, PLURAL, body, field_manager=FIELD_MANAGER,
        )  # fmt: skip
        return self._kept(namespace, obj)

    def get(self, namespace: str, task_id: str) -> TrainingTask:
        held = self.held(namespace, task_id)
        return held.parse() if held is not None else TrainingTask.model_validate(self._read(namespace, task_id))

    def held(self, namespace: str, task_id: str) -> Held | None:
        body = self._cache.namespace(namespace).get(task_id) if self._cache is not None else None
        if body is None:
            return None
        return Held(version_of(body), lambda: TrainingTask.model_validate(body))

    def versions(self, namespace: str) -> Mapping[str, str] | None:
        return self._cache.namespace(namespace).versions() if self._cache is not None else None

    def all_held(self, namespace: str, label_selector: str | None = None) -> list[tuple[str, Held]] | None:
        selector = label_syntax.parse_selector(label_selector or "")
        bodies = self._cache.namespace(namespace).bodies() if self._cache is not None else None
        if bodies is None:
            return None
        return [
            (body["metadata"]["name"], Held(version_of(body), functools.partial(TrainingTask.model_validate, body)))
            for body in bodies
            if label_syntax.matches(selector, body["metadata"].get("labels") or {})
        ]

    def _read(self, namespace: str, task_id: str) -> Any:
        """The task from the API server itself."""
        with _task_named(task_id):
            return _call(self._objects.get_namespaced_custom_object, GROUP, VERSION, namespace, PLURAL, task_id)

    def list(
        self,
        namespace: str,
        *,
        label_selector: str | None = None,
        limit: int | None = None,
        continue_token: str | None = None,
    ) -> Page:
        # Same parser as the local store, so both refuse the same selectors with the same words.
        label_syntax.parse_selector(label_selector or "")
        kwargs: dict[str, Any] = {}
        if label_selector:
            kwargs["label_selector"] = label_selector
        if limit is not None:
            kwargs["limit"] = limit
        if continue_token:
            kwargs["_continue"] = continue_token
        try:
            result = _call(self._objects.list_namespaced_custom_object, GROUP, VERSION, namespace, PLURAL, **kwargs)
        except kube.Expired:
            raise InvalidInput("continue: the token expired; list again from the start", field="continue") from None
        except InvalidInput as exc:
            if continue_token:
                raise InvalidInput(f"continue: {exc.message}", field="continue") from exc
            raise
        listing = cast(dict[str, Any], result)
        items = [TrainingTask.model_validate(o) for o in listing.get("items", [])]
        return Page(items, (listing.get("metadata") or {}).get("continue") or None)

    def append_step(self, namespace: str, task_id: str, request: StepRequest) -> TrainingTask:
        return self._update(namespace, task_id, lambda t: mutations.append_step(t, request, self._clock()))

    def cancel(self, namespace: str, task_id: str) -> TrainingTask:
        return self._update(namespace, task_id, lambda t: mutations.request_cancel(t, self._clock()))

    def delete(self, namespace: str, task_id: str) -> None:
        # Background propagation: the operator's finalizer removes Jobs (and storage if configured).
        with _task_named(task_id):
            _call(
            self._objects.delete_namespaced_custom_object,
                GROUP, VERSION, namespace, PLURAL, task_id, propagation_policy="Background",
            )  # fmt: skip
        if self._cache is not None:
            self._cache.namespace(namespace).deleted(task_id)

    def annotate(self, namespace: str, task_id: str, values: Mapping[str, str]) -> TrainingTask:
        # A merge patch of metadata.annotations touches nothing else and needs no retry loop.
        with _task_named(task_id):
            obj = _call(
                self._objects.patch_namespaced_custom_object,
                GROUP, VERSION, namespace, PLURAL, task_id, {"metadata": {"annotations": dict(values)}},
                field_manager=FIELD_MANAGER,
            )  # fmt: skip
        return self._kept(namespace, obj)

    def ping(self) -> None:
        _call(self._objects.list_namespaced_custom_object, GROUP, VERSION, self._ping_namespace, PLURAL, limit=1)

    def _update(self, namespace: str, task_id: str, mutate: Mutation) -> TrainingTask:
        for _ in range(UPDATE_ATTEMPTS):
            # From the API server, not the cache: the busy and prerequisite checks read the status,
            # which another replica's cache (or ours, by a moment) may not hold yet.
            current = TrainingTask.model_validate(self._read(namespace, task_id))
            changed = mutate(current)
            body = changed.model_dump(mode="json", by_alias=True, exclude_none=True, exclude={"status"})
            body["metadata"].pop("managedFields", None)
            try:
                obj = _call(
                    self._objects.replace_namespaced_custom_object,
                    GROUP, VERSION, namespace, PLURAL, task_id, body, field_manager=FIELD_MANAGER,
                )  # fmt: skip
            except Conflict:
                continue  # someone wrote in between (the operator, another replica): read again
            return self._kept(namespace, obj)
        raise Retryable(f"task {task_id} kept changing under {UPDATE_ATTEMPTS} attempts to update it")


@contextmanager
def _task_named(task_id: str) -> Iterator[None]:
    """The API server's 404 names the resource type; ours names the task, as the seed's did."""
    try:
        yield
    except NotFound as exc:
        raise NotFound(f"task {task_id} not found", field="task_id") from exc


def _call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """One API call through the shared adapter (its timeout, its error mapping)."""
    return cast(T, kube.call(fn, *args, **kwargs))
