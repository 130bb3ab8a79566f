"""Every model step through real upstream GPT-SoVITS, in the step image's environment, on the CPU.

Upstream is the pinned release from ``../shared/upstream`` as ``hack/upstream.sh`` prepared it
(its scripts, its requirements, torch from PyPI). What stands in: the pretrained weights (random,
made with upstream's own classes by ``stand_in_models.py``, faithful in what upstream reads) and
the model sizes (the checkout's config templates are shrunk, ``real.tiny_checkout``). Not proven
here: pretrained weights, full-size models, GPUs, the Japanese/Korean/Cantonese front ends.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from sovits_core import contract as c
from tests.steps.upstream.real import (
    CLIPS,
    EXP,
    FEATURES,
    REFERENCE,
    SEMANTIC,
    SOVITS_EPOCHS,
    TINY_MAX_SEC,
    VERSIONS,
    ImageTask,
    Interrupted,
    new_task,
)
from tests.support.upstream import Upstream

pytestmark = [pytest.mark.upstream, pytest.mark.timeout(1800)]

TARGET = "hello there this is a test"  # one segment: upstream bounds each at max_sec
GPT_EPOCHS = 8  # a tiny GPT trains an epoch in about a second; progress is written every 5 s


TRAINING: list[tuple[str, dict[str, Any]]] = [
    ("train_sovits", {"epochs": SOVITS_EPOCHS, "save_every_epoch": 1}),
    ("train_gpt", {"epochs": GPT_EPOCHS, "save_every_n_epoch": 1}),
    (
        "test_inference",
        {
            "target_text": TARGET,
            "target_language": "en",
            "ref_audio": REFERENCE[0],
            "ref_text": REFERENCE[1],
            "ref_language": "en",
            "asr_backend": "pocketsphinx",  # installed with the steps extra; faster-whisper is not here
        },
    ),
]


@pytest.fixture(scope="module", params=VERSIONS)
def trained(
    request: pytest.FixtureRequest,
    upstream: Upstream,
    tiny_checkout: Path,
    model_store: Path,
    clips: dict[str, Path],
    pro_features: ImageTask,
) -> ImageTask:
    """Every model step for one version: v2 from the start, the Pro versions from the shared Pro
    features (v2ProPlus runs its own semantic step); v2Pro's SoVITS training is the one killed
    and resumed (``interrupted_sovits``)."""
    version = request.param
    task_id = f"t-{version.lower()}"
    training = TRAINING
    if version == "v2":
        task = new_task(upstream, tiny_checkout, model_store, clips, task_id, version)
        steps = FEATURES
    elif version == "v2Pro":
        interrupted: Interrupted = request.getfixturevalue("interrupted_sovits")
        task, steps, training = interrupted.task, [], TRAINING[1:]
        assert interrupted.again.code == c.EXIT_OK, interrupted.again.reason
    else:
        task, steps = pro_features.clone(task_id, version, drop=(SEMANTIC,)), FEATURES[-1:]
    for step, params in [(name, {}) for name in steps] + training:
        run = task.run(step, params)
        assert run.code == c.EXIT_OK, f"{version} {step}: {run.reason}\n{task.log(step)[-4000:]}"
    return task


def upstream_check(task: ImageTask, code: str, *args: str) -> dict[str, Any]:
    """Run ``code`` in upstream's interpreter inside the checkout; it prints one JSON object."""
    done = subprocess.run(
        [str(task.upstream.python), "-s", "-c", code, *args],
        cwd=task.checkout,
        env={"PYTHONPATH": f"{task.checkout}:{task.checkout}/GPT_SoVITS", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


LOAD_SOVITS = """
import json, sys
from process_ckpt import get_sovits_version_from_path_fast, load_sovits_new
version, model_version, lora = get_sovits_version_from_path_fast(sys.argv[1])
weights = load_sovits_new(sys.argv[1])
print(json.dumps({"symbols": version, "model_version": model_version, "lora": lora,
                  "config_version": weights["config"]["model"]["version"],
                  "text_embedding": list(weights["weight"]["enc_p.text_embedding.weight"].shape)}))
"""

LOAD_GPT = """
import json, sys, torch
ckpt = torch.load(sys.argv[1], map_location="cpu", weights_only=False)
print(json.dumps({"keys": sorted(ckpt), "max_sec": ckpt["config"]["data"]["max_sec"],
                  "weights": len(ckpt["weight"]), "has_ar_layer": any(k.startswith("model.ar_predict_layer")
                                                                     for k in ckpt["weight"])}))
"""


def test_every_model_step_writes_its_tables_and_features(trained: ImageTask) -> None:
    files = set(trained.names(f"experiments/{EXP}"))
    rows = trained.store.get_bytes(f"experiments/{EXP}/2-name2text.txt").decode().strip().split("\n")
    assert sorted(r.split("\t")[0] for r in rows) == sorted(CLIPS)
    semantic = trained.store.get_bytes(f"experiments/{EXP}/6-name2semantic.tsv").decode().split("\n")
    assert semantic[0] == "item_name\tsemantic_audio"
    assert sorted(line.split("\t")[0] for line in semantic[1:] if line) == sorted(CLIPS)
    for name in CLIPS:
        assert {f"4-cnhubert/{name}.pt", f"5-wav32k/{name}"} <= files


def test_pro_versions_extract_a_speaker_vector_per_clip_and_the_others_record_a_skip(trained: ImageTask) -> None:
    files = set(trained.names(f"experiments/{EXP}"))
    vectors = {f"7-sv_cn/{name}.pt" for name in CLIPS}
    record = json.loads(trained.store.get_bytes(f"experiments/{EXP}/steps/extract_speaker_vectors.json"))
    if "Pro" in trained.spec["modelVersion"]:
        assert vectors <= files
    else:
        assert not vectors & files
        assert "skipped" in json.dumps(record)


def test_the_exported_sovits_weights_load_in_upstreams_loader_as_the_tasks_version(
    trained: ImageTask, tmp_path: Path
) -> None:
    version = trained.spec["modelVersion"]
    folder = f"SoVITS_weights_{version}"
    epochs = trained.runs["train_sovits"].params["epochs"]
    exports = [n for n in trained.names(f"experiments/{EXP}/{folder}") if n.startswith(f"{EXP}_e{epochs}_")]
    assert len(exports) == 1, trained.names(f"experiments/{EXP}/{folder}")
    path = trained.fetch(f"experiments/{EXP}/{folder}/{exports[0]}", tmp_path / exports[0])
    got = upstream_check(trained, LOAD_SOVITS, str(path))
    assert got["model_version"] == version
    assert got["config_version"] == version
    assert got["symbols"] == "v2" and got["text_embedding"][0] == 732  # v2's symbol table


def test_the_gpt_checkpoint_holds_what_upstreams_inference_reads(trained: ImageTask, tmp_path: Path) -> None:
    folder = f"GPT_weights_{trained.spec['modelVersion']}"
    path = trained.fetch(f"experiments/{EXP}/{folder}/{EXP}-e{GPT_EPOCHS}.ckpt", tmp_path / "gpt.ckpt")
    got = upstream_check(trained, LOAD_GPT, str(path))
    assert {"weight", "config"} <= set(got["keys"])
    assert got["has_ar_layer"] and got["max_sec"] == TINY_MAX_SEC


def test_the_test_sentence_is_audible_speech_of_a_plausible_length(trained: ImageTask, tmp_path: Path) -> None:
    audio, rate = sf.read(str(trained.fetch("output/output.wav", tmp_path / "out.wav")), dtype="float32")
    seconds = len(audio) / rate
    assert rate == 32000
    # upstream stops a sentence at hz * max_sec tokens with hz = 50, while its tokens come at 25 Hz
    assert 0.2 <= seconds <= 2 * TINY_MAX_SEC + 1, seconds
    # random weights speak quietly, but not silence: the step's own check is a -60 dBFS peak
    assert float(np.abs(audio).max()) > 1e-3 and float(np.sqrt(np.mean(audio**2))) > 1e-4
    report = json.loads(trained.store.get_bytes("output/test_inference.json"))
    assert report["seconds"] == pytest.approx(seconds, abs=0.01)


def test_the_sentence_is_scored_in_upstreams_environment(trained: ImageTask) -> None:
    score = json.loads(trained.store.get_bytes("output/quality.json"))
    assert "error" not in score and "asr_error" not in score, score
    # random weights speak noise: the numbers are checked for their range, not their value
    assert -1.0 <= score["speaker_similarity"] <= 1.0
    # the model store has (stand-in) v2Pro speaker-verification weights: the score compares voices by them
    assert score["speaker_model"] == "eres2netv2"
    assert score["error_metric"] == "wer" and score["error_rate"] >= 0
    assert score["pace"] in ("ok", "too_fast", "too_slow") and score["seconds_per_character"] > 0


def test_training_progress_moves_while_both_trainers_run(trained: ImageTask) -> None:
    for step in ("train_sovits", "train_gpt"):
        during = [p for p in trained.runs[step].progress if 5 < p < 88]
        assert during, f"{step} progress seen while running: {trained.runs[step].progress}"
        assert trained.progress(step) == 100
