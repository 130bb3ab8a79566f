"""Steps as containers: a TrainingTask applied with kubectl runs convert_audio, slice_audio,
denoise_audio and asr_transcribe (pocketsphinx) from the step-audio image built by
hack/images.sh, on the real node (containerd, runc, kubelet), against SeaweedFS, with the
operator's step pod security context (non-root UID 1000, no privilege escalation, every
capability dropped, RuntimeDefault seccomp). The operator runs as a host process here; the
chart's own install is tests/chart/test_real_node_install.py."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sovits_steps.slicer import SLICE_NAME
from tests.operator.cluster.test_end_to_end import credentials_secret, objects, recording, upload_inputs, wav_format
from tests.support.audio import RATE, encode, white_noise
from tests.support.operator_process import OPERATOR_ENV, OperatorProcess, wait_for
from tests.support.real_node import NODE_NAME, RealNodeCluster
from tests.support.tasks import events_of, phase_is, status, task_pods, training_task, unique

pytestmark = pytest.mark.real_node

AUDIO_STEPS = [
    {"name": "convert_audio"},
    {"name": "slice_audio"},
    {"name": "denoise_audio"},
    {"name": "asr_transcribe", "params": {"backend": "pocketsphinx"}},
]

StartOperator = Callable[..., OperatorProcess]


@pytest.fixture(scope="module")
def step_image(real_node: RealNodeCluster) -> str:
    return real_node.node.load_image("step-audio")


@pytest.fixture
def node_namespace(real_node: RealNodeCluster) -> Iterator[str]:
    """A namespace on the real node's control plane with the step pods' S3 Secret."""
    name = real_node.cluster.create_namespace("steps")
    real_node.cluster.apply(credentials_secret(name, real_node.store))
    yield name
    real_node.cluster.kubectl("delete", "namespace", name, "--wait=false")


@pytest.fixture
def start_operator(
    real_node: RealNodeCluster, step_image: str, node_namespace: str, tmp_path: Path
) -> Iterator[StartOperator]:
    """`sovits operator` for the test's namespace, running step pods from the step-audio image;
    keyword arguments add settings environment (one operator per test, so each may differ)."""
    started: list[OperatorProcess] = []

    def start(**env: str) -> OperatorProcess:
        settings = {**real_node.store_env(), **OPERATOR_ENV, "SOVITS_IMAGES__DEFAULT": step_image, **env}
        operator = OperatorProcess(
            real_node.cluster, None, tmp_path, env=settings, args=("--namespace", node_namespace)
        )
        operator.start()
        started.append(operator)
        return operator

    yield start
    for operator in started:
        operator.stop()


def settled(real_node: RealNodeCluster, namespace: str, name: str) -> Callable[[], dict[str, Any] | None]:
    def check() -> dict[str, Any] | None:
        found = status(real_node.cluster, namespace, name)
        return found if found.get("phase") in ("completed", "failed", "cancelled") else None

    return check


def running_step_pod(real_node: RealNodeCluster, namespace: str, task: str, step: str) -> Callable[[], str | None]:
    def check() -> str | None:
        for pod in task_pods(real_node.cluster, namespace, task):
            states = [cs.get("state", {}) for cs in pod["status"].get("containerStatuses") or []]
            if pod["metadata"]["labels"]["sovits.io/step"] == step and any("running" in s for s in states):
                return str(pod["metadata"]["name"])
        return None

    return check


def test_kubectl_apply_runs_the_four_audio_steps_as_containers_into_the_store(
    real_node: RealNodeCluster, node_namespace: str, start_operator: StartOperator, tmp_path: Path
) -> None:
    start_operator()
    name = unique("node")
    # One stereo 44.1 kHz MP3 of three stretches of speech: pocketsphinx takes its time per clip.
    mp3 = encode(recording(0), tmp_path / "interview.mp3", rate=44100, channels=2)
    real_node.store.client().upload_file(str(mp3), real_node.store.bucket, f"tasks/{name}/input_audio/interview.mp3")
    manifest = tmp_path / "task.yaml"
    manifest.write_text(json.dumps(training_task(name, node_namespace, language="en", steps=AUDIO_STEPS)))

    real_node.cluster.kubectl("apply", "-f", str(manifest))

    found = wait_for(settled(real_node, node_namespace, name), timeout=420, what="task settled")
    assert found["phase"] == "completed", found
    assert [(s["name"], s["phase"], s["attempts"]) for s in found["steps"]] == [
        (step["name"], "completed", 1) for step in AUDIO_STEPS
    ]
    pods = task_pods(real_node.cluster, node_namespace, name)
    assert {p["spec"]["nodeName"] for p in pods} == {NODE_NAME}
    for pod in pods:
        assert pod["spec"]["securityContext"]["runAsUser"] == 1000
        assert pod["spec"]["containers"][0]["securityContext"]["capabilities"] == {"drop": ["ALL"]}
        (state,) = [cs["state"] for cs in pod["status"]["containerStatuses"]]
        assert state["terminated"]["exitCode"] == 0  # a container that really ran and exited

    store = real_node.store
    converted = objects(store, f"tasks/{name}/converted_wav/")
    assert sorted(converted) == ["interview.wav"]
    assert {wav_format(data) for data in converted.values()} == {(RATE, 1, "PCM_16")}
    sliced = objects(store, f"tasks/{name}/sliced/")
    assert len(sliced) == 3 and all(SLICE_NAME.match(key) for key in sliced)  # one per stretch of speech
    denoised = objects(store, f"tasks/{name}/denoised/")
    assert sorted(denoised) == sorted(sliced)
    (transcript,) = objects(store, f"tasks/{name}/transcripts/").values()
    lines = transcript.decode().splitlines()
    assert len(lines) == len(denoised)
    assert all(line.split("|")[1:3] == ["speaker1", "EN"] and line.split("|")[3].strip() for line in lines)


@pytest.fixture
def slow_store(real_node: RealNodeCluster) -> Iterator[str]:
    """The store as the node's pods reach it, at 32 KiB/s each way: a step stays in its download."""
    with real_node.node.slow_relay(real_node.store.port, 32 * 1024) as address:
        yield f"http://{address}"


def test_a_running_steps_log_is_read_with_kubectl_and_cancel_stops_its_container(
    real_node: RealNodeCluster, node_namespace: str, start_operator: StartOperator, slow_store: str, tmp_path: Path
) -> None:
    name = unique("cancel")
    # A minute at 44.1 kHz stereo (10.6 MB) uploaded at full speed, while the step reads the store
    # at 32 KiB/s: its download lasts minutes, so the cancel finds it running however loaded the
    # machine is (ten minutes of audio read at full speed once converted before the cancel came).
    take = encode(white_noise(60.0, rate=44100, std=0.05), tmp_path / "take.wav", rate=44100, channels=2)
    real_node.store.client().upload_file(str(take), real_node.store.bucket, f"tasks/{name}/input_audio/long.wav")
    start_operator(SOVITS_STORAGE__ENDPOINT_URL=slow_store)
    real_node.cluster.apply(training_task(name, node_namespace, steps=[{"name": "convert_audio"}]))

    pod = wait_for(running_step_pod(real_node, node_namespace, name, "convert_audio"), timeout=120, what="step running")
    log = wait_for(
        lambda: "starting" in (text := real_node.cluster.kubectl("logs", pod, "-n", node_namespace)) and text,
        timeout=30, what="step log",
    )  # fmt: skip
    assert f"step convert_audio of task {name} starting" in log
    assert real_node.node.running_containers(node_namespace)  # sandbox and step, as containerd runs them

    real_node.cluster.kubectl(
        "patch", "trainingtask", name, "-n", node_namespace, "--type=merge", "-p", '{"spec":{"cancel":true}}'
    )

    wait_for(phase_is(real_node.cluster, node_namespace, name, "cancelled"), timeout=60, what="task cancelled")
    wait_for(lambda: not real_node.node.running_containers(node_namespace), timeout=60, what="containers stopped")
    assert [(s["name"], s["phase"]) for s in status(real_node.cluster, node_namespace, name)["steps"]] == [
        ("convert_audio", "cancelled")
    ]
    assert list(objects(real_node.store, f"tasks/{name}/converted_wav/")) == []
    # The runner stopped on the kubelet's SIGTERM (not a SIGKILL after the grace period) and said so.
    assert b"stopped by SIGTERM" in objects(real_node.store, f"tasks/{name}/logs/")["convert_audio.log"]


def test_a_step_killed_at_its_memory_limit_is_a_failed_attempt_named_oomkilled_and_retried(
    real_node: RealNodeCluster, node_namespace: str, start_operator: StartOperator, tmp_path: Path
) -> None:
    # 32 MiB: the step runner's Python with boto3 loaded needs more, so the kernel kills it.
    start_operator(SOVITS_OPERATOR__STEP_RESOURCES=json.dumps({"convert_audio": {"memory": "32Mi"}}))
    name = unique("oom")
    upload_inputs(real_node.store, name, tmp_path)
    real_node.cluster.apply(training_task(name, node_namespace, steps=[{"name": "convert_audio"}]))

    found = wait_for(settled(real_node, node_namespace, name), timeout=180, what="task settled")

    assert found["phase"] == "failed", found
    (step,) = found["steps"]
    assert step["attempts"] == int(OPERATOR_ENV["SOVITS_OPERATOR__MAX_ATTEMPTS"])  # retried, then failed
    assert found["errorMessage"].startswith("OOMKilled: the step went over its memory limit"), found
    for pod in task_pods(real_node.cluster, node_namespace, name):
        assert pod["spec"]["containers"][0]["resources"]["limits"]["memory"] == "32Mi"
        (state,) = [cs["state"] for cs in pod["status"]["containerStatuses"]]
        assert (state["terminated"]["reason"], state["terminated"]["exitCode"]) == ("OOMKilled", 137)
    assert "AttemptFailed" in events_of(real_node.cluster, node_namespace, name)
