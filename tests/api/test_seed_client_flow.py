"""The seed's own ``TrainingClient`` against the real thing: `sovits api` and `sovits operator`
as processes on the test control plane, SeaweedFS for files, and the audio-prep steps run for
real by the node agent (ffmpeg, the slicer, spectral denoising, pocketsphinx).

Only the client's poll interval is shortened; its methods are the published ones.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from sovits_core.settings import StorageSettings
from tests.support import seed_client
from tests.support.api_process import ApiProcess
from tests.support.audio import encode, join_with_pauses, speech
from tests.support.cluster import ClusterInfo, NodeAgentProcess
from tests.support.operator_process import OperatorProcess
from tests.support.seaweed import S3Store

pytestmark = pytest.mark.cluster

TOKEN = "seed-client-token"
# The seed's example config, in English so that pocketsphinx (English only) can transcribe.
CONFIG = {"exp_name": "my_speaker", "language": "en", "batch_size": 16, "epochs_s2": 20, "epochs_s1": 8, "gpu_id": "0"}
PREP: list[tuple[str, dict[str, Any] | None]] = [
    ("convert_audio", None),
    ("slice_audio", None),
    ("denoise_audio", None),
    ("asr_transcribe", {"backend": "pocketsphinx"}),
]
RECORDINGS = {
    "audio1.wav": ["the weather is nice today", "please open the window", "we will meet at noon"],
    "audio2.mp3": ["seven green apples on the table", "the train leaves at eight", "bring a warm coat"],
    "audio3.flac": ["my sister plays the piano", "the river is very quiet", "call me in the morning"],
}
STEP_TIMEOUT_S = 240


@pytest.fixture(scope="module")
def tenant(cluster: ClusterInfo, s3_store: S3Store) -> Iterator[str]:
    """The tenant's namespace, holding the S3 keys step pods read by secretKeyRef."""
    namespace = cluster.create_namespace("seed")
    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": StorageSettings().credentials_secret, "namespace": namespace},
            "stringData": {"AWS_ACCESS_KEY_ID": s3_store.access_key, "AWS_SECRET_ACCESS_KEY": s3_store.secret_key},
        }
    )
    yield namespace
    cluster.kubectl("delete", "namespace", namespace, "--wait=false")


@pytest.fixture(scope="module")
def api(
    cluster: ClusterInfo, s3_store: S3Store, tenant: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiProcess]:
    server = ApiProcess({**cluster.env, **s3_store.env()}, {TOKEN: tenant}, tenant, tmp_path_factory.mktemp("api"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Three files in three of the seed's formats, each a few espeak-ng sentences with pauses."""
    folder = tmp_path_factory.mktemp("recordings")
    paths = []
    for name, sentences in RECORDINGS.items():
        samples, _ = join_with_pauses([speech(s) for s in sentences], [0.7] * (len(sentences) - 1))
        paths.append(encode(samples, folder / name))
    return paths


@pytest.fixture
def client(api: ApiProcess, monkeypatch: pytest.MonkeyPatch) -> seed_client.TrainingClient:
    # The seed polls every 10 s; the same loop with a 0.5 s nap.
    monkeypatch.setattr(seed_client, "time", SimpleNamespace(time=time.time, sleep=lambda _: time.sleep(0.5)))
    seed_client.authenticate(TOKEN)
    return seed_client.TrainingClient(f"{api.url}/api/v1")


def pod_logs(agent: NodeAgentProcess, namespace: str) -> str:
    """What the step processes printed, for a failure report."""
    logs = sorted((agent.workdir / "pods" / namespace).glob("*/container.log"))
    return "\n".join(f"--- {p.parent.name}\n{p.read_text(errors='replace')[-3000:]}" for p in logs)


def test_the_seeds_client_prepares_audio_step_by_step_and_gets_a_transcript_line_per_clip(
    client: seed_client.TrainingClient,
    api: ApiProcess,
    operator_on_agent: OperatorProcess,
    node_agent: NodeAgentProcess,
    tenant: str,
    recordings: list[Path],
) -> None:
    http = seed_client.requests
    base = client.base_url

    task = client.create_task("语音克隆测试", CONFIG)
    task_id = task["task_id"]
    assert (task["status"], task["config"]["gpu_id"]) == ("created", "0")

    for path in recordings:
        assert client.upload_audio(task_id, str(path))["filename"] == path.name

    for step, params in PREP:
        started = client.execute_step(task_id, step, params)
        assert started.get("message"), started
        # Polled at once, the task never shows the previous step's completion.
        first = client.get_task_status(task_id)
        assert first["current_step"] == step and first["status"] in ("running", "completed"), first
        final = client.wait_for_completion(task_id, timeout=STEP_TIMEOUT_S)
        assert final["status"] == "completed", (
            f"{step}: {final}\n{operator_on_agent.tail()}\n{pod_logs(node_agent, tenant)}"
        )
        assert final["current_step"] == step

    listed = http.get(f"{base}/tasks").json()
    assert [(t["task_id"], t["status"]) for t in listed if t["task_id"] == task_id] == [(task_id, "completed")]

    files = http.get(f"{base}/task/{task_id}/files").json()["files"]
    converted = [f["name"] for f in files if f["name"].startswith("converted_wav/")]
    clips = sorted(f["name"] for f in files if f["name"].startswith("denoised/") and f["name"].endswith(".wav"))
    assert len(converted) == len(recordings)
    assert len(clips) >= len(recordings)

    download = http.get(f"{base}/task/{task_id}/files/download/transcripts/denoised.list")
    assert download.status_code == 200
    assert [r.status_code for r in download.history] == [307]  # served by a presigned URL
    lines = [line.split("|") for line in download.content.decode("utf-8").splitlines() if line]
    assert sorted(path for path, *_ in lines) == clips
    for _, speaker, language, text in lines:
        assert (speaker, language) == ("my_speaker", "EN")
        assert text.strip()

    logs = http.get(f"{base}/task/{task_id}/logs").json()
    assert logs["steps"] == [step for step, _ in PREP]
    for step, _ in PREP:
        assert f"==> {step} <==\n" in logs["logs"]
    last = http.get(f"{base}/task/{task_id}/logs", params={"step": "asr_transcribe", "tail": 1}).json()
    assert last["steps"] == ["asr_transcribe"]
    assert last["logs"].count("\n") <= 1 and last["logs"].strip()
