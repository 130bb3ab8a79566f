"""List, then watch: raw lines, the server's errors, and one stream against the real control plane."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from sovits_kube import watch
from sovits_kube.client import Expired, Kube, api_client
from sovits_kube.watch import ListWatch, lines
from tests.support.cluster import ClusterInfo
from tests.support.processes import wait_for


def test_lines_split_across_chunks_are_joined_and_blank_ones_dropped() -> None:
    chunks = iter([b'{"a":', b' 1}\n\n{"b"', b": 2}\n", b'{"c": 3}'])

    assert list(lines(chunks)) == [b'{"a": 1}', b'{"b": 2}', b'{"c": 3}']


class Recorder:
    """A Sink that remembers what it was handed (from the stream's thread)."""

    def __init__(self) -> None:
        self.lists: list[list[Any]] = []
        self.events: list[tuple[str, Any]] = []
        self.errors: list[Exception] = []
        self.lock = threading.Lock()

    def listed(self, items: list[Any]) -> None:
        with self.lock:
            self.lists.append(items)

    def changed(self, kind: str, item: Any) -> None:
        with self.lock:
            self.events.append((kind, item))

    def lost(self, error: Exception) -> None:
        with self.lock:
            self.errors.append(error)


def test_a_watch_error_is_the_servers_word_that_the_version_is_gone_and_a_bookmark_only_moves_the_version() -> None:
    sink = Recorder()
    stream = ListWatch(lambda **_: None, "jobs", sink)
    bookmark = {"type": "BOOKMARK", "object": {"kind": "Job", "metadata": {"resourceVersion": "opaque-2"}}}

    assert stream._event(bookmark, "opaque-1") == "opaque-2"
    assert sink.events == []
    with pytest.raises(Expired, match="410"):
        stream._event({"type": "ERROR", "object": {"code": 410, "message": "too old resource version"}}, "opaque-2")


def a_job(name: str, namespace: str, labels: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "suspend": True,  # no pods: only the Job's own news
            "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}},
        },
    }


def test_jobs_are_listed_in_pages_then_watched_by_label_until_stopped(
    cluster: ClusterInfo, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(watch, "PAGE", 2)
    ours = {"watch-test": "yes"}
    cluster.apply(*(a_job(f"ours-{i}", namespace, ours) for i in range(5)), a_job("not-ours", namespace, {}))
    lister = Kube(api_client(str(cluster.kubeconfig))).lister("jobs", namespace)
    pages: list[object] = []

    def counted(*args: Any, **kwargs: Any) -> Any:
        if not kwargs.get("watch"):
            pages.append(kwargs.get("_continue"))
        return lister(*args, **kwargs)

    sink = Recorder()
    stream = ListWatch(counted, "jobs", sink, keep=lambda body: body["metadata"]["name"], label_selector="watch-test")
    thread = stream.start()
    wait_for(lambda: sink.lists, timeout=30, what="the first list")
    cluster.apply(a_job("ours-5", namespace, ours))
    cluster.kubectl("delete", "job", "ours-0", "-n", namespace)
    wait_for(lambda: ("DELETED", "ours-0") in sink.events, timeout=30, what="the deletion streamed")
    stream.stop()
    thread.join(timeout=10)

    assert sorted(sink.lists[0]) == [f"ours-{i}" for i in range(5)]
    assert len(pages) == 3 and pages[0] is None  # 5 Jobs, 2 a page
    assert ("ADDED", "ours-5") in sink.events and all(name != "not-ours" for _, name in sink.events)
    assert not thread.is_alive() and sink.errors == []


def test_a_field_selector_for_lists_only_leaves_objects_out_of_the_list_but_not_out_of_the_watch(
    cluster: ClusterInfo, namespace: str
) -> None:
    ours = {"fields-test": "yes"}
    cluster.apply(*(a_job(f"job-{i}", namespace, ours) for i in range(3)))
    lister = Kube(api_client(str(cluster.kubeconfig))).lister("jobs", namespace)
    sink = Recorder()
    stream = ListWatch(lister, "jobs", sink, keep=lambda body: body["metadata"]["name"], label_selector="fields-test",
                       list_field_selector="metadata.name!=job-1")  # fmt: skip
    thread = stream.start()
    wait_for(lambda: sink.lists, timeout=30, what="the first list")
    cluster.kubectl("label", "job", "job-1", "-n", namespace, "changed=yes")
    wait_for(lambda: ("MODIFIED", "job-1") in sink.events, timeout=30, what="the listed-out Job's change streamed")
    stream.stop()
    thread.join(timeout=10)

    assert sorted(sink.lists[0]) == ["job-0", "job-2"]
    assert not thread.is_alive() and sink.errors == []
