"""Real end to end: `kubectl apply -f` of a TrainingTask runs convert_audio and slice_audio for
real - operator process, Jobs, the node agent running each pod as a local `sovits step`, ffmpeg,
the SeaweedFS store - and the outputs appear in the store."""

from __future__ import annotations

import base64
import io
import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
import yaml

from sovits_core.settings import Settings
from sovits_steps.slicer import SLICE_NAME
from tests.support.audio import RATE, encode, join_with_pauses, speech
from tests.support.cluster import ClusterInfo, NodeAgentProcess
from tests.support.operator_process import OperatorProcess, wait_for
from tests.support.seaweed import S3Store
from tests.support.tasks import ready, status, task_jobs, task_pods, unique

pytestmark = pytest.mark.cluster

PHRASES = [
    "the quick brown fox jumps over the lazy dog and keeps running through the open field",
    "many voices sing together in the morning light while the river flows to the sea",
    "a long time ago people wrote letters by hand and waited weeks for every answer",
]
PAUSES = [1.0, 1.5]  # each longer than slice_audio's min_interval (300 ms) and max_sil_kept


def credentials_secret(namespace: str, store: S3Store) -> dict[str, Any]:
    """The Secret step pods read their S3 keys from, under the name the settings give."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": Settings().storage.credentials_secret, "namespace": namespace},
        "data": {
            "AWS_ACCESS_KEY_ID": base64.b64encode(store.access_key.encode()).decode(),
            "AWS_SECRET_ACCESS_KEY": base64.b64encode(store.secret_key.encode()).decode(),
        },
    }


def recording(first: int) -> np.ndarray:
    """Three stretches of speech, each longer than slice_audio's 4 s minimum, with long pauses."""
    parts = [np.concatenate([speech(PHRASES[(first + i) % 3]), speech(PHRASES[(first + i + 1) % 3])]) for i in range(3)]
    audio, _ = join_with_pauses(parts, PAUSES)
    return audio


def upload_inputs(store: S3Store, task: str, tmp_path: Path) -> None:
    """A stereo 44.1 kHz MP3 and a stereo 48 kHz FLAC, as a user would upload them."""
    client = store.client()
    mp3 = encode(recording(0), tmp_path / "interview.mp3", rate=44100, channels=2)
    flac = encode(recording(1), tmp_path / "memo.flac", rate=48000, channels=2)
    for path in (mp3, flac):
        client.upload_file(str(path), store.bucket, f"tasks/{task}/input_audio/{path.name}")


def task_yaml(name: str, namespace: str) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "sovits.io/v1alpha1",
            "kind": "TrainingTask",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"expName": "speaker1", "steps": [{"name": "convert_audio"}, {"name": "slice_audio"}]},
        }
    )


def objects(store: S3Store, prefix: str) -> dict[str, bytes]:
    client = store.client()
    listed = client.list_objects_v2(Bucket=store.bucket, Prefix=prefix).get("Contents", [])
    return {
        item["Key"][len(prefix) :]: client.get_object(Bucket=store.bucket, Key=item["Key"])["Body"].read()
        for item in listed
    }


def wav_format(data: bytes) -> tuple[int, int, str]:
    info = sf.info(io.BytesIO(data))
    return info.samplerate, info.channels, info.subtype


def test_kubectl_apply_converts_and_slices_real_audio_into_the_store(
    cluster: ClusterInfo,
    namespace: str,
    operator_on_agent: OperatorProcess,
    node_agent: NodeAgentProcess,
    s3_store: S3Store,
    tmp_path: Path,
) -> None:
    name = unique("e2e")
    cluster.apply(credentials_secret(namespace, s3_store))
    upload_inputs(s3_store, name, tmp_path)
    manifest = tmp_path / "task.yaml"
    manifest.write_text(task_yaml(name, namespace))

    cluster.kubectl("apply", "-f", str(manifest))

    def settled() -> dict[str, Any] | None:
        found = status(cluster, namespace, name)
        return found if found.get("phase") in ("completed", "failed") else None

    found = wait_for(settled, timeout=240, what="task settled")
    assert found["phase"] == "completed", found
    assert found["progress"] == 100.0
    assert [(s["name"], s["phase"], s["attempts"]) for s in found["steps"]] == [
        ("convert_audio", "completed", 1),
        ("slice_audio", "completed", 1),
    ]
    assert ready(found)["reason"] == "Completed"
    # The steps really ran on the agent's node, not on a kwok fake one.
    assert {p["spec"]["nodeName"] for p in task_pods(cluster, namespace, name)} == {node_agent.name}
    assert sorted(j["metadata"]["name"] for j in task_jobs(cluster, namespace, name)) == [
        f"{name}-convert-audio-1",
        f"{name}-slice-audio-1",
    ]

    converted = objects(s3_store, f"tasks/{name}/converted_wav/")
    assert sorted(converted) == ["interview.wav", "memo.wav"]
    for data in converted.values():
        assert wav_format(data) == (RATE, 1, "PCM_16")

    sliced = objects(s3_store, f"tasks/{name}/sliced/")
    for source in ("interview.wav", "memo.wav"):
        length = sf.info(io.BytesIO(converted[source])).frames
        bounds = []
        for key, data in sliced.items():
            match = SLICE_NAME.match(key)
            assert match, key
            if match["source"] == source:
                bounds.append((int(match["start"]), int(match["end"])))
                assert wav_format(data) == (RATE, 1, "PCM_16")
                # The name's offsets are the slice's extent in samples at 32 kHz, as upstream names
                # them: the last one's end is its last frame boundary, past the converted file's end.
                assert sf.info(io.BytesIO(data)).frames == min(int(match["end"]), length) - int(match["start"])
        bounds.sort()
        assert len(bounds) == 3, (source, bounds)  # one slice per stretch of speech
        assert all(end <= nxt for (_, end), (nxt, _) in itertools.pairwise(bounds))

    logs = objects(s3_store, f"tasks/{name}/logs/")
    assert sorted(logs) == ["convert_audio.log", "slice_audio.log"]
    assert "step convert_audio done: converted 2 files" in logs["convert_audio.log"].decode()
    assert "step slice_audio done" in logs["slice_audio.log"].decode()
    progress = objects(s3_store, f"tasks/{name}/progress/")
    assert json.loads(progress["slice_audio.json"])["progress"] == 100
