"""Random-weight stand-ins for upstream's pretrained models, made with upstream's own classes.

Run by upstream's interpreter inside an upstream checkout (CWD and PYTHONPATH as upstream
wants them): ``python -s stand_in_models.py OUT VERSION...``. The pretrained weights live on
model hubs this machine cannot reach; these files stand in for them and are faithful to them in
everything upstream reads:

- the file layout and the keys (``weight``, ``config``) the scripts load, under the names the
  model store uses (``gsv-v2final-pretrained/s2G2333k.pth``, ``v2Pro/s2Gv2Pro.pth``, ...);
- the SoVITS model's shape from the checkout's own config templates (the tests shrink them; see
  ``real.tiny_checkout``);
- the file-size band that ``3-get-semantic.py`` reads the version from (``semantic_version``: v2
  for v2, v2Pro and v2ProPlus; a G in another band is padded with an unused tensor);
- the quantizer's ``inited`` buffer set, as in every pretrained checkpoint: otherwise upstream
  k-means-initialises the codebook on the first forward pass (and, after this tag, calls
  torch.distributed there);
- HF BERT with hidden size 1024 (the width the GPT's bert_proj reads) and three layers (the text
  step takes ``hidden_states[-3]``), HF HuBERT with hidden size 768 (the SoVITS SSL width), and
  the ERes2NetV2 speaker-verification model upstream's ``sv.py`` builds (w24, s4, e4).
"""

from __future__ import annotations

import os
import sys

import torch
import yaml
from transformers import (
    BertConfig,
    BertForMaskedLM,
    BertTokenizerFast,
    HubertConfig,
    HubertModel,
    Wav2Vec2FeatureExtractor,
)

KIB = 1024
MIB = KIB * KIB


def semantic_version(size: int) -> str:
    """The version ``3-get-semantic.py`` reads from a pretrained G's file size (its own bands)."""
    if size < 82978 * KIB or 100 * MIB <= size < 103520 * KIB:
        return "v1"
    return "v2" if size < 700 * MIB else "v3"


S2 = {  # version: (template, G name, D name, GPT name)
    "v2": (
        "s2.json",
        "gsv-v2final-pretrained/s2G2333k.pth",
        "gsv-v2final-pretrained/s2D2333k.pth",
        "gsv-v2final-pretrained/s1bert25hz-5kh-longer-epoch=12-step=369668.ckpt",
        "s1longer-v2.yaml",
    ),
    "v2Pro": ("s2v2Pro.json", "v2Pro/s2Gv2Pro.pth", "v2Pro/s2Dv2Pro.pth", "s1v3.ckpt", "s1longer-v2.yaml"),
    "v2ProPlus": (
        "s2v2ProPlus.json",
        "v2Pro/s2Gv2ProPlus.pth",
        "v2Pro/s2Dv2ProPlus.pth",
        "s1v3.ckpt",
        "s1longer-v2.yaml",
    ),
}


def path(out: str, name: str) -> str:
    full = os.path.join(out, name)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    return full


def bert(out: str) -> None:
    folder = path(out, "chinese-roberta-wwm-ext-large/config.json").rsplit("/", 1)[0]
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *"abcdefghijklmnopqrstuvwxyz,.!?", *"你好世界的是天气"]
    with open(os.path.join(folder, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(vocab) + "\n")
    BertTokenizerFast(vocab_file=os.path.join(folder, "vocab.txt")).save_pretrained(folder)
    config = BertConfig(
        vocab_size=len(vocab), hidden_size=1024, num_hidden_layers=3, num_attention_heads=16, intermediate_size=256
    )
    BertForMaskedLM(config).save_pretrained(folder)


def hubert(out: str) -> None:
    folder = path(out, "chinese-hubert-base/config.json").rsplit("/", 1)[0]
    config = HubertConfig(hidden_size=768, num_hidden_layers=1, num_attention_heads=12, intermediate_size=256)
    HubertModel(config).save_pretrained(folder)
    Wav2Vec2FeatureExtractor(
        feature_size=1, sampling_rate=16000, padding_value=0.0, do_normalize=True, return_attention_mask=False
    ).save_pretrained(folder)


def speaker_verification(out: str) -> None:
    sys.path.append(os.path.join(os.getcwd(), "GPT_SoVITS", "eres2net"))
    from ERes2NetV2 import ERes2NetV2

    model = ERes2NetV2(baseWidth=24, scale=4, expansion=4)
    torch.save(model.state_dict(), path(out, "sv/pretrained_eres2netv2w24s4ep4.ckpt"))


def sovits(out: str, version: str) -> None:
    import utils
    from module.models import MultiPeriodDiscriminator, SynthesizerTrn

    template, g_name, d_name, _, _ = S2[version]
    hps = utils.get_hparams_from_file(f"GPT_SoVITS/configs/{template}")
    g = SynthesizerTrn(
        hps.data.filter_length // 2 + 1,
        hps.train.segment_size // hps.data.hop_length,
        n_speakers=hps.data.n_speakers,
        version=version,
        **hps.model,
    )
    weights = g.state_dict()
    inited = [k for k in weights if k.endswith("._codebook.inited")]
    assert inited, "the quantizer has no inited buffer: upstream's model changed"
    for key in inited:
        weights[key] = torch.ones_like(weights[key])
    g_path = path(out, g_name)
    torch.save({"weight": weights}, g_path)
    wanted = "v2"  # the Pro versions' G is read as v2 there too
    if semantic_version(os.path.getsize(g_path)) != wanted:
        pad = 103520 * KIB + MIB - os.path.getsize(g_path)  # into the upper v2 band (or past v1's lower one)
        torch.save({"weight": weights, "pad": torch.zeros(max(pad, MIB), dtype=torch.uint8)}, g_path)
    assert semantic_version(os.path.getsize(g_path)) == wanted, (version, os.path.getsize(g_path))
    # Half precision, as the released checkpoints are: s2_train.py loads it into its float model.
    d = MultiPeriodDiscriminator(hps.model.use_spectral_norm, version=version)
    torch.save({"weight": {k: t.half() for k, t in d.state_dict().items()}}, path(out, d_name))


def gpt(out: str, version: str) -> None:
    from AR.models.t2s_lightning_module import Text2SemanticLightningModule

    *_, gpt_name, template = S2[version]
    with open(f"GPT_SoVITS/configs/{template}", encoding="utf-8") as f:
        config = yaml.safe_load(f)
    model = Text2SemanticLightningModule(config, out, is_train=False)
    torch.save({"weight": model.state_dict(), "config": config}, path(out, gpt_name))


def main(out: str, versions: list[str]) -> None:
    torch.manual_seed(0)
    bert(out)
    hubert(out)
    if any("Pro" in v for v in versions):
        speaker_verification(out)
    for version in versions:
        os.environ["version"] = version  # noqa: SIM112 - upstream's name; its text symbols follow it
        sovits(out, version)
        gpt(out, version)
    print("stand-in models ready:", ", ".join(versions))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
