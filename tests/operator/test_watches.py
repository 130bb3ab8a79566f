"""The operator's Job and pod stores: what a first list and a later one hand on to the Controller."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from typing import Any

from sovits_core.settings import Settings
from sovits_operator.jobs import Labels
from sovits_operator.observe import prune_job, prune_pod
from sovits_operator.watches import Feed, Kept, StepWatches, Store, kept

LABELS = Labels(Settings().operator.annotation_prefix)


def a_job(name: str, task: str = "voice1", *, finished: bool = False, ttl: int | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": "ns",
            "labels": {LABELS.task_uid: f"uid-{task}"},
            "ownerReferences": [{"kind": "TrainingTask", "name": task, "uid": f"uid-{task}"}],
            "managedFields": [{"manager": "kube-controller-manager", "fieldsV1": {"f:status": {}}}],
        },
        "spec": {"ttlSecondsAfterFinished": ttl, "template": {"spec": {"containers": [{"name": "step"}]}}},
        "status": {"conditions": [{"type": "Complete", "status": "True"}]} if finished else {"active": 1},
    }


def a_job_kept(name: str, **kw: Any) -> Kept:
    return kept(a_job(name, **kw), LABELS.task_uid, prune_job)


def test_a_job_is_kept_pruned_under_its_tasks_uid_with_its_owners_name() -> None:
    job = a_job_kept("voice1-convert-audio-1")

    assert (job.namespace, job.task_uid, job.task, job.name) == ("ns", "uid-voice1", "voice1", "voice1-convert-audio-1")
    assert job.body == prune_job(a_job("voice1-convert-audio-1"))
    assert "managedFields" not in job.body["metadata"] and "template" not in job.body["spec"]


def test_a_pod_has_no_task_owner_but_is_kept_under_its_tasks_uid() -> None:
    pod = {"metadata": {"name": "p", "namespace": "ns", "labels": {LABELS.task_uid: "uid-voice1", "job-name": "j"},
                        "ownerReferences": [{"kind": "Job", "name": "j"}]}, "status": {"phase": "Pending"}}  # fmt: skip

    found = kept(pod, LABELS.task_uid, prune_pod)

    assert (found.task_uid, found.task, found.body["job"]) == ("uid-voice1", None, "j")


def test_the_store_reads_as_the_pruned_jobs_of_each_task() -> None:
    store = Store()
    store.put(a_job_kept("voice1-convert-audio-1"))
    store.put(a_job_kept("voice2-convert-audio-1", task="voice2"))
    store.put(a_job_kept("voice1-convert-audio-1", finished=True))  # the same Job, newer

    assert sorted(store) == ["uid-voice1", "uid-voice2"]
    assert store["uid-voice1"] == [a_job_kept("voice1-convert-audio-1", finished=True).body]
    store.drop(a_job_kept("voice2-convert-audio-1", task="voice2"))
    assert store.get("uid-voice2") is None and len(store) == 1


def test_a_new_list_replaces_the_store_and_says_what_changed_or_went() -> None:
    store = Store()
    store.replace([a_job_kept("voice1-convert-audio-1"), a_job_kept("voice1-slice-audio-1")], None)

    changes = store.replace([a_job_kept("voice1-convert-audio-1", finished=True)], None)

    assert [(k.name, gone) for k, gone in changes] == [
        ("voice1-convert-audio-1", False),
        ("voice1-slice-audio-1", True),
    ]
    assert [j["metadata"]["name"] for j in store["uid-voice1"]] == ["voice1-convert-audio-1"]


def test_a_list_of_one_namespace_leaves_the_other_namespaces_jobs_alone() -> None:
    store = Store()
    elsewhere = Kept("other", "uid-x", "x", "x-convert-audio-1", {"metadata": {"name": "x-convert-audio-1"}})
    store.put(elsewhere)
    mine = a_job_kept("voice1-convert-audio-1")

    assert store.replace([mine], "ns") == [(mine, False)]
    assert store["uid-x"] == [elsewhere.body]


def fed(*batches: tuple[str, Any]) -> tuple[Store, list[tuple[str, bool]], bool]:
    """A feed given ``batches`` as its stream's thread would hand them over: the store, what it
    handed on, and whether it counts as synced."""
    store, handed = Store(), []

    async def scenario() -> bool:
        feed = Feed(asyncio.get_running_loop(), store, None, lambda k, gone: handed.append((k.name, gone)))
        for what, payload in batches:
            if what == "listed":
                feed.listed(payload)
            else:
                feed.changed(what, payload)
        await asyncio.sleep(0)  # the loop runs the handed-over callbacks
        return feed.synced.is_set()

    synced = asyncio.run(scenario())
    return store, handed, synced


def test_the_first_list_fills_the_store_and_replays_no_history() -> None:
    retained = [a_job_kept(f"voice1-step-{i}", finished=True, ttl=600) for i in range(3)]

    store, handed, synced = fed(("listed", retained))

    assert synced and handed == [] and len(store["uid-voice1"]) == 3


def test_watch_events_after_the_list_are_kept_and_handed_on() -> None:
    running = a_job_kept("voice1-convert-audio-1")
    finished = a_job_kept("voice1-convert-audio-1", finished=True)

    store, handed, _ = fed(("listed", [running]), ("MODIFIED", finished), ("DELETED", finished))

    assert handed == [("voice1-convert-audio-1", False), ("voice1-convert-audio-1", True)]
    assert "uid-voice1" not in store


def test_a_later_list_hands_on_only_what_changed_while_the_watch_was_away() -> None:
    same = a_job_kept("voice1-convert-audio-1", finished=True, ttl=600)
    before, after = a_job_kept("voice1-slice-audio-1"), a_job_kept("voice1-slice-audio-1", finished=True)

    _, handed, _ = fed(("listed", [same, before]), ("listed", [same, after]))

    assert handed == [("voice1-slice-audio-1", False)]


WHO = contextvars.ContextVar[str]("who")


def test_news_reaches_the_controller_in_the_context_the_watches_were_made_in_not_the_streams_thread() -> None:
    seen: list[str] = []

    async def scenario() -> None:
        WHO.set("the start-up handler")  # as kopf sets its settings, which Event posting reads
        feed = Feed(asyncio.get_running_loop(), Store(), None, lambda k, gone: seen.append(WHO.get("no context")))
        stream = threading.Thread(target=feed.changed, args=("ADDED", a_job_kept("voice1-convert-audio-1")))
        stream.start()
        stream.join()
        await asyncio.sleep(0)

    asyncio.run(scenario())

    assert seen == ["the start-up handler"]


# -- pods of Jobs whose outcome is recorded are history ------------------------------------------


class NoStreams:
    """Stands in for Kube: the streams are never started here, their feeds get the news by hand."""

    def lister(self, resource: str, namespace: str | None) -> Any:
        return lambda **_: None


def a_pod_kept(name: str, job: str, phase: str) -> Kept:
    pod = {"metadata": {"name": name, "namespace": "ns", "labels": {LABELS.task_uid: "uid-voice1", "job-name": job}},
           "status": {"phase": phase}}  # fmt: skip
    return kept(pod, LABELS.task_uid, prune_pod)


def watched(*news: tuple[str, str, Kept]) -> StepWatches:
    """StepWatches after both first lists (empty) and then ``news``: (resource, event type, object)."""

    async def scenario() -> StepWatches:
        watches = StepWatches(NoStreams(), LABELS, None, on_job=lambda *_: None, on_pod=lambda *_: None)  # type: ignore[arg-type]
        for feeds in watches.feeds.values():
            feeds[0].listed([])
        for resource, kind, item in news:
            watches.feeds[resource][0].changed(kind, item)
        await asyncio.sleep(0)
        return watches

    return asyncio.run(scenario())


JOB = "voice1-convert-audio-1"


def test_a_succeeded_pod_is_kept_while_its_job_waits_to_be_recorded() -> None:
    watches = watched(("jobs", "ADDED", a_job_kept(JOB)), ("pods", "MODIFIED", a_pod_kept("p1", JOB, "Succeeded")))

    assert [p["name"] for p in watches.pods["uid-voice1"]] == ["p1"]


def test_the_finished_pods_of_a_job_that_left_the_store_go_with_it_and_do_not_come_back() -> None:
    watches = watched(
        ("jobs", "ADDED", a_job_kept(JOB)),
        ("pods", "MODIFIED", a_pod_kept("p1", JOB, "Failed")),
        ("pods", "MODIFIED", a_pod_kept("p2", JOB, "Succeeded")),
        ("jobs", "DELETED", a_job_kept(JOB, finished=True)),  # recorded: it left the stream's selector
        ("pods", "MODIFIED", a_pod_kept("p2", JOB, "Succeeded")),  # the Job controller's last touch
    )

    assert "uid-voice1" not in watches.pods


def test_a_pod_still_running_when_its_job_went_stays_until_it_is_gone() -> None:
    watches = watched(
        ("jobs", "ADDED", a_job_kept(JOB)),
        ("pods", "MODIFIED", a_pod_kept("p1", JOB, "Running")),
        ("jobs", "DELETED", a_job_kept(JOB)),  # a cancel deleted it; its pod terminates after
    )

    assert [p["name"] for p in watches.pods["uid-voice1"]] == ["p1"]
