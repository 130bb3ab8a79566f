"""A task ready for the model steps: espeak-ng clips in denoised/, their .list, pretrained
models in the model store (stand-in files, uploaded with `sovits models upload`'s code),
and the stand-in upstream checkout as ``paths.base_dir``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sovits_core import contract as c
from sovits_core.catalog import STEP_ORDER
from sovits_core.model import StepStatus
from sovits_core.storage import LocalObjectStore
from sovits_local.store import SqliteTaskStore
from sovits_steps.models_cli import upload
from sovits_steps.upstream import versions as v
from tests.steps.conftest import TASK_ID, LocalTask
from tests.steps.upstream import real
from tests.support import upstream as up
from tests.support.audio import silence, speech, write_wav
from tests.support.fake_upstream import FakeUpstream
from tests.support.local_process import LocalService

EXP = "alice"
# Three real clips, named as the slicer names them; the middle one is padded to ~5 s so the
# reference picker has a 3-10 s clip, the others stay shorter than 3 s.
CLIPS: dict[str, tuple[str, str, float]] = {
    "talk.wav_0000000000_0000064000.wav": ("ZH", "你好", 0.0),
    "talk.wav_0000064000_0000224000.wav": ("EN", "the weather is nice today", 5.0),
    "talk.wav_0000224000_0000288000.wav": ("EN", "open the window", 0.0),
}
NAMES = sorted(CLIPS)


def spec(version: str = "v2Pro", gpus: int = 0, **extra: Any) -> dict[str, Any]:
    return {"expName": EXP, "language": "en", "modelVersion": version, "gpu": {"count": gpus}, **extra}


def pretrained_files() -> list[str]:
    """Every pretrained file any version or step asks for, as stand-in bytes."""
    tagger = "taggers/averaged_perceptron_tagger_eng/averaged_perceptron_tagger_eng.weights.json"
    names = {f"{v.BERT}/config.json", f"{v.HUBERT}/config.json", f"{v.G2PW}/g2pW.onnx", v.SPEAKER_VERIFICATION,
             f"{v.NLTK_DATA}/corpora/cmudict.zip", f"{v.NLTK_DATA}/{tagger}"}  # fmt: skip
    for info in v.VERSIONS.values():
        names |= {info.sovits_g, info.gpt} | ({info.sovits_d} if info.sovits_d else set())
        if info.vocoder:
            names.add(f"{info.vocoder[0]}/config.json" if info.vocoder[1] else info.vocoder[0])
    return sorted(names)


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeUpstream:
    checkout = FakeUpstream(tmp_path / "GPT-SoVITS")
    monkeypatch.setenv("SOVITS_PATHS__BASE_DIR", str(checkout.root))
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    return checkout


@pytest.fixture
def models(task: LocalTask, tmp_path: Path) -> Path:
    src = tmp_path / "pretrained_models"
    for name in pretrained_files():
        path = src / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"stand-in weights of " + name.encode())
    assert isinstance(task.store.store, LocalObjectStore)
    upload(task.store.store, "models/", src)
    return src


@pytest.fixture
def prepared(task: LocalTask, fake: FakeUpstream, models: Path, tmp_path: Path) -> LocalTask:
    """Clips and their .list, as slice/denoise/asr leave them."""
    lines = []
    for name, (lang, text, pad) in CLIPS.items():
        voice = "cmn" if lang == "ZH" else "en"
        audio = speech(text, voice=voice)
        if pad:
            audio = np.concatenate([audio, silence(max(0.0, pad - len(audio) / 32000))])
        task.put(f"denoised/{name}", write_wav(tmp_path / "clips" / name, audio))
        lines.append(f"denoised/{name}|{EXP}|{lang}|{text}")
    task.put("transcripts/denoised.list", "\n".join(lines).encode())
    return task


def run_features(task: LocalTask, version: str = "v2Pro", shards: int = 1, gpus: int = 0) -> None:
    """Steps 5-8, each shard in turn, as an Indexed Job would run them."""
    for step in ("extract_text_features", "extract_audio_features", "extract_speaker_vectors",
                 "extract_semantic_features"):  # fmt: skip
        for index in range(shards):
            code = task.run(step, {}, spec=spec(version, gpus), shard=(index, shards))
            assert code == c.EXIT_OK, f"{step}[{index}]: {task.reason}"


def serve_locally(
    tmp_path: Path, fake: FakeUpstream, config: dict[str, Any], done: int = 8
) -> tuple[LocalService, str]:
    """`sovits local` (stopped: start it) over this module's store: a task created through its API
    with ``config``, the files of ``tasks/<TASK_ID>/`` as its own, and its first ``done`` steps
    (eight: those before training) recorded as completed in its task store, as a restart finds them."""
    data = tmp_path / "local"
    service = LocalService(data, settings_env={"SOVITS_PATHS__BASE_DIR": str(fake.root)}).start()
    try:
        task_id = str(service.client().create_task("local", {"exp_name": EXP, "language": "en", "gpu_id": "0",
                                                             **config})["task_id"])  # fmt: skip
    finally:
        service.stop()
    (tmp_path / "store" / "tasks" / TASK_ID).rename(tmp_path / "store" / "tasks" / task_id)
    (tmp_path / "store").rename(data / "store")
    store = SqliteTaskStore.open(data / "tasks.db")
    task = store.get("default", task_id)
    at = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
    records = [
        StepStatus(name=s, phase="completed", attempts=1, started_at=at, finished_at=at) for s in STEP_ORDER[:done]
    ]
    store.update_status("default", task_id, task.status.model_copy(update={"steps": records, "phase": "completed"}))
    store.close()
    return service.start(), task_id


def experiment(task: LocalTask) -> list[str]:
    return task.names(f"experiments/{EXP}")


# Real upstream (marker ``upstream``): made once per session, shared by its modules.


@pytest.fixture(scope="session")
def upstream() -> up.Upstream:
    return up.prepared()


@pytest.fixture(scope="session")
def tiny_checkout(upstream: up.Upstream, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return real.tiny_checkout(upstream, tmp_path_factory.mktemp("upstream") / "GPT-SoVITS")


@pytest.fixture(scope="session")
def model_store(upstream: up.Upstream, tiny_checkout: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One local store with the stand-in models; each test's task gets its own id in it."""
    made = real.make_stand_ins(upstream, tiny_checkout, tmp_path_factory.mktemp("pretrained_models"), real.VERSIONS)
    yield real.model_store(made, tmp_path_factory.mktemp("store"))
    real.remove_temp_dirs()


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return real.make_clips(tmp_path_factory.mktemp("clips"))


@pytest.fixture(scope="session")
def pro_features(
    upstream: up.Upstream, tiny_checkout: Path, model_store: Path, clips: dict[str, Path]
) -> real.ImageTask:
    """A v2Pro task through the four feature steps, once: the v2Pro and v2ProPlus pipelines and the
    resume test go on from copies of it (the text, HuBERT and speaker-vector features of the two Pro
    versions are the same files; v2ProPlus extracts its own semantic tokens)."""
    task = real.new_task(upstream, tiny_checkout, model_store, clips, "t-pro-features", "v2Pro")
    for step in real.FEATURES:
        run = task.run(step)
        assert run.code == c.EXIT_OK, f"v2Pro {step}: {run.reason}\n{task.log(step)[-4000:]}"
    return task


@pytest.fixture(scope="session")
def interrupted_sovits(pro_features: real.ImageTask) -> real.Interrupted:
    """The v2Pro pipeline's SoVITS training, two epochs, killed mid-run once its first checkpoint is
    mirrored and run again: the resume test reads it, and the v2Pro pipeline goes on from it (one
    training run fewer than a separate resume test; SoVITS runs are the suite's costliest)."""
    task = pro_features.clone("t-v2pro", "v2Pro")
    return task.interrupted_sovits({"epochs": real.RESUMED_SOVITS_EPOCHS, "save_every_epoch": 1})
