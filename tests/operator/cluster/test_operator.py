"""The operator on the real control plane: Jobs are created, pods scheduled and finished by kwok."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from sovits_core import contract as c
from sovits_core.catalog import STEP_ORDER
from sovits_core.contract import EXIT_OUT_OF_MEMORY, RESULT_MARK
from sovits_core.launch import job_name
from sovits_core.storage import TaskFiles
from tests.support.cluster import ClusterInfo
from tests.support.dataset import cases
from tests.support.operator_process import OperatorProcess, get_json, wait_for
from tests.support.seaweed import S3Store
from tests.support.tasks import (
    a_pod_running,
    events_of,
    phase_is,
    ready,
    status,
    task_jobs,
    task_pods,
    training_task,
    unique,
)

pytestmark = pytest.mark.cluster

AddStage = Callable[[dict[str, Any]], None]
PREP = ["convert_audio", "slice_audio", "denoise_audio", "asr_transcribe"]


def test_the_full_pipeline_runs_eleven_jobs_in_order_on_fake_gpu_nodes(
    cluster: ClusterInfo, namespace: str, operator: OperatorProcess
) -> None:
    name = unique("full")
    cluster.apply(training_task(name, namespace, pipeline="full", gpu={"count": 1}))

    wait_for(phase_is(cluster, namespace, name, "completed"), timeout=120, what="pipeline completed")

    found = status(cluster, namespace, name)
    assert [s["name"] for s in found["steps"]] == list(STEP_ORDER)
    assert all(s["phase"] == "completed" for s in found["steps"])
    assert found["progress"] == 100.0
    assert (ready(found)["status"], ready(found)["reason"]) == ("True", "Completed")
    assert found["observedGeneration"] == 1
    jobs = {j["metadata"]["name"]: j for j in task_jobs(cluster, namespace, name)}
    assert sorted(jobs) == sorted(job_name(name, step, 1) for step in STEP_ORDER)
    gpu_pods = [
        p for p in task_pods(cluster, namespace, name) if p["metadata"]["labels"]["sovits.io/step"] == "train_gpt"
    ]
    assert gpu_pods and gpu_pods[0]["spec"]["nodeName"].startswith("gpu-node")
    # Cleanup waits for the recorded outcome: every finished Job gets its TTL afterwards, and
    # the label that leaves it out of the operator's Job watch.
    wait_for(
        lambda: all(j["spec"].get("ttlSecondsAfterFinished") == 600 for j in task_jobs(cluster, namespace, name)),
        what="TTLs set",
    )
    assert all(j["metadata"]["labels"].get("sovits.io/recorded") == "true" for j in task_jobs(cluster, namespace, name))
    reasons = events_of(cluster, namespace, name)
    assert reasons.count("StepStarted") == 11 and reasons.count("StepCompleted") == 11 and "Completed" in reasons
    raw = get_json(cluster, "trainingtask", name, "-n", namespace)
    assert "kopf" not in raw["status"]
    assert any(k.startswith("sovits.io/") for k in raw["metadata"].get("annotations", {}))
    text = operator.metrics()
    assert 'sovits_operator_jobs_created_total{step="train_gpt"}' in text
    assert "sovits_operator_reconcile_duration_seconds_count" in text


def test_a_failing_step_is_retried_then_fails_the_task_with_its_message(
    cluster: ClusterInfo, namespace: str, operator: OperatorProcess, stages: AddStage
) -> None:
    name = unique("fail")
    stages(cluster.fail_pods_stage(f"{name}-fail", {"sovits.io/task": name}, 1, "ffmpeg: invalid data in input"))
    cluster.apply(training_task(name, namespace, steps=[{"name": "convert_audio"}, {"name": "slice_audio"}]))

    wait_for(phase_is(cluster, namespace, name, "failed"), what="task failed")

    found = status(cluster, namespace, name)
    assert found["errorMessage"] == "ffmpeg: invalid data in input"
    assert ready(found)["reason"] == "StepFailed"
    assert found["steps"][0]["attempts"] == 2
    assert [s["phase"] for s in found["steps"]] == ["failed", "cancelled"]
    names = sorted(j["metadata"]["name"] for j in task_jobs(cluster, namespace, name))
    assert names == [f"{name}-convert-audio-1", f"{name}-convert-audio-2"]
    assert "AttemptFailed" in events_of(cluster, namespace, name)


def test_training_out_of_cuda_memory_runs_again_with_half_the_batch_size_until_it_fits(
    cluster: ClusterInfo, namespace: str, operator: OperatorProcess, stages: AddStage
) -> None:
    name = unique("oom")
    oom = "out of memory: upstream s2_train.py: torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB."
    for attempt in ("1", "2"):  # the first two Jobs' pods exit as the step does on CUDA out of memory
        selector = {"sovits.io/task": name, "sovits.io/step": "train_sovits", "sovits.io/attempt": attempt}
        stages(cluster.fail_pods_stage(f"{name}-oom-{attempt}", selector, EXIT_OUT_OF_MEMORY, oom))
    steps = [{"name": step} for step in STEP_ORDER[: STEP_ORDER.index("train_sovits") + 1]]
    cluster.apply(training_task(name, namespace, steps=steps, batchSize=8, gpu={"count": 1}))

    wait_for(phase_is(cluster, namespace, name, "completed"), timeout=120, what="task completed")

    record = next(s for s in status(cluster, namespace, name)["steps"] if s["name"] == "train_sovits")
    assert (record["batchSize"], record["memoryRetries"], record["attempts"]) == (2, 2, 1)
    assert record["message"] == "completed with batch size 2 after CUDA ran out of memory 2 time(s)"
    params = {
        j["metadata"]["name"]: json.loads(env_of(j)["SOVITS_STEP_PARAMS"])["batch_size"]
        for j in task_jobs(cluster, namespace, name)
        if j["metadata"]["labels"]["sovits.io/step"] == "train_sovits"
    }
    assert params == {f"{name}-train-sovits-1": 8, f"{name}-train-sovits-2": 4, f"{name}-train-sovits-3": 2}
    assert events_of(cluster, namespace, name).count("OutOfMemory") == 2


def test_the_quality_score_of_a_completed_test_inference_is_in_the_status(
    cluster: ClusterInfo, namespace: str, operator: OperatorProcess, stages: AddStage
) -> None:
    name = unique("score")
    score = {"speakerSimilarity": 0.91, "speakerModel": "eres2netv2", "errorRate": 0.25, "errorMetric": "wer",
             "asrBackend": "pocketsphinx", "secondsPerCharacter": 0.07, "pace": "ok"}  # fmt: skip
    said = "1.9 s of speech in output/output.wav" + RESULT_MARK + json.dumps(score)
    selector = {"sovits.io/task": name, "sovits.io/step": "test_inference"}
    stages(cluster.complete_pods_stage(f"{name}-said", selector, 0, said))  # as the step's runner writes it
    cluster.apply(training_task(name, namespace, pipeline="full", gpu={"count": 1}))

    wait_for(phase_is(cluster, namespace, name, "completed"), timeout=120, what="task completed")

    assert status(cluster, namespace, name)["quality"] == score


def env_of(job: dict[str, Any]) -> dict[str, str]:
    (container,) = job["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e.get("value", "") for e in container.get("env", [])}


def test_cancel_while_running_removes_jobs_and_pods_and_keeps_finished_steps(
    cluster: ClusterInfo, namespace: str, operator: OperatorProcess, stages: AddStage
) -> None:
    name = unique("cancel")
    stages(cluster.hold_pods_stage(f"{name}-hold", {"sovits.io/task": name, "sovits.io/step": "slice_audio"}))
    cluster.apply(training_task(name, namespace, steps=[{"name": "convert_audio"}, {"name": "slice_audio"}]))
    wait_for(lambda: any(p["metadata"]["labels"]["sovits.io/step"] == "slice_audio"
                         for p in task_pods(cluster, namespace, name) if p["status"].get("phase") == "Running"),
             what="slice running")  # fmt: skip

    cluster.kubectl("patch", "trainingtask", name, "-n", namespace, "--type=merge", "-p", '{"spec":{"cancel":true}}')

    wait_for(phase_is(cluster, namespace, name, "cancelled"), what="cancelled")
    wait_for(
        lambda: not any(j["metadata"]["name"].endswith("slice-audio-1") for j in task_jobs(cluster, namespace, name)),
        what="slice Job deleted",
    )
    wait_for(lambda: not any(p["metadata"]["labels"]["sovits.io/step"] == "slice_audio"
                             for p in task_pods(cluster, namespace, name)), what="slice pods gone")  # fmt: skip
    found = status(cluster, namespace, name)
    assert [(s["name"], s["phase"]) for s in found["steps"]] == [
        ("convert_audio", "completed"),
        ("slice_audio", "cancelled"),
    ]
    assert ready(found)["reason"] == "Cancelled"


def test_deleting_a_running_task_removes_its_jobs_pods_and_storage(
    cluster: ClusterInfo, namespace: str, operator: OperatorProcess, stages: AddStage, s3_store: S3Store
) -> None:
    name = unique("delete")
    s3_store.client().put_object(Bucket=s3_store.bucket, Key=f"tasks/{name}/input_audio/a.wav", Body=b"RIFF")
    stages(cluster.hold_pods_stage(f"{name}-hold", {"sovits.io/task": name}))
    cluster.apply(training_task(name, namespace, steps=[{"name": "convert_audio"}]))
    wait_for(a_pod_running(cluster, namespace, name), what="pod running")

    cluster.kubectl("delete", "trainingtask", name, "-n", namespace, "--wait=false")

    wait_for(lambda: not get_json(cluster, "trainingtasks", "-n", namespace, "--field-selector",
                                  f"metadata.name={name}")["items"], what="task gone")  # fmt: skip
    wait_for(lambda: not task_jobs(cluster, namespace, name), what="Jobs gone")
    wait_for(lambda: not task_pods(cluster, namespace, name), what="pods gone")
    listed = s3_store.client().list_objects_v2(Bucket=s3_store.bucket, Prefix=f"tasks/{name}/")
    assert listed.get("KeyCount", 0) == 0


def test_deleting_a_task_whose_storage_is_unreachable_lets_go_with_an_event(
    cluster: ClusterInfo, namespace: str, operator: OperatorProcess
) -> None:
    name = unique("nostore")
    cluster.apply(training_task(name, namespace, storage={"bucket": "no-such-bucket-anywhere"}))
    wait_for(lambda: status(cluster, namespace, name).get("phase") == "created", what="task seen")
    wait_for(lambda: get_json(cluster, "trainingtask", name, "-n", namespace)["metadata"].get("finalizers"),
             what="finalizer added")  # fmt: skip

    cluster.kubectl("delete", "trainingtask", name, "-n", namespace, "--wait=false")

    wait_for(lambda: not get_json(cluster, "trainingtasks", "-n", namespace, "--field-selector",
                                  f"metadata.name={name}")["items"], what="task gone")  # fmt: skip
    assert "StorageCleanupFailed" in events_of(cluster, namespace, name)


def test_an_operator_killed_mid_step_resumes_without_a_duplicate_job(
    cluster: ClusterInfo, namespace: str, operator: OperatorProcess, stages: AddStage
) -> None:
    name = unique("restart")
    stages(
        cluster.complete_pods_stage(f"{name}-slow", {"sovits.io/task": name, "sovits.io/step": "convert_audio"}, 6000)
    )
    cluster.apply(training_task(name, namespace, steps=[{"name": "convert_audio"}, {"name": "slice_audio"}]))
    wait_for(a_pod_running(cluster, namespace, name), what="convert pod running")

    operator.kill()
    wait_for(lambda: any(p["status"].get("phase") == "Succeeded" for p in task_pods(cluster, namespace, name)),
             timeout=30, what="convert pod succeeded while the operator was down")  # fmt: skip
    operator.start()

    wait_for(phase_is(cluster, namespace, name, "completed"), what="task completed after restart")
    names = sorted(j["metadata"]["name"] for j in task_jobs(cluster, namespace, name))
    assert names == [f"{name}-convert-audio-1", f"{name}-slice-audio-1"]
    assert [s["attempts"] for s in status(cluster, namespace, name)["steps"]] == [1, 1]


def test_a_restarted_operator_keeps_retained_finished_jobs_as_they_are_and_reconciles_a_new_task(
    cluster: ClusterInfo, namespace: str, operator: OperatorProcess
) -> None:
    done, new = unique("retained"), unique("after")
    cluster.apply(training_task(done, namespace, steps=[{"name": "convert_audio"}, {"name": "slice_audio"}]))
    wait_for(phase_is(cluster, namespace, done, "completed"), what="first task completed")
    wait_for(lambda: all(j["spec"].get("ttlSecondsAfterFinished") for j in task_jobs(cluster, namespace, done)),
             what="its Jobs' outcomes recorded")  # fmt: skip
    before = status(cluster, namespace, done)

    operator.stop()
    cluster.apply(training_task(new, namespace, steps=[{"name": "convert_audio"}]))
    operator.start()

    wait_for(phase_is(cluster, namespace, new, "completed"), what="the task created while it was down completed")
    assert [j["metadata"]["name"] for j in task_jobs(cluster, namespace, new)] == [f"{new}-convert-audio-1"]
    # Its recorded Jobs were left out of the restarted operator's list: none created again,
    # nothing re-recorded.
    names = sorted(j["metadata"]["name"] for j in task_jobs(cluster, namespace, done))
    assert names == [f"{done}-convert-audio-1", f"{done}-slice-audio-1"]
    assert status(cluster, namespace, done) == before
    assert events_of(cluster, namespace, done).count("StepStarted") == 2
    # The finished task (and those of earlier tests) got no pass at all, not merely one that changed nothing.
    assert skipped_passes(operator) >= 1


def skipped_passes(operator: OperatorProcess) -> float:
    """Passes the running operator skipped as at rest, from its own /metrics."""
    found = re.search(r'^sovits_operator_reconciles_total\{result="skipped"\} (\S+)$', operator.metrics(), re.M)
    return float(found.group(1)) if found else 0.0


def test_a_gpu_request_no_node_can_satisfy_is_reported_as_unschedulable(
    cluster: ClusterInfo, namespace: str, operator: OperatorProcess
) -> None:
    name = unique("nogpu")
    cluster.apply(training_task(name, namespace, steps=[{"name": s} for s in PREP], gpu={"count": 9}))

    def unschedulable() -> dict[str, Any] | None:
        found = status(cluster, namespace, name)
        return next((c for c in found.get("conditions", []) if c["type"] == "Unschedulable"
                     and c["status"] == "True"), None)  # fmt: skip

    condition = wait_for(unschedulable, what="Unschedulable condition")

    assert "nvidia.com/gpu" in condition["message"]
    assert "asr_transcribe" in condition["message"]
    assert status(cluster, namespace, name)["phase"] == "running"
    assert "PodUnschedulable" in events_of(cluster, namespace, name)


def test_a_sharded_step_runs_as_an_indexed_job_with_three_shards(
    cluster: ClusterInfo, namespace: str, operator: OperatorProcess
) -> None:
    name = unique("shards")
    steps = [{"name": s} for s in [*PREP, "extract_text_features"]]
    cluster.apply(training_task(name, namespace, steps=steps, gpu={"count": 3}))

    wait_for(phase_is(cluster, namespace, name, "completed"), timeout=90, what="completed")

    job = get_json(cluster, "job", f"{name}-extract-text-features-1", "-n", namespace)
    assert job["spec"]["completionMode"] == "Indexed"
    assert job["spec"]["completions"] == job["spec"]["parallelism"] == 3
    assert job["status"]["succeeded"] == 3
    pods = [
        p
        for p in task_pods(cluster, namespace, name)
        if p["metadata"]["labels"]["sovits.io/step"] == "extract_text_features"
    ]
    indexes = {p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"] for p in pods}
    assert indexes == {"0", "1", "2"}
    env = {e["name"]: e.get("value") for e in pods[0]["spec"]["containers"][0]["env"]}
    assert env["SOVITS_SHARD_COUNT"] == "3"


def test_a_running_steps_own_progress_report_in_storage_reaches_the_status(
    cluster: ClusterInfo, namespace: str, operator: OperatorProcess, stages: AddStage, s3_store: S3Store
) -> None:
    name = unique("progress")
    stages(cluster.hold_pods_stage(f"{name}-hold", {"sovits.io/task": name}))
    cluster.apply(training_task(name, namespace, steps=[{"name": "convert_audio"}]))
    wait_for(a_pod_running(cluster, namespace, name), what="pod running")

    report = b'{"step": "convert_audio", "progress": 40, "message": "2 of 5 files"}'
    s3_store.client().put_object(Bucket=s3_store.bucket, Key=f"tasks/{name}/progress/convert_audio.json", Body=report)

    wait_for(lambda: status(cluster, namespace, name).get("progress") == 40.0, what="progress 40 in status")
    assert status(cluster, namespace, name)["steps"][0]["progress"] == 40.0


def test_a_step_waiting_for_gpus_reads_waiting_in_kubectl_get_and_cancel_says_it_never_ran(
    cluster: ClusterInfo, namespace: str, operator: OperatorProcess
) -> None:
    name = unique("waits")
    cluster.apply(training_task(name, namespace, steps=[{"name": s} for s in PREP], gpu={"count": 9}))

    def waiting() -> bool:
        conditions = status(cluster, namespace, name).get("conditions", [])  # none before the first pass
        return any(c["type"] == "Ready" and c["reason"] == "WaitingForResources" for c in conditions)

    wait_for(waiting, what="Ready reason WaitingForResources")
    row = cluster.kubectl("get", "tt", name, "-n", namespace, "-o", "wide").splitlines()
    header, values = row[0].split(), row[1].split()
    assert header[:7] == ["NAME", "PHASE", "STEP", "PROGRESS", "READY", "REASON", "DURATION"]
    assert (values[1], values[2], values[4], values[5]) == ("running", "asr_transcribe", "False", "WaitingForResources")
    wait_for(lambda: any(c["type"] == "Unschedulable" and c["status"] == "True"
                         for c in status(cluster, namespace, name).get("conditions", [])),
             what="Unschedulable")  # fmt: skip

    cluster.kubectl("patch", "trainingtask", name, "-n", namespace, "--type=merge", "-p", '{"spec":{"cancel":true}}')

    wait_for(phase_is(cluster, namespace, name, "cancelled"), what="cancelled")
    found = status(cluster, namespace, name)
    unschedulable = next(c for c in found["conditions"] if c["type"] == "Unschedulable")
    assert (unschedulable["status"], unschedulable["reason"]) == ("False", "Cancelled")
    assert "cancelled before its pods were scheduled" in unschedulable["message"]


def test_a_run_shows_its_times_outputs_and_decisions_and_keeps_cpu_pods_off_gpu_nodes(
    cluster: ClusterInfo, namespace: str, operator: OperatorProcess
) -> None:
    name = unique("record")
    cluster.apply(training_task(name, namespace, steps=[{"name": "convert_audio"}, {"name": "slice_audio"}]))

    wait_for(phase_is(cluster, namespace, name, "completed"), what="task completed")

    found = status(cluster, namespace, name)
    assert "currentStep" not in found
    assert found["startedAt"] <= found["finishedAt"] and found["duration"].endswith("s")
    stamps = [found["startedAt"], found["finishedAt"]] + [
        s[k] for s in found["steps"] for k in ("startedAt", "finishedAt")
    ]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", stamp) for stamp in stamps), stamps
    assert [s["outputs"] for s in found["steps"]] == [["converted_wav/"], ["sliced/"]]
    assert all(p["spec"]["nodeName"].startswith("cpu-node") for p in task_pods(cluster, namespace, name))
    events = get_json(cluster, "events", "-n", namespace, "--field-selector", f"involvedObject.name={name}")["items"]
    assert {e["source"]["component"] for e in events} == {"sovits-operator"}
    log = operator.tail(100_000)
    assert f"{namespace}/{name} step=convert_audio attempt=1 StepStarted: convert_audio started as Job" in log
    assert f"{namespace}/{name} step=slice_audio attempt=1 StepCompleted: " in log
    assert not re.search(r"(Handler|Timer|Activity) '\w+' succeeded|is processed:", log)


def test_editing_a_failed_request_runs_it_again_and_a_repeated_entry_runs_again(
    cluster: ClusterInfo, namespace: str, operator: OperatorProcess
) -> None:
    name = unique("edit")
    # Within every bound the API server checks, but min_length < min_interval: slice_audio fails at its start.
    crossed = {"name": "slice_audio", "params": {"min_length": 100, "min_interval": 300}}
    cluster.apply(training_task(name, namespace, steps=[{"name": "convert_audio"}, crossed]))
    wait_for(phase_is(cluster, namespace, name, "failed"), what="slice_audio failed on its params")

    fixed = {"name": "slice_audio", "params": {"min_length": 1000, "min_interval": 300}}
    cluster.apply(training_task(name, namespace, steps=[{"name": "convert_audio"}, fixed, {"name": "convert_audio"}]))

    wait_for(phase_is(cluster, namespace, name, "completed"), what="completed after the edit")
    found = status(cluster, namespace, name)
    assert [(s["name"], s["phase"]) for s in found["steps"]] == [
        ("convert_audio", "completed"),
        ("slice_audio", "failed"),
        ("slice_audio", "completed"),
        ("convert_audio", "completed"),
    ]
    assert "min_length >= min_interval" in found["steps"][1]["message"]
    assert ready(found)["message"] == "every requested step completed"


def test_a_pod_the_kubelet_evicts_is_an_interruption_run_again_without_using_up_an_attempt(
    cluster: ClusterInfo, namespace: str, operator: OperatorProcess, stages: AddStage
) -> None:
    name = unique("evicted")
    first = {"batch.kubernetes.io/job-name": f"{name}-convert-audio-1"}
    stages(cluster.evict_pods_stage(f"{name}-evict", first))
    cluster.apply(training_task(name, namespace, steps=[{"name": "convert_audio"}]))

    wait_for(phase_is(cluster, namespace, name, "completed"), what="completed by a second Job")
    step = status(cluster, namespace, name)["steps"][0]
    assert (step["phase"], step["attempts"], step["interruptions"]) == ("completed", 1, 1)
    jobs = sorted(j["metadata"]["name"] for j in task_jobs(cluster, namespace, name))
    assert jobs == [f"{name}-convert-audio-1", f"{name}-convert-audio-2"]
    decisions = [line for line in operator.tail(400).splitlines() if f"{namespace}/{name}" in line]
    assert any("interrupted (1 of" in line and "DisruptionTarget" in line for line in decisions), decisions


def test_a_pod_evicted_through_the_eviction_api_is_replaced_by_its_job_without_a_new_attempt(
    cluster: ClusterInfo, namespace: str, operator: OperatorProcess, stages: AddStage
) -> None:
    name = unique("drain")
    stages(cluster.complete_pods_stage(f"{name}-slow", {"sovits.io/task": name}, 6000))
    cluster.apply(training_task(name, namespace, steps=[{"name": "convert_audio"}]))
    wait_for(a_pod_running(cluster, namespace, name), what="convert pod running")
    pod = task_pods(cluster, namespace, name)[0]["metadata"]["name"]

    # What `kubectl drain` does. kwok removes the pod at once instead of letting it fail as a
    # kubelet would, so the Job replaces it (the kubelet's way is the test above).
    eviction = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": pod, "namespace": namespace}}
    cluster.kubectl("create", "--raw", f"/api/v1/namespaces/{namespace}/pods/{pod}/eviction", "-f", "-",
                    input=json.dumps(eviction))  # fmt: skip

    wait_for(phase_is(cluster, namespace, name, "completed"), what="completed")
    step = status(cluster, namespace, name)["steps"][0]
    assert (step["attempts"], step["interruptions"]) == (1, 0)
    assert [j["metadata"]["name"] for j in task_jobs(cluster, namespace, name)] == [f"{name}-convert-audio-1"]


def test_the_dataset_summary_reaches_the_status_and_kubectl_get_wide_once_asr_transcribe_completes(
    cluster: ClusterInfo, namespace: str, operator: OperatorProcess, s3_store: S3Store, transcribed: TaskFiles
) -> None:
    name = unique("dataset")
    client = s3_store.client()
    for key in (c.DATASET_AUDIO_KEY, c.ASR_TRANSCRIPT_KEY):  # what a real asr_transcribe stored
        client.put_object(Bucket=s3_store.bucket, Key=f"tasks/{name}/{key}", Body=transcribed.get_bytes(key))
    cluster.apply(training_task(name, namespace, steps=[{"name": step} for step in PREP]))

    wait_for(lambda: status(cluster, namespace, name).get("dataset"), what="dataset summary in the status")

    summary = status(cluster, namespace, name)["dataset"]
    flagged = sum(1 for case in cases() if case.expected)
    assert (summary["verdict"], summary["clips"], summary["flaggedClips"]) == ("insufficient", len(cases()), flagged)
    assert summary["summary"] == f"insufficient: {summary['usableMinutes']:g} usable min, {flagged} flagged clips"
    wide = cluster.kubectl("get", "trainingtask", name, "-n", namespace, "-o", "wide")
    assert "DATASET" in wide.splitlines()[0] and summary["summary"] in wide
