"""The task store: where TrainingTasks live, seen through the operations the API needs.

Two implementations: ``kube_store.KubeTaskStore`` (TrainingTask objects in a cluster) and
``local_store.SqliteTaskStore`` (the same objects in SQLite for ``sovits local``). Every
method but ``held`` blocks; callers on an event loop run them in a thread. The namespace is the tenant.
Errors are the domain's: NotFound, InvalidInput (a bad selector or continue token),
TaskBusy/PrerequisiteMissing from the step checks, Retryable when the backend is down.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol

from sovits_core.model import StepRequest, TrainingTask, TrainingTaskSpec

# Page size the stores use when a caller asks for every task.
LIST_CHUNK = 500


@dataclass(frozen=True)
class Held:
    """A task the store could answer for at once: a version that changes with every write of it
    (a deleted and re-created task gets another), and the task, parsed only when asked for."""

    version: str
    parse: Callable[[], TrainingTask]


@dataclass(frozen=True)
class Page:
    items: list[TrainingTask]
    continue_token: str | None = None


class TaskStore(Protocol):
    def create(
        self, namespace: str, task_id: str, spec: TrainingTaskSpec, labels: Mapping[str, str]
    ) -> TrainingTask: ...

    def get(self, namespace: str, task_id: str) -> TrainingTask: ...

    def held(self, namespace: str, task_id: str) -> Held | None:
        """The task if the store can answer for it at once (the one method that never waits and
        may run on the event loop); None: ask ``get`` in a thread."""
        ...

    def versions(self, namespace: str) -> Mapping[str, str] | None:
        """Every task's name and ``Held`` version, without reading the tasks themselves; None when
        the store cannot tell without reading them (``list`` then)."""
        ...

    def all_held(self, namespace: str, label_selector: str | None = None) -> list[tuple[str, Held]] | None:
        """Every task ``list`` would give without a limit, in its order, by name and held; None when
        the store cannot answer without listing (``list`` then). Blocks on SQLite."""
        ...

    def list(
        self,
        namespace: str,
        *,
        label_selector: str | None = None,
        limit: int | None = None,
        continue_token: str | None = None,
    ) -> Page:
        """One page of tasks; ``continue_token`` of the result fetches the next (None at the end)."""
        ...

    def append_step(self, namespace: str, task_id: str, request: StepRequest) -> TrainingTask:
        """Append a step request after the busy and prerequisite checks, atomically."""
        ...

    def cancel(self, namespace: str, task_id: str) -> TrainingTask: ...

    def delete(self, namespace: str, task_id: str) -> None: ...

    def annotate(self, namespace: str, task_id: str, values: Mapping[str, str]) -> TrainingTask:
        """Merge annotations (the webhook worker's delivery record)."""
        ...

    def ping(self) -> None:
        """Raise Retryable when the backend cannot serve requests."""
        ...

    def start(self) -> None:
        """Begin the store's background work, if it has any (the cluster store's watch of the
        default namespace); the app's lifespan calls it, never a constructor."""
        ...


def list_all(store: TaskStore, namespace: str, label_selector: str | None = None) -> Iterator[TrainingTask]:
    """Every task, page by page (the seed's plain GET /tasks)."""
    token: str | None = None
    while True:
        page = store.list(namespace, label_selector=label_selector, limit=LIST_CHUNK, continue_token=token)
        yield from page.items
        token = page.continue_token
        if not token:
            return


Mutation = Callable[[TrainingTask], TrainingTask]
