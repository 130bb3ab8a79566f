"""The TaskStore contract, on SQLite and (marked cluster) on TrainingTasks in a real API server."""

from __future__ import annotations

import uuid

import pytest

from sovits_api import bookkeeping
from sovits_api.mutations import step_request
from sovits_api.store import TaskStore, list_all
from sovits_api.view import task_view
from sovits_core.errors import InvalidInput, NotFound, PrerequisiteMissing, TaskBusy
from sovits_core.model import TrainingTask, TrainingTaskSpec, TrainingTaskStatus
from tests.support.processes import wait_for

from .conftest import Backend


def spec(**extra: object) -> TrainingTaskSpec:
    return TrainingTaskSpec.model_validate({"taskName": "t", "expName": "spk", **extra})


def version(task: TrainingTask) -> object:
    return (task.metadata.model_extra or {}).get("resourceVersion")


def new_id() -> str:
    return str(uuid.uuid4())


def test_created_task_reads_back_with_its_id_labels_and_times(task_backend: Backend) -> None:
    store, ns = task_backend.store, task_backend.namespace
    task_id = new_id()
    created = store.create(ns, task_id, spec(), {"team": "voice"})
    got = store.get(ns, task_id)
    assert got.metadata.name == created.metadata.name == task_id
    assert got.metadata.labels == {"team": "voice"}
    assert got.metadata.creation_timestamp is not None
    assert bookkeeping.updated_at(got) is not None
    assert task_view(got).status == "created"


def test_unknown_task_is_not_found(task_backend: Backend) -> None:
    with pytest.raises(NotFound) as exc:
        task_backend.store.get(task_backend.namespace, new_id())
    assert "not found" in exc.value.message


def test_another_namespaces_task_is_not_found(task_backend: Backend) -> None:
    task_id = new_id()
    task_backend.store.create(task_backend.namespace, task_id, spec(), {})
    with pytest.raises(NotFound):
        task_backend.store.get(task_backend.other_namespace, task_id)


def test_list_pages_through_every_task_once(task_backend: Backend) -> None:
    store, ns = task_backend.store, task_backend.namespace
    ids = {store.create(ns, new_id(), spec(), {"batch": "p"}).metadata.name for _ in range(5)}
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        page = store.list(ns, label_selector="batch=p", limit=2, continue_token=token)
        seen += [t.metadata.name for t in page.items]
        pages += 1
        token = page.continue_token
        if not token:
            break
    assert sorted(seen) == sorted(ids)
    assert pages >= 3


def test_label_selector_filters(task_backend: Backend) -> None:
    store, ns = task_backend.store, task_backend.namespace
    keep = store.create(ns, new_id(), spec(), {"team": "a"}).metadata.name
    store.create(ns, new_id(), spec(), {"team": "b"})
    assert [t.metadata.name for t in list_all(store, ns, "team=a")] == [keep]


def test_bad_selector_is_invalid_input(task_backend: Backend) -> None:
    with pytest.raises(InvalidInput) as exc:
        task_backend.store.list(task_backend.namespace, label_selector="a b")
    assert exc.value.field == "label_selector"


def test_bad_continue_token_is_invalid_input(task_backend: Backend) -> None:
    with pytest.raises(InvalidInput) as exc:
        task_backend.store.list(task_backend.namespace, limit=1, continue_token="not-a-token")
    assert exc.value.field == "continue"


def test_append_step_then_a_second_is_busy(task_backend: Backend) -> None:
    store, ns = task_backend.store, task_backend.namespace
    task_id = new_id()
    store.create(ns, task_id, spec(), {})
    after = store.append_step(ns, task_id, step_request("convert_audio", {}))
    assert [s.name for s in after.spec.steps] == ["convert_audio"]
    assert task_view(store.get(ns, task_id)).status == "running"
    with pytest.raises(TaskBusy):
        store.append_step(ns, task_id, step_request("convert_audio", {}))
    assert len(store.get(ns, task_id).spec.steps) == 1


def test_append_step_checks_prerequisites_against_the_stored_status(task_backend: Backend) -> None:
    store, ns = task_backend.store, task_backend.namespace
    task_id = new_id()
    store.create(ns, task_id, spec(), {})
    with pytest.raises(PrerequisiteMissing):
        store.append_step(ns, task_id, step_request("slice_audio", {}))
    first = store.append_step(ns, task_id, step_request("convert_audio", {}))
    request_id = first.spec.steps[0].request_id
    status = {"phase": "completed", "steps": [{"name": "convert_audio", "phase": "completed", "requestId": request_id}]}
    task_backend.write_status(ns, task_id, TrainingTaskStatus.model_validate(status))
    after = store.append_step(ns, task_id, step_request("slice_audio", {}))
    assert [s.name for s in after.spec.steps] == ["convert_audio", "slice_audio"]


def test_cancel_and_delete(task_backend: Backend) -> None:
    store, ns = task_backend.store, task_backend.namespace
    task_id = new_id()
    store.create(ns, task_id, spec(), {})
    assert store.cancel(ns, task_id).spec.cancel is True
    store.delete(ns, task_id)
    with pytest.raises(NotFound):
        store.delete(ns, task_id)


def test_a_step_after_an_idle_cancel_clears_the_flag_in_the_same_write(task_backend: Backend) -> None:
    store, ns = task_backend.store, task_backend.namespace
    task_id = new_id()
    store.create(ns, task_id, spec(), {})
    request_id = store.append_step(ns, task_id, step_request("convert_audio", {})).spec.steps[0].request_id
    status = {"phase": "completed", "steps": [{"name": "convert_audio", "phase": "completed", "requestId": request_id}]}
    task_backend.write_status(ns, task_id, TrainingTaskStatus.model_validate(status))
    store.cancel(ns, task_id)
    assert task_view(store.get(ns, task_id)).status == "cancelled"

    # The store's answer is the one write it made: the request and the cleared flag together.
    written = store.append_step(ns, task_id, step_request("slice_audio", {}))
    assert (written.spec.cancel, [s.name for s in written.spec.steps]) == (False, ["convert_audio", "slice_audio"])
    stored = store.get(ns, task_id)
    assert stored.spec == written.spec
    assert version(stored) == version(written) is not None  # nothing wrote after it
    assert task_view(stored).status == "running"


def test_annotate_merges_and_keeps_the_spec(task_backend: Backend) -> None:
    store, ns = task_backend.store, task_backend.namespace
    task_id = new_id()
    store.create(ns, task_id, spec(), {})
    store.annotate(ns, task_id, {bookkeeping.WEBHOOKS_DELIVERED: '["a"]'})
    got = store.get(ns, task_id)
    assert bookkeeping.delivered(got) == ["a"]
    assert bookkeeping.updated_at(got) is not None
    assert got.spec.exp_name == "spk"


def test_ping_succeeds_on_a_live_backend(task_backend: Backend) -> None:
    task_backend.store.ping()


def held_version(store: TaskStore, namespace: str, task_id: str) -> str:
    """The version the store holds the task at; the cluster store holds nothing until its watch lists."""
    wait_for(lambda: store.held(namespace, task_id) is not None, timeout=10, what=f"{task_id} held", interval=0.02)
    held = store.held(namespace, task_id)
    assert held is not None
    return held.version


def test_a_held_task_changes_version_with_every_write_and_parses_to_what_get_reads(task_backend: Backend) -> None:
    store, ns = task_backend.store, task_backend.namespace
    task_id = new_id()
    store.create(ns, task_id, spec(), {})
    first = held_version(store, ns, task_id)
    store.append_step(ns, task_id, step_request("convert_audio", {}))
    held = store.held(ns, task_id)
    assert held is not None and held.version != first  # our own write, held at once
    assert [s.name for s in held.parse().spec.steps] == ["convert_audio"]
    assert held.parse() == store.get(ns, task_id)


def test_a_task_deleted_and_created_again_under_its_name_is_held_at_another_version(task_backend: Backend) -> None:
    store, ns = task_backend.store, task_backend.namespace
    task_id = new_id()
    store.create(ns, task_id, spec(), {})
    first = held_version(store, ns, task_id)
    store.delete(ns, task_id)
    wait_for(lambda: store.held(ns, task_id) is None, timeout=10, what=f"{task_id} gone", interval=0.02)
    store.create(ns, task_id, spec(), {})
    assert held_version(store, ns, task_id) != first


def test_an_unknown_task_is_not_held(task_backend: Backend) -> None:
    assert task_backend.store.held(task_backend.namespace, new_id()) is None


def test_versions_name_every_task_at_its_held_version(task_backend: Backend) -> None:
    store, ns = task_backend.store, task_backend.namespace
    kept, dropped = new_id(), new_id()
    store.create(ns, kept, spec(), {})
    store.create(ns, dropped, spec(), {})
    store.append_step(ns, kept, step_request("convert_audio", {}))
    store.delete(ns, dropped)

    def settled() -> bool:
        versions = store.versions(ns)
        held = store.held(ns, kept)
        return versions is not None and held is not None and versions.get(kept) == held.version

    wait_for(settled, timeout=10, what="versions matching the held task", interval=0.02)
    wait_for(lambda: dropped not in (store.versions(ns) or {}), timeout=10, what=f"{dropped} gone", interval=0.02)
    assert kept not in (store.versions(task_backend.other_namespace) or {})


def test_every_held_task_is_what_an_unlimited_list_gives_in_its_order(task_backend: Backend) -> None:
    store, ns = task_backend.store, task_backend.namespace
    label = new_id()[:8]
    for _ in range(3):
        store.create(ns, new_id(), spec(), {"batch": label})
    store.create(ns, new_id(), spec(), {"batch": "other"})

    def shown(tasks: list[TrainingTask]) -> list[tuple[str, object, object]]:
        return [(t.metadata.name, version(t), task_view(t)) for t in tasks]

    def held() -> list[TrainingTask]:
        found = store.all_held(ns, f"batch={label}")
        assert found is None or all(name == h.parse().metadata.name for name, h in found)
        return [h.parse() for _, h in found] if found is not None else []

    listed = store.list(ns, label_selector=f"batch={label}").items
    wait_for(lambda: len(held()) == 3, timeout=10, what="every task held", interval=0.02)
    assert shown(held()) == shown(listed)
    with pytest.raises(InvalidInput):
        store.all_held(ns, "a b")
