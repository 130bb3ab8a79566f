"""The operator's own watches of its step Jobs and pods, in place of kopf's indexes.

One list+watch per resource and watched namespace (or one for all), selected on the server by
the task-uid label and pruned on arrival in the stream's thread (observe.prune_job /
prune_pod), so only the few fields reconcile reads are ever kept. The stores are changed on
the event loop alone, so the Controller reads them without locks, and each change is handed
on from the same loop callback that made it.

The first list fills the stores and starts no pass (kopf replayed every retained Job and pod
through a handler, and held the tasks' handlers until it had): the start-up handler waits for
it, and then kopf resumes every task, whose pass reads them. A later list (the watch expired
or broke) hands on only what changed since the stores last heard.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sovits_core.model import KIND
from sovits_kube.client import Kube
from sovits_kube.watch import ListWatch

from .jobs import Labels
from .observe import prune_job, prune_pod


@dataclass(frozen=True, slots=True)
class Kept:
    """One Job or pod as the operator keeps it."""

    namespace: str
    task_uid: str
    task: str | None  # the owning TrainingTask's name (Jobs; a pod's owner is its Job)
    name: str
    body: dict[str, Any]  # pruned


def kept(body: Mapping[str, Any], uid_label: str, prune: Callable[[Mapping[str, Any]], dict[str, Any]]) -> Kept:
    meta = body.get("metadata") or {}
    owner = next((o.get("name") for o in meta.get("ownerReferences") or [] if o.get("kind") == KIND), None)
    return Kept(
        namespace=str(meta.get("namespace") or ""),
        task_uid=str((meta.get("labels") or {}).get(uid_label) or ""),
        task=owner,
        name=str(meta.get("name") or ""),
        body=prune(body),
    )


Change = tuple[Kept, bool]  # the object, and whether it is gone
FINISHED_PHASES = frozenset({"Succeeded", "Failed"})


def _anything(_: Kept) -> bool:
    return True


class Store(Mapping[str, list[dict[str, Any]]]):
    """Kept objects of one resource: the pruned bodies of a task's, by its uid."""

    def __init__(self) -> None:
        self._by_task: dict[str, dict[tuple[str, str], Kept]] = {}

    def __getitem__(self, uid: str) -> list[dict[str, Any]]:
        return [k.body for k in self._by_task[uid].values()]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_task)

    def __len__(self) -> int:
        return len(self._by_task)

    def put(self, item: Kept) -> None:
        self._by_task.setdefault(item.task_uid, {})[(item.namespace, item.name)] = item

    def drop(self, item: Kept) -> None:
        mine = self._by_task.get(item.task_uid)
        if mine is not None:
            mine.pop((item.namespace, item.name), None)
            if not mine:
                del self._by_task[item.task_uid]

    def holds(self, uid: str, namespace: str, name: str) -> bool:
        return (namespace, name) in self._by_task.get(uid, {})

    def drop_where(self, uid: str, doomed: Callable[[Kept], bool]) -> None:
        for item in [k for k in self._by_task.get(uid, {}).values() if doomed(k)]:
            self.drop(item)

    def replace(self, items: list[Kept], namespace: str | None) -> list[Change]:
        """A fresh list of ``namespace`` (None: all) replaces what was kept there; what differs."""
        before = {
            (k.namespace, k.name): k
            for mine in self._by_task.values()
            for k in mine.values()
            if namespace is None or k.namespace == namespace
        }
        for old in before.values():
            self.drop(old)
        changes: list[Change] = []
        for item in items:
            self.put(item)
            if before.pop((item.namespace, item.name), None) != item:
                changes.append((item, False))
        changes.extend((old, True) for old in before.values())
        return changes


class Feed:
    """One stream's Sink: hands its news from the stream's thread to the loop."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        store: Store,
        namespace: str | None,
        on_change: Callable[[Kept, bool], None],
        admit: Callable[[Kept], bool] = _anything,
    ) -> None:
        self._loop = loop
        self._admit = admit  # whether a watch event's object is worth keeping
        # The handler's context (kopf's settings, which Event posting reads), not the thread's.
        self._context = contextvars.copy_context()
        self._store = store
        self._namespace = namespace
        self._on_change = on_change
        self.synced = asyncio.Event()

    # -- in the stream's thread
    def listed(self, items: list[Any]) -> None:
        self._loop.call_soon_threadsafe(self._listed, items, context=self._context)

    def changed(self, kind: str, item: Any) -> None:
        self._loop.call_soon_threadsafe(self._changed, item, kind == "DELETED", context=self._context)

    def lost(self, error: Exception) -> None:
        """Keep what is held: the next list hands on what changed meanwhile."""

    # -- on the loop
    def _listed(self, items: list[Kept]) -> None:
        changes = self._store.replace(items, self._namespace)
        if not self.synced.is_set():  # the first list: no history replayed, resumed tasks read it
            self.synced.set()
            return
        for item, gone in changes:
            self._on_change(item, gone)

    def _changed(self, item: Kept, gone: bool) -> None:
        if gone or not self._admit(item):
            self._store.drop(item)
        else:
            self._store.put(item)
        self._on_change(item, gone)


class StepWatches:
    """The Jobs and pods of every task in the watched namespaces (``None``: all), kept current."""

    def __init__(
        self,
        kube: Kube,
        labels: Labels,
        namespaces: list[str] | None,
        on_job: Callable[[Kept, bool], None],
        on_pod: Callable[[Kept, bool], None],
    ) -> None:
        loop = asyncio.get_running_loop()
        self.jobs = Store()
        self.pods = Store()
        self._on_job = on_job
        self.feeds: dict[str, list[Feed]] = {"jobs": [], "pods": []}  # one per watched namespace
        self._streams: list[ListWatch] = []
        uid = labels.task_uid
        # Lists cost what is in flight, not the retained history: Jobs whose outcome the status
        # holds are left out on the server (jobs.ttl_patch labels them), and so are succeeded
        # pods, in lists only (the watch sees a pod succeed). The Controller reads the pods of a
        # Job that completed unseen, once (Controller._read_missing_pods).
        for resource, store, prune, on_change, admit, selector, list_fields in (
            ("jobs", self.jobs, prune_job, self._job_changed, _anything, f"{uid},!{labels.recorded}", None),
            ("pods", self.pods, prune_pod, on_pod, self._pod_wanted, uid, "status.phase!=Succeeded"),
        ):
            for namespace in namespaces if namespaces is not None else [None]:
                feed = Feed(loop, store, namespace, on_change, admit)
                self.feeds[resource].append(feed)
                self._streams.append(ListWatch(
                    kube.lister(resource, namespace), f"{resource} in {namespace or 'all namespaces'}", feed,
                    keep=lambda body, prune=prune: kept(body, uid, prune), label_selector=selector,  # type: ignore[misc]
                    list_field_selector=list_fields,
                ))  # fmt: skip

    # Pods of Jobs whose outcome the status holds are history, as those Jobs are: without this
    # the pod store kept every pod the watch saw succeed (11,000 of them after 1,000 tasks).
    def _job_changed(self, job: Kept, gone: bool) -> None:
        """A Job that left the store (recorded, or deleted) takes its finished pods with it."""
        if gone:
            self.pods.drop_where(
                job.task_uid,
                lambda pod: (
                    pod.namespace == job.namespace
                    and pod.body.get("job") == job.name
                    and pod.body.get("phase") in FINISHED_PHASES
                ),
            )
        self._on_job(job, gone)

    def _pod_wanted(self, pod: Kept) -> bool:
        """A succeeded pod is kept only while its Job is: after that (the Job controller's last
        update of it, say) it is history. A Job that completes before its pod's success came is
        read once by the Controller, as after a restart."""
        job = pod.body.get("job")
        return pod.body.get("phase") != "Succeeded" or (
            job is not None and self.jobs.holds(pod.task_uid, pod.namespace, str(job))
        )

    def start(self) -> None:
        for stream in self._streams:
            stream.start()

    async def synced(self) -> None:
        """Until every stream's first list is in."""
        for feed in [*self.feeds["jobs"], *self.feeds["pods"]]:
            await feed.synced.wait()

    def stop(self) -> None:
        for stream in self._streams:
            stream.stop()
