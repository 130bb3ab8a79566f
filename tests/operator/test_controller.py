"""The Controller: its log line per decision, and which passes and API calls it makes."""

from __future__ import annotations

import asyncio
import copy
import json
from pathlib import Path
from typing import Any

from prometheus_client import REGISTRY

from sovits_core.reconcile import RecordEvent
from sovits_core.settings import Settings
from sovits_core.storage import LocalObjectStore
from sovits_operator.controller import Controller, decision_line, progress_moved, running_steps
from sovits_operator.jobs import Labels
from sovits_operator.observe import prune_job, prune_pod
from sovits_operator.watches import Kept, kept
from tests.support.fake_kube import FakeKube


def test_a_decision_about_a_step_names_namespace_task_step_and_attempt() -> None:
    event = RecordEvent(
        "Normal", "StepRetrying", "slice_audio attempt 2 of 3 started as Job v-slice-audio-2", "slice_audio", 2
    )

    assert decision_line("team-a", "v", event) == (
        "team-a/v step=slice_audio attempt=2 StepRetrying: slice_audio attempt 2 of 3 started as Job v-slice-audio-2"
    )


def test_a_decision_about_the_whole_task_names_the_task() -> None:
    event = RecordEvent("Normal", "Completed", "every requested step completed")

    assert decision_line("team-a", "v", event) == "team-a/v Completed: every requested step completed"


# -- the Controller against a fake of its few API calls (tests/support/fake_kube.py) ---------

SETTINGS = Settings()
LABELS = Labels(SETTINGS.operator.annotation_prefix)


def a_task_body(*steps: str, name: str = "voice1") -> dict[str, Any]:
    return {
        "apiVersion": "sovits.io/v1alpha1",
        "kind": "TrainingTask",
        "metadata": {"name": name, "namespace": "ns", "uid": f"uid-{name}", "generation": 1},
        "spec": {"expName": "spk", "steps": [{"name": s} for s in steps]},
    }


def a_controller(kube: FakeKube) -> tuple[Controller, list[str]]:
    posted: list[str] = []
    ctl = Controller(SETTINGS, kube, lambda body, type_, reason, message: posted.append(reason))
    ctl.jobs_index = kube.jobs_index
    ctl.pods_index = {}
    return ctl, posted


def test_a_new_task_is_recorded_as_running_before_its_first_job_is_created() -> None:
    kube = FakeKube(LABELS)
    ctl, posted = a_controller(kube)
    kube.add_task(a_task_body("convert_audio", "slice_audio"))

    asyncio.run(ctl.reconcile("ns", "voice1"))

    assert kube.calls == ["get task voice1", "patch task voice1 status", "create job voice1-convert-audio-1"]
    assert kube.tasks[("ns", "voice1")]["status"]["steps"][0]["jobName"] == "voice1-convert-audio-1"
    assert "StepStarted" in posted


def test_the_next_step_starts_from_the_body_the_status_write_answered_without_reading_the_task() -> None:
    kube = FakeKube(LABELS)
    ctl, _ = a_controller(kube)
    kube.add_task(a_task_body("convert_audio", "slice_audio"))

    async def scenario() -> None:
        await ctl.reconcile("ns", "voice1")
        kube.calls.clear()
        await ctl.job_changed("ns", "voice1", kube.finish_job("ns", "voice1-convert-audio-1"), gone=False)

    asyncio.run(scenario())

    assert "get task voice1" not in kube.calls
    assert "create job voice1-slice-audio-1" in kube.calls
    assert kube.tasks[("ns", "voice1")]["status"]["steps"][0]["phase"] == "completed"


def test_a_late_watch_event_with_an_opaque_older_version_does_not_bring_back_the_old_status() -> None:
    kube = FakeKube(LABELS)
    ctl, posted = a_controller(kube)
    created = kube.add_task(a_task_body("convert_audio", "slice_audio"))

    async def scenario() -> None:
        await ctl.reconcile("ns", "voice1")
        ctl.task_seen(created, gone=False)  # the stream catching up: the task before our status write
        kube.calls.clear()
        posted.clear()
        await ctl.reconcile("ns", "voice1")

    asyncio.run(scenario())

    # Taken for news, the old body would record the first step again and post StepStarted twice.
    assert kube.calls == [] and posted == []


def test_news_of_a_job_whose_outcome_the_status_holds_costs_no_pass_and_no_request() -> None:
    kube = FakeKube(LABELS)
    kube.add_task(a_task_body("convert_audio"))
    setup, _ = a_controller(kube)
    asyncio.run(setup.reconcile("ns", "voice1"))
    finished = kube.finish_job("ns", "voice1-convert-audio-1")
    asyncio.run(setup.job_changed("ns", "voice1", finished, gone=False))  # records it, then sets the TTL
    recorded = copy.deepcopy(kube.jobs[("ns", "voice1-convert-audio-1")])
    assert recorded["spec"]["ttlSecondsAfterFinished"] is not None
    restarted, posted = a_controller(kube)  # a restarted operator replaying retained Jobs
    kube.calls.clear()

    async def replay() -> None:
        await restarted.job_changed("ns", "voice1", recorded, gone=False)
        await restarted.job_changed("ns", "voice1", recorded, gone=True)  # the TTL controller deleted it

    asyncio.run(replay())

    assert kube.calls == [] and posted == []


def test_a_job_that_finished_while_the_operator_was_away_is_reconciled() -> None:
    kube = FakeKube(LABELS)
    kube.add_task(a_task_body("convert_audio", "slice_audio"))
    before, _ = a_controller(kube)
    asyncio.run(before.reconcile("ns", "voice1"))
    finished = kube.finish_job("ns", "voice1-convert-audio-1")  # no TTL: its outcome is not recorded
    restarted, _ = a_controller(kube)
    kube.calls.clear()

    asyncio.run(restarted.job_changed("ns", "voice1", finished, gone=False))

    assert kube.calls[:4] == [
        "get task voice1",
        "list pods batch.kubernetes.io/job-name=voice1-convert-audio-1",  # for its result: see below
        "patch task voice1 status",
        "create job voice1-slice-audio-1",
    ]


def test_a_job_event_that_changes_nothing_reconcile_reads_is_skipped() -> None:
    kube = FakeKube(LABELS)
    kube.add_task(a_task_body("convert_audio", "slice_audio"))
    ctl, _ = a_controller(kube)
    asyncio.run(ctl.reconcile("ns", "voice1"))
    job = copy.deepcopy(kube.jobs[("ns", "voice1-convert-audio-1")])
    asyncio.run(ctl.job_changed("ns", "voice1", job, gone=False))
    kube.calls.clear()
    job["status"] = {"active": 1, "ready": 1}  # its pod started: nothing reconcile reads

    asyncio.run(ctl.job_changed("ns", "voice1", job, gone=False))

    assert kube.calls == []


def test_the_body_of_a_finished_task_is_not_kept() -> None:
    kube = FakeKube(LABELS)
    kube.add_task(a_task_body("convert_audio"))
    ctl, posted = a_controller(kube)

    async def scenario() -> None:
        await ctl.reconcile("ns", "voice1")
        assert len(ctl.latest) == 1
        await ctl.job_changed("ns", "voice1", kube.finish_job("ns", "voice1-convert-audio-1"), gone=False)

    asyncio.run(scenario())

    assert kube.tasks[("ns", "voice1")]["status"]["phase"] == "completed" and "Completed" in posted
    assert len(ctl.latest) == 0


def test_a_task_resumed_from_kopfs_listing_at_start_up_is_not_read_again() -> None:
    kube = FakeKube(LABELS)
    listed = kube.add_task(a_task_body("convert_audio"))
    ctl, _ = a_controller(kube)

    asyncio.run(ctl.reconcile("ns", "voice1", listed=listed))

    assert kube.calls == ["patch task voice1 status", "create job voice1-convert-audio-1"]


def skipped_passes() -> float:
    return REGISTRY.get_sample_value("sovits_operator_reconciles_total", {"result": "skipped"}) or 0.0


def a_completed_task(name: str) -> FakeKube:
    """A one-step task run to completion by an earlier operator, its Job's outcome recorded."""
    kube = FakeKube(LABELS)
    kube.add_task(a_task_body("convert_audio", name=name))
    before, _ = a_controller(kube)
    asyncio.run(before.reconcile("ns", name))
    asyncio.run(before.job_changed("ns", name, kube.finish_job("ns", f"{name}-convert-audio-1"), gone=False))
    return kube


def test_a_finished_task_resumed_at_start_up_costs_no_pass_and_no_request_but_is_counted() -> None:
    kube = a_completed_task("done1")
    del kube.jobs[("ns", "done1-convert-audio-1")]  # recorded, then removed by its TTL
    listed = copy.deepcopy(kube.tasks[("ns", "done1")])
    assert listed["status"]["phase"] == "completed"
    restarted, posted = a_controller(kube)
    kube.calls.clear()
    skipped = skipped_passes()

    asyncio.run(restarted.reconcile("ns", "done1", listed=listed))

    assert kube.calls == [] and posted == []
    assert skipped_passes() == skipped + 1
    assert restarted.phases._phase == {"uid-done1": "completed"}


def test_a_finished_task_with_a_job_whose_outcome_is_not_recorded_gets_its_pass() -> None:
    kube = a_completed_task("done2")
    kube.jobs[("ns", "done2-convert-audio-1")]["spec"]["ttlSecondsAfterFinished"] = None  # the TTL patch was lost
    restarted, _ = a_controller(kube)
    kube.calls.clear()

    asyncio.run(restarted.reconcile("ns", "done2", listed=copy.deepcopy(kube.tasks[("ns", "done2")])))

    # Its pod is read for the step's result (once), and the TTL is set again.
    assert kube.calls == [
        "list pods batch.kubernetes.io/job-name=done2-convert-audio-1",
        "patch job done2-convert-audio-1",
    ]


class SlowKube(FakeKube):
    """Status writes that take a while, and the most of them in flight at once."""

    def __init__(self, labels: Labels) -> None:
        super().__init__(labels)
        self.in_flight = self.most_in_flight = 0

    async def patch_task_status(self, namespace: str, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        await asyncio.sleep(0.01)
        self.in_flight -= 1
        return await super().patch_task_status(namespace, name, patch)


def test_a_burst_of_tasks_runs_at_most_the_configured_passes_at_once_and_every_task_gets_its_pass() -> None:
    kube = SlowKube(LABELS)
    for i in range(12):
        kube.add_task(a_task_body("convert_audio", name=f"burst{i}"))
    ctl = Controller(Settings(operator={"parallel_passes": 3}), kube, lambda *_: None)
    ctl.jobs_index, ctl.pods_index = kube.jobs_index, {}

    async def burst() -> None:
        await asyncio.gather(*(ctl.reconcile("ns", f"burst{i}") for i in range(12)))

    asyncio.run(burst())

    assert kube.most_in_flight == 3
    assert all(kube.tasks[("ns", f"burst{i}")]["status"]["phase"] == "running" for i in range(12))


# -- news from the operator's own Job and pod watches (watches.py) --------------------------


def kept_job(kube: FakeKube, name: str) -> Kept:
    return kept(kube.jobs[("ns", name)], LABELS.task_uid, prune_job)


def convert_finished(*steps: str) -> tuple[FakeKube, Controller]:
    """A task whose first Job, convert_audio's, the Job controller has just marked Complete."""
    kube = FakeKube(LABELS)
    kube.add_task(a_task_body(*steps))
    ctl, _ = a_controller(kube)
    asyncio.run(ctl.reconcile("ns", "voice1"))
    kube.finish_job("ns", "voice1-convert-audio-1")
    return kube, ctl


def passes_after(ctl: Controller, job: Kept, gone: bool) -> int:
    """The passes a Job's watch news starts."""

    async def news() -> int:
        ctl.job_seen(job, gone=gone)
        return len(ctl._inflight)

    return asyncio.run(news())


def test_a_watched_job_that_finished_starts_a_pass_for_its_task() -> None:
    kube = FakeKube(LABELS)
    kube.add_task(a_task_body("convert_audio", "slice_audio"))
    ctl, _ = a_controller(kube)

    async def scenario() -> None:
        await ctl.reconcile("ns", "voice1")
        kube.finish_job("ns", "voice1-convert-audio-1")
        ctl.job_seen(kept_job(kube, "voice1-convert-audio-1"), gone=False)
        await asyncio.gather(*ctl._inflight)

    asyncio.run(scenario())

    assert "create job voice1-slice-audio-1" in kube.calls


def test_a_watched_job_whose_outcome_the_status_holds_starts_no_pass() -> None:
    kube, ctl = convert_finished("convert_audio")
    kube.finish_job("ns", "voice1-convert-audio-1", ttl_s=600)
    kube.calls.clear()

    assert passes_after(ctl, kept_job(kube, "voice1-convert-audio-1"), gone=False) == 0
    assert passes_after(ctl, kept_job(kube, "voice1-convert-audio-1"), gone=True) == 0
    assert kube.calls == []


def test_a_job_that_leaves_the_watch_once_this_operator_recorded_it_starts_no_pass() -> None:
    kube, ctl = convert_finished("convert_audio")
    before_patch = kept_job(kube, "voice1-convert-audio-1")
    asyncio.run(ctl.job_changed("ns", "voice1", copy.deepcopy(kube.jobs[("ns", "voice1-convert-audio-1")]), gone=False))
    assert kube.jobs[("ns", "voice1-convert-audio-1")]["metadata"]["labels"][LABELS.recorded] == "true"
    kube.calls.clear()

    # The label left the watch's selector: the server says "deleted", with the Job as it was.
    assert passes_after(ctl, before_patch, gone=True) == 0
    assert kube.calls == []


def test_a_job_complete_before_the_stream_brought_its_pods_success_still_gets_its_result() -> None:
    kube, ctl = convert_finished("convert_audio", "slice_audio")
    succeeded = prune_pod(kube.succeed_pod("ns", "voice1-convert-audio-1", "converted 3 files"))
    ctl.pods_index = {"uid-voice1": [{**succeeded, "phase": "Running", "terminated": []}]}  # the stream's last word

    asyncio.run(ctl.reconcile("ns", "voice1"))

    results = {job.name: job.result for job in ctl.observed("uid-voice1")}
    assert results["voice1-convert-audio-1"] == "converted 3 files"


def test_the_labels_departure_arriving_before_the_patchs_answer_starts_no_pass() -> None:
    kube, ctl = convert_finished("convert_audio")
    before_patch = kept_job(kube, "voice1-convert-audio-1")
    patch = kube.patch_job
    passes: list[int] = []

    async def news_first(namespace: str, name: str, body: dict[str, Any]) -> None:
        ctl.job_seen(before_patch, gone=True)  # the watch is quicker than the answer
        passes.append(len(ctl._inflight))
        await patch(namespace, name, body)

    setattr(kube, "patch_job", news_first)  # noqa: B010 (the fake's method, replaced for this test)
    asyncio.run(ctl.job_changed("ns", "voice1", copy.deepcopy(kube.jobs[("ns", "voice1-convert-audio-1")]), gone=False))

    assert passes == [0]


def test_a_finished_job_deleted_before_its_outcome_was_recorded_starts_a_pass() -> None:
    kube, ctl = convert_finished("convert_audio", "slice_audio")
    finished = kept_job(kube, "voice1-convert-audio-1")

    assert passes_after(ctl, finished, gone=True) == 1


def test_the_pods_of_a_job_that_completed_unseen_are_read_once_for_its_result() -> None:
    kube, _ = convert_finished("convert_audio", "slice_audio")
    kube.succeed_pod("ns", "voice1-convert-audio-1", "converted 3 files")
    restarted, _ = a_controller(kube)  # its pod list left the succeeded pod out
    kube.calls.clear()

    async def scenario() -> list[str | None]:
        await restarted.reconcile("ns", "voice1")
        await restarted.reconcile("ns", "voice1")
        return [job.result for job in restarted.observed("uid-voice1")]

    results = asyncio.run(scenario())

    assert kube.calls.count("list pods batch.kubernetes.io/job-name=voice1-convert-audio-1") == 1
    assert "converted 3 files" in results


def a_pod(uid: str, reason: str | None) -> Kept:
    scheduled = {"type": "PodScheduled", "status": "False", "reason": reason} if reason else None
    body = {"name": "p", "job": "j", "deleting": False, "phase": "Pending", "scheduled": scheduled, "terminated": []}
    return Kept("ns", uid, None, "p", body)


def test_only_a_pod_that_cannot_be_placed_starts_a_pass() -> None:
    kube = FakeKube(LABELS)
    kube.add_task(a_task_body("convert_audio"))
    ctl, _ = a_controller(kube)

    async def scenario() -> list[int]:
        await ctl.reconcile("ns", "voice1")
        passes = []
        pods = (a_pod("uid-voice1", None), a_pod("uid-unknown", "Unschedulable"), a_pod("uid-voice1", "Unschedulable"))
        for pod in pods:
            ctl.pod_seen(pod, gone=False)
            passes.append(len(ctl._inflight))
        await asyncio.gather(*ctl._inflight)
        return passes

    assert asyncio.run(scenario()) == [0, 0, 1]


# -- one progress timer for every running task ----------------------------------------------


def a_status(progress: float) -> dict[str, Any]:
    return {"phase": "running", "currentStep": "slice_audio",
            "steps": [{"name": "slice_audio", "phase": "completed", "progress": 100.0},
                      {"name": "slice_audio", "phase": "running", "progress": progress}]}  # fmt: skip


def test_a_report_moves_the_progress_only_when_it_is_above_the_recorded_figure() -> None:
    assert progress_moved(a_status(40.0), "slice_audio", 55.0)
    assert not progress_moved(a_status(40.0), "slice_audio", 40.0)
    assert not progress_moved(a_status(40.0), "slice_audio", 30.0)  # reconcile keeps the higher
    assert not progress_moved(a_status(40.0), "slice_audio", None)


def test_only_tasks_whose_status_says_a_step_runs_are_swept() -> None:
    bodies = [
        (("ns", "a"), {"status": a_status(10.0)}),
        (("ns", "b"), {"status": {"phase": "created"}}),
        (("ns", "c"), {"status": {"phase": "running"}}),  # between steps: nothing to read
        (("ns", "d"), {}),
    ]

    assert running_steps(bodies) == [(("ns", "a"), "slice_audio")]


def test_a_sweep_passes_only_the_tasks_whose_running_step_reported_new_progress(tmp_path: Path) -> None:
    settings = Settings.model_validate({"storage": {"backend": "local", "local_root": str(tmp_path)}})
    kube = FakeKube(LABELS)
    for name in ("moved", "still"):
        kube.add_task(a_task_body("convert_audio", name=name))
    ctl = Controller(settings, kube, lambda *_: None)
    ctl.jobs_index = kube.jobs_index
    store = LocalObjectStore(tmp_path)
    for name, value in (("moved", 42.0), ("still", 0.0)):
        store.put_bytes(f"tasks/{name}/progress/convert_audio.json", json.dumps({"progress": value}).encode())

    async def scenario() -> float:
        for name in ("moved", "still"):
            await ctl.reconcile("ns", name)
        kube.calls.clear()
        passes = passes_so_far()
        await ctl.progress_sweep()
        return passes_so_far() - passes

    assert asyncio.run(scenario()) == 1
    assert kube.calls == ["patch task moved status"]
    assert kube.tasks[("ns", "moved")]["status"]["steps"][0]["progress"] == 42.0


def passes_so_far() -> float:
    return REGISTRY.get_sample_value("sovits_operator_reconciles_total", {"result": "ok"}) or 0.0
