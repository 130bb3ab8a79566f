"""The cluster store's watch-fed cache: GET task asks the API server nothing, our own writes
read back at once, and other writers' changes arrive through the watch."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import pytest

from sovits_api.kube_store import KubeTaskStore, api_client
from sovits_api.task_cache import NamespaceTasks
from sovits_core.errors import NotFound
from sovits_core.model import TrainingTaskSpec
from tests.support.cluster import ClusterInfo
from tests.support.processes import wait_for


def a_body(version: str, phase: str, generation: int = 1) -> dict[str, object]:
    return {
        "metadata": {"name": "v", "namespace": "ns", "resourceVersion": version, "generation": generation},
        "status": {"phase": phase},
    }


def phase(tasks: NamespaceTasks) -> object:
    found = tasks.get("v")
    assert found is not None
    return found["status"]["phase"]


def test_the_streams_older_view_does_not_replace_our_own_write() -> None:
    tasks = NamespaceTasks("ns")
    tasks.relisted([a_body("k2", "completed")])
    tasks.answered(a_body("q7", "created", generation=2))  # a step appended: the task starts over
    tasks.streamed("MODIFIED", a_body("k2", "completed"))  # an event from before our write

    assert phase(tasks) == "created"
    tasks.streamed("MODIFIED", a_body("q7", "created", generation=2))
    tasks.streamed("MODIFIED", a_body("a1", "running", generation=2))  # the operator, after our write
    assert phase(tasks) == "running"


def test_the_operators_status_arriving_before_our_own_answer_is_not_held_back() -> None:
    tasks = NamespaceTasks("ns")
    tasks.relisted([a_body("k2", "completed")])
    tasks.streamed("MODIFIED", a_body("q7", "created", generation=2))  # our append, on the stream first
    tasks.streamed("MODIFIED", a_body("r4", "running", generation=2))  # the operator starting it

    tasks.answered(a_body("q7", "created", generation=2))  # our PUT's answer, last

    assert phase(tasks) == "running"


def test_our_answer_the_list_already_showed_does_not_hold_back_the_operators_status() -> None:
    # The watch listed after our create was written but before its answer was kept: the answer
    # is no newer than the list, so the operator's next status is news at once (CI saw it held
    # back for the answer's 30 s wait).
    tasks = NamespaceTasks("ns")
    tasks.relisted([a_body("q7", "created")])
    tasks.answered(a_body("q7", "created"))
    tasks.streamed("MODIFIED", a_body("r4", "running"))

    assert phase(tasks) == "running"


def test_until_the_list_is_in_the_cache_says_nothing() -> None:
    tasks = NamespaceTasks("ns")
    tasks.answered(a_body("q7", "created"))

    assert tasks.get("v") is None


def apiserver_gets_of_trainingtasks(cluster: ClusterInfo) -> float:
    """GET requests for TrainingTasks the API server has served, from its own /metrics."""
    total = 0.0
    for line in cluster.kubectl("get", "--raw", "/metrics").splitlines():
        wanted = ('resource="trainingtasks"', 'verb="GET"', 'subresource=""')
        if line.startswith("apiserver_request_total{") and all(w in line for w in wanted):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_a_task_we_deleted_is_not_answered_from_the_streams_older_events() -> None:
    tasks = NamespaceTasks("ns")
    tasks.relisted([a_body("k2", "completed")])
    tasks.deleted("v")
    tasks.streamed("MODIFIED", a_body("k3", "completed"))  # written before our delete, streamed after

    assert tasks.get("v") is None  # the API server answers: the task is gone
    assert tasks.bodies() is None and tasks.versions() is None  # and lists the namespace
    tasks.streamed("DELETED", a_body("k4", "completed"))
    assert tasks.get("v") is None and tasks.bodies() == [] and tasks.versions() == {}


def test_a_task_a_finalizer_holds_is_answered_from_the_stream_once_it_shows_the_deletion() -> None:
    tasks = NamespaceTasks("ns")
    tasks.relisted([a_body("k2", "running")])
    tasks.deleted("v")
    marked = a_body("k3", "running")
    marked["metadata"]["deletionTimestamp"] = "2026-12-02T11:00:00Z"  # type: ignore[index]
    tasks.streamed("MODIFIED", marked)

    assert phase(tasks) == "running" and tasks.versions() is not None


def test_a_delete_the_stream_showed_before_it_returned_leaves_nothing_to_wait_for() -> None:
    tasks = NamespaceTasks("ns")
    tasks.relisted([a_body("k2", "completed")])
    tasks.streamed("DELETED", a_body("k3", "completed"))
    tasks.deleted("v")

    assert tasks.bodies() == []  # lists are answered from the cache again at once


def test_a_task_created_again_under_its_name_after_our_delete_reads_from_the_cache() -> None:
    tasks = NamespaceTasks("ns")
    tasks.relisted([a_body("k2", "completed")])
    tasks.deleted("v")
    tasks.answered(a_body("q9", "created"))

    assert phase(tasks) == "created"


@pytest.fixture
def cluster_store(cluster: ClusterInfo, namespace: str) -> Iterator[KubeTaskStore]:
    store = KubeTaskStore(api_client(str(cluster.kubeconfig)), ping_namespace=namespace)
    yield store
    store.close()


@pytest.mark.cluster
def test_reading_a_task_on_the_cluster_store_makes_no_request_once_the_watch_is_in(
    cluster: ClusterInfo, namespace: str, cluster_store: KubeTaskStore
) -> None:
    store = cluster_store
    name = str(uuid.uuid4())
    store.create(namespace, name, TrainingTaskSpec.model_validate({"expName": "spk"}), {})
    wait_for(lambda: store._cache is not None and store._cache.namespace(namespace).get(name), what="watch synced")
    before = apiserver_gets_of_trainingtasks(cluster)

    for _ in range(50):
        assert store.get(namespace, name).metadata.name == name

    assert apiserver_gets_of_trainingtasks(cluster) == before


@pytest.mark.cluster
def test_a_task_another_client_deletes_is_gone_from_the_cluster_store(
    cluster: ClusterInfo, namespace: str, cluster_store: KubeTaskStore
) -> None:
    store = cluster_store
    name = str(uuid.uuid4())
    store.create(namespace, name, TrainingTaskSpec.model_validate({"expName": "spk"}), {})
    store.get(namespace, name)

    cluster.kubectl("delete", "trainingtask", name, "-n", namespace)

    def gone() -> bool:
        try:
            store.get(namespace, name)
        except NotFound:
            return True
        return False

    wait_for(gone, timeout=10, what="deletion seen", interval=0.05)


@pytest.mark.cluster
def test_a_task_deleted_through_the_cluster_store_reads_as_gone_at_once(
    namespace: str, cluster_store: KubeTaskStore
) -> None:
    store = cluster_store
    names = [str(uuid.uuid4()) for _ in range(20)]
    for name in names:
        store.create(namespace, name, TrainingTaskSpec.model_validate({"expName": "spk"}), {})
    wait_for(lambda: all(store.held(namespace, n) for n in names), what="watch holds the tasks")

    for name in names:
        store.delete(namespace, name)
        with pytest.raises(NotFound):
            store.get(namespace, name)  # right after the delete: the stream may not have shown it


def watches_of(namespace: str) -> list[str]:
    return [t.name for t in threading.enumerate() if t.name == f"watch trainingtasks in {namespace}"]


@pytest.mark.cluster
def test_the_cluster_store_watches_nothing_until_the_app_starts_it(cluster: ClusterInfo, namespace: str) -> None:
    store = KubeTaskStore(api_client(str(cluster.kubeconfig)), ping_namespace=namespace)
    try:
        assert watches_of(namespace) == []  # building it made no request and started no thread

        store.start()

        assert len(watches_of(namespace)) == 1
        store.create(namespace, "w", TrainingTaskSpec.model_validate({"expName": "spk"}), {})
        wait_for(lambda: store.held(namespace, "w"), timeout=10, what="the task on the started watch")
    finally:
        store.close()
