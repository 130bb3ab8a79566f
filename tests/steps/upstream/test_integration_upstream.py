"""Opt-in: every model step through the real upstream GPT-SoVITS scripts, on the CPU.

Skipped unless ``GPT_SOVITS_HOME`` points at an upstream checkout and this interpreter has
upstream's requirements (torch, transformers, pytorch-lightning, ...; the step image has
them, and upstream's install.sh also fetches the nltk data its English front end needs).
Nothing is downloaded: the pretrained models are made here with random weights, shaped the
way upstream reads them:

- ``chinese-roberta-wwm-ext-large``: a 3-layer HF BERT with hidden size 1024 (the BERT
  feature width the GPT expects) and a small vocabulary;
- ``chinese-hubert-base``: a 2-layer HF HuBERT with hidden size 768 (the SSL width of the
  SoVITS quantizer) and its feature-extractor config;
- the v2 SoVITS G/D and GPT checkpoints: upstream's own classes, built from its templates in
  a child process and saved with random weights; G is padded into the file-size band that
  ``3-get-semantic.py`` reads as v2.

The data are three English espeak-ng clips, one padded to 5 s as the inference reference.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sovits_operator import contract as c
from sovits_operator.storage import LocalObjectStore
from sovits_steps.models_cli import upload
from tests.steps.conftest import LocalTask
from tests.support.audio import silence, speech, write_wav

HOME = os.environ.get("GPT_SOVITS_HOME")
pytestmark = [
    pytest.mark.skipif(
        not HOME or not (Path(HOME) / "GPT_SoVITS" / "s2_train.py").is_file(),
        reason="set GPT_SOVITS_HOME to an upstream GPT-SoVITS checkout to run the real scripts",
    ),
    pytest.mark.timeout(3600),
]

EXP = "tiny"
VERSION = "v2"
CLIPS = {
    "talk.wav_0000000000_0000096000.wav": ("the weather is nice today", 0.0),
    "talk.wav_0000096000_0000256000.wav": ("please open the window and let the air in", 5.0),
    "talk.wav_0000256000_0000352000.wav": ("seven green apples on the table", 0.0),
}

# Runs inside the checkout (CWD and PYTHONPATH as upstream wants them) with upstream's imports.
_MAKE_MODELS = r"""
import json, os, sys
import torch
import yaml
from transformers import (BertConfig, BertForMaskedLM, BertTokenizerFast, HubertConfig, HubertModel,
                          Wav2Vec2FeatureExtractor)

out = sys.argv[1]
torch.manual_seed(0)

bert = os.path.join(out, "chinese-roberta-wwm-ext-large")
os.makedirs(bert, exist_ok=True)
vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + list("abcdefghijklmnopqrstuvwxyz,.!?你好世界的是")
with open(os.path.join(bert, "vocab.txt"), "w", encoding="utf-8") as f:
    f.write("\n".join(vocab) + "\n")
BertTokenizerFast(vocab_file=os.path.join(bert, "vocab.txt")).save_pretrained(bert)
BertForMaskedLM(BertConfig(vocab_size=len(vocab), hidden_size=1024, num_hidden_layers=3, num_attention_heads=16,
                           intermediate_size=512)).save_pretrained(bert)

hubert = os.path.join(out, "chinese-hubert-base")
HubertModel(HubertConfig(hidden_size=768, num_hidden_layers=2, num_attention_heads=12,
                         intermediate_size=512)).save_pretrained(hubert)
Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, padding_value=0.0, do_normalize=True,
                         return_attention_mask=False).save_pretrained(hubert)

import utils
from module.models import MultiPeriodDiscriminator, SynthesizerTrn
from AR.models.t2s_lightning_module import Text2SemanticLightningModule

hps = utils.get_hparams_from_file("GPT_SoVITS/configs/s2.json")
v2 = os.path.join(out, "gsv-v2final-pretrained")
os.makedirs(v2, exist_ok=True)
g = SynthesizerTrn(hps.data.filter_length // 2 + 1, hps.train.segment_size // hps.data.hop_length,
                   n_speakers=hps.data.n_speakers, version="v2", **hps.model)
weights = {"weight": g.state_dict()}
path_g = os.path.join(v2, "s2G2333k.pth")
torch.save(weights, path_g)
# 3-get-semantic.py reads the version from the file size: v2 between ~101 MB and 700 MiB.
low = 103520 * 1024 + (1 << 20)
if os.path.getsize(path_g) < low:
    weights["pad"] = torch.zeros(low - os.path.getsize(path_g), dtype=torch.uint8)
    torch.save(weights, path_g)
assert low <= os.path.getsize(path_g) < 700 * 1024 * 1024, os.path.getsize(path_g)
d = MultiPeriodDiscriminator(hps.model.use_spectral_norm, version="v2")
torch.save({"weight": d.state_dict()}, os.path.join(v2, "s2D2333k.pth"))

with open("GPT_SoVITS/configs/s1longer-v2.yaml") as f:
    config = yaml.safe_load(f)
gpt = Text2SemanticLightningModule(config, out, is_train=False)
torch.save({"weight": gpt.state_dict(), "config": config},
           os.path.join(v2, "s1bert25hz-5kh-longer-epoch=12-step=369668.ckpt"))
print("models ready")
"""


@pytest.fixture
def upstream_task(task: LocalTask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LocalTask:
    pytest.importorskip("torch")
    assert HOME is not None
    home = Path(HOME).resolve()
    monkeypatch.setenv("SOVITS_PATHS__BASE_DIR", str(home))
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    models = tmp_path / "pretrained_models"
    script = tmp_path / "make_models.py"
    script.write_text(textwrap.dedent(_MAKE_MODELS), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": f"{home}:{home}/GPT_SoVITS", "CUDA_VISIBLE_DEVICES": "", "version": VERSION}
    made = subprocess.run([sys.executable, "-s", str(script), str(models)], cwd=home, env=env,
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert made.returncode == 0, made.stdout[-3000:] + made.stderr[-3000:]
    assert isinstance(task.store.store, LocalObjectStore)
    upload(task.store.store, "models/", models)

    lines = []
    for name, (text, pad) in CLIPS.items():
        audio = speech(text)
        if pad:
            audio = np.concatenate([audio, silence(max(0.0, pad - len(audio) / 32000))])
        task.put(f"denoised/{name}", write_wav(tmp_path / "clips" / name, audio))
        lines.append(f"denoised/{name}|{EXP}|EN|{text}")
    task.put("transcripts/denoised.list", "\n".join(lines).encode())
    return task


def test_every_model_step_runs_through_real_upstream_on_the_cpu(upstream_task: LocalTask) -> None:
    task = upstream_task
    spec = {"expName": EXP, "language": "en", "modelVersion": VERSION, "gpu": {"count": 0}, "batchSize": 2}
    runs = [
        ("extract_text_features", {}),
        ("extract_audio_features", {}),
        ("extract_speaker_vectors", {}),
        ("extract_semantic_features", {}),
        ("train_sovits", {"epochs": 1, "save_every_epoch": 1}),
        ("train_gpt", {"epochs": 1, "save_every_n_epoch": 1}),
        ("test_inference", {"target_text": "hello there"}),
    ]
    for step, params in runs:
        code = task.run(step, params, spec=spec)
        assert code == c.EXIT_OK, f"{step}: {task.reason}\n{task.log(step)[-4000:]}"

    files = set(task.names(f"experiments/{EXP}"))
    assert len(task.store.get_bytes(f"experiments/{EXP}/2-name2text.txt").decode().strip().split("\n")) == 3
    semantic = task.store.get_bytes(f"experiments/{EXP}/6-name2semantic.tsv").decode().split("\n")
    assert semantic[0] == "item_name\tsemantic_audio" and len([x for x in semantic[1:] if x]) == 3
    for name in CLIPS:
        assert {f"4-cnhubert/{name}.pt", f"5-wav32k/{name}"} <= files
    assert any(f.startswith(f"SoVITS_weights_v2/{EXP}_e1_s") for f in files)
    assert f"GPT_weights_v2/{EXP}-e1.ckpt" in files
    info = sf.info(str(task.fetch("output/output.wav")))
    assert info.samplerate == 32000 and info.frames > 0
