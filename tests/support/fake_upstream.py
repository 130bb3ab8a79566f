"""A stand-in upstream GPT-SoVITS checkout for the adapter's contract tests.

Upstream needs torch and pretrained weights, which CI does not have, so these tests run the
adapter against scripts generated here at test time. Each script enforces the contract in
shared/reference/upstream-gpt-sovits.md the way upstream would break on it (and says so, so
a violation reads as a test failure, not a mystery): the CWD is a repo root with a writable
``logs/``, ``PYTHONPATH`` holds ``<repo>`` and ``<repo>/GPT_SoVITS``, ``-s`` is passed,
``is_half`` is the literal ``True``/``False``, ``_CUDA_VISIBLE_DEVICES`` is set, model paths
exist under the names each script reads, weight folders exist beforehand, ... Then they write
outputs in upstream's formats: part tables without/with trailing newline, ``<name>.pt`` per
item, G_/D_ checkpoints and exports on epochs divisible by the save interval, resuming from
the newest checkpoint, and ``output.wav`` from inference_cli, which (like upstream) ignores
``--sovits_model``. Nothing here is upstream code.

Knobs (``FakeUpstream.behave``) make a script misbehave as upstream does: exit 0 having
written nothing, fail some items with a traceback (``item_error`` says which), crash after an
epoch, print a given output and exit above a batch size (``out_of_memory_above``), speak a given
recording as the test sentence (``speak``), or wait at an
epoch until the checkpoint shows up in the store (to prove uploads happen while training runs).
Every run appends its argv and environment to ``calls.jsonl`` for the tests to read.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

_LIB = r'''
"""Shared checks of the stand-in scripts."""
import json
import os
import shutil
import sys
import time

HERE = os.path.dirname(os.path.realpath(__file__))
VERSIONS = ("v1", "v2", "v3", "v4", "v2Pro", "v2ProPlus")


def fail(message):
    print("CONTRACT VIOLATION: " + message, file=sys.stderr, flush=True)
    sys.exit(3)


def behaviour(script):
    path = os.path.join(HERE, "fake_behaviour.json")
    if not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8") as f:
        return json.load(f).get(script, {})


def record(script, **extra):
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "COV_"))}
    entry = {"script": script, "argv": sys.argv[1:], "cwd": os.getcwd(), "env": keep, **extra}
    with open(os.path.join(HERE, "calls.jsonl"), "a", encoding="utf-8") as f:
        f.write(json.dumps(entry, ensure_ascii=False) + "\n")


def env(name):
    value = os.environ.get(name)
    if value is None:
        fail(f"env {name} is not set")
    return value


def is_half():
    value = env("is_half")
    if value not in ("True", "False"):
        fail(f"is_half={value!r}: upstream evals it, so it must be the Python literal True or False")
    return value == "True"


def version():
    value = env("version")
    if value not in VERSIONS:
        fail(f"version={value!r} is not an upstream version")
    return value


def start(script, gpu_env=True):
    """The checks every upstream script relies on; returns the behaviour knobs."""
    if not sys.flags.no_user_site:
        fail("start upstream scripts as `python -s <script>`")
    for rel in ("GPT_SoVITS", "tools", "logs", "TEMP"):
        if not os.path.isdir(rel):
            fail(f"the CWD {os.getcwd()} is not an upstream repo root (no {rel}/)")
    if not os.access(".", os.W_OK):
        fail("the CWD must be writable (the save helpers write temporary files there)")
    for name in ("SoVITS_weights", "SoVITS_weights_v2Pro", "GPT_weights", "GPT_weights_v2Pro"):
        if not os.path.isdir(name):
            fail(f"{name}/ must exist beforehand (webui creates every weight folder at startup)")
    if gpu_env and "_CUDA_VISIBLE_DEVICES" not in os.environ:
        fail("env _CUDA_VISIBLE_DEVICES is not set")
    if os.environ.get("TEMP") != os.path.join(os.getcwd(), "TEMP"):
        fail("env TEMP must be <repo>/TEMP")
    record(script)
    knobs = behaviour(script)
    if knobs.get("crash"):
        raise RuntimeError(knobs["crash"])
    return knobs


def need_path(name, path, folder=False):
    ok = os.path.isdir(path) if folder else os.path.isfile(path)
    if not ok:
        fail(f"{name}={path!r} does not exist (relative to the CWD)")


def my_save(data, path):
    """Like upstream: a temporary file in the CWD, then moved into place."""
    tmp = "%s%s.pth" % (time.time(), os.environ.get("i_part", ""))
    with open(tmp, "wb") as f:
        f.write(data)
    shutil.move(tmp, path)


def share(lines):
    i_part, all_parts = int(env("i_part")), int(env("all_parts"))
    if not 0 <= i_part < all_parts:
        fail(f"i_part={i_part} outside all_parts={all_parts}")
    return lines[i_part::all_parts]


def read_list(path):
    with open(path, encoding="utf8") as f:
        return f.read().strip("\n").split("\n")


def feature(tag, name):
    return json.dumps({"feature": tag, "item": name}).encode("utf-8")


def wait_for(path, what):
    for _ in range(600):
        if os.path.exists(path):
            return
        time.sleep(0.1)
    fail(f"{what} did not reach the store while the trainer ran ({path})")
'''

_PREAMBLE = r"""
import os
import sys

_root = os.path.realpath(os.getcwd())
_path = [os.path.realpath(p) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
if _root not in _path or os.path.join(_root, "GPT_SoVITS") not in _path:
    print("CONTRACT VIOLATION: PYTHONPATH must hold <repo> and <repo>/GPT_SoVITS", file=sys.stderr)
    sys.exit(3)
import _fake_upstream as fu
"""

_GET_TEXT = r"""
ACCEPTED = {"ZH": "zh", "zh": "zh", "JP": "ja", "jp": "ja", "JA": "ja", "ja": "ja", "EN": "en", "en": "en",
            "En": "en", "KO": "ko", "Ko": "ko", "ko": "ko", "yue": "yue", "YUE": "yue", "Yue": "yue"}
knobs = fu.start("1-get-text")
opt_dir = fu.env("opt_dir")
version = fu.version()
fu.is_half()
fu.need_path("bert_pretrained_dir", fu.env("bert_pretrained_dir"), folder=True)
fu.need_path("bert_path", fu.env("bert_path"), folder=True)
part = "%s/2-name2text-%s.txt" % (opt_dir, fu.env("i_part"))
if os.path.exists(part):
    sys.exit(0)  # upstream does nothing at all when its part file exists
if knobs.get("write_nothing"):
    sys.exit(0)
os.makedirs(opt_dir + "/3-bert", exist_ok=True)
rows = []
for line in fu.share(fu.read_list(fu.env("inp_text"))):
    path, speaker, language, text = line.split("|")
    name = os.path.basename(path)
    if language not in ACCEPTED:
        print(f"[Waring] The {language = } of {name} is not supported for training.")
        continue
    lang = ACCEPTED[language]
    print(name)
    if name in knobs.get("fail_items", []):
        error = knobs.get("item_error", "Traceback (most recent call last):\nValueError: cannot clean this text")
        print(name, text, error)
        continue
    if lang == "zh" and version != "v1":
        fu.need_path("G2PW model", "GPT_SoVITS/text/G2PWModel", folder=True)
    phones = " ".join(ch for ch in text if not ch.isspace())
    word2ph = str([1] * len(phones.split())) if lang in ("zh", "yue") else "None"
    if lang == "zh":
        fu.my_save(fu.feature("bert", name), "%s/3-bert/%s.pt" % (opt_dir, name))
    rows.append("%s\t%s\t%s\t%s" % (name, phones, word2ph, text))
with open(part, "w", encoding="utf8") as f:
    f.write("\n".join(rows) + "\n")
"""

_GET_HUBERT = r"""
import numpy as np
import soundfile as sf

knobs = fu.start("2-get-hubert-wav32k")
opt_dir = fu.env("opt_dir")
fu.is_half()
fu.need_path("cnhubert_base_dir", fu.env("cnhubert_base_dir"), folder=True)
if knobs.get("write_nothing"):
    sys.exit(0)
inp_wav_dir = os.environ.get("inp_wav_dir")
for sub in ("4-cnhubert", "5-wav32k"):
    os.makedirs(f"{opt_dir}/{sub}", exist_ok=True)
for line in fu.share(fu.read_list(fu.env("inp_text"))):
    path, speaker, language, text = line.split("|")
    name = os.path.basename(path)
    wav_path = f"{inp_wav_dir}/{name}" if inp_wav_dir else path
    if name in knobs.get("filter_items", []):
        print("%s-filtered,%s" % (name, 2.5))
        continue
    try:
        audio, rate = sf.read(wav_path, dtype="float32")
    except Exception as exc:
        print(line, "Traceback (most recent call last):\n%s: %s" % (type(exc).__name__, exc))
        continue
    if rate != 32000:
        audio = np.interp(np.arange(0, len(audio), rate / 32000), np.arange(len(audio)), audio).astype("float32")
    sf.write(f"{opt_dir}/5-wav32k/{name}", audio, 32000, subtype="PCM_16", format="WAV")
    fu.my_save(fu.feature("cnhubert", name), f"{opt_dir}/4-cnhubert/{name}.pt")
"""

_GET_SV = r"""
import soundfile as sf

knobs = fu.start("2-get-sv")
opt_dir = fu.env("opt_dir")
fu.is_half()
fu.need_path("sv_path", fu.env("sv_path"))
if knobs.get("write_nothing"):
    sys.exit(0)
os.makedirs(f"{opt_dir}/7-sv_cn", exist_ok=True)
for line in fu.share(fu.read_list(fu.env("inp_text"))):
    name = os.path.basename(line.split("|")[0])
    try:
        info = sf.info(f"{opt_dir}/5-wav32k/{name}")
        assert info.samplerate == 32000
    except Exception as exc:
        print(line, "Traceback (most recent call last):\n%s: %s" % (type(exc).__name__, exc))
        continue
    fu.my_save(fu.feature("sv", name), f"{opt_dir}/7-sv_cn/{name}.pt")
"""

_GET_SEMANTIC = r"""
knobs = fu.start("3-get-semantic")
opt_dir = fu.env("opt_dir")
fu.is_half()
s2g, config = fu.env("pretrained_s2G"), fu.env("s2config_path")
fu.need_path("pretrained_s2G", s2g)
fu.need_path("s2config_path", config)
wanted = "s2v2ProPlus.json" if "s2Gv2ProPlus" in s2g else "s2v2Pro.json" if "s2Gv2Pro" in s2g else "s2.json"
if os.path.basename(config) != wanted:
    print("RuntimeError: Error(s) in loading state_dict for SynthesizerTrn: size mismatch for ref_enc")
    sys.exit(1)
part = "%s/6-name2semantic-%s.tsv" % (opt_dir, fu.env("i_part"))
if os.path.exists(part) or knobs.get("write_nothing"):
    sys.exit(0)
rows = []
for line in fu.share(fu.read_list(fu.env("inp_text"))):
    name = os.path.basename(line.split("|")[0])
    if not os.path.exists(f"{opt_dir}/4-cnhubert/{name}.pt"):
        continue  # upstream skips silently
    codes = " ".join(str(ord(c) % 1024) for c in name)
    rows.append("%s\t%s" % (name, codes))
with open(part, "w", encoding="utf8") as f:
    f.write("\n".join(rows))
"""

_S2_TRAIN = r"""
import argparse
import glob
import json
import re

parser = argparse.ArgumentParser()
parser.add_argument("-c", "--config", required=True)
args = parser.parse_args()
with open(args.config) as f:
    hps = json.load(f)
knobs = fu.start("s2_train", gpu_env=False)
train, data, model = hps["train"], hps["data"], hps["model"]
version = hps["version"]
lora = version in ("v3", "v4")
if not isinstance(train["gpu_numbers"], str):
    fu.fail("train.gpu_numbers must be a string (s2_train calls .replace on it)")
for key in ("if_save_latest", "if_save_every_weights", "fp16_run"):
    if not isinstance(train[key], bool):
        fu.fail(f"train.{key} must be a JSON bool")
if not isinstance(train["save_every_epoch"], int) or not isinstance(train["batch_size"], int):
    fu.fail("train.save_every_epoch and train.batch_size must be integers")
if model["version"] != version:
    fu.fail("model.version and version differ")
exp_dir, name = data["exp_dir"], hps["name"]
if exp_dir != f"logs/{name}" or hps["s2_ckpt_dir"] != exp_dir:
    fu.fail("data.exp_dir and s2_ckpt_dir must be logs/<exp>")
if not os.path.isdir(hps["save_weight_dir"]):
    fu.fail(f"save_weight_dir {hps['save_weight_dir']} must exist beforehand")
fu.need_path("train.pretrained_s2G", train["pretrained_s2G"])
if train["pretrained_s2D"]:
    fu.need_path("train.pretrained_s2D", train["pretrained_s2D"])
ckpt_dir = f"{exp_dir}/logs_s2_{version}" + (f"_lora_{train['lora_rank']}" if lora else "")
if not os.path.isdir(ckpt_dir):
    if not lora:
        fu.fail(f"{ckpt_dir} must exist before s2_train starts (the saver moves files into it)")
    os.makedirs(ckpt_dir)
with open(f"{exp_dir}/2-name2text.txt", encoding="utf8") as f:
    names = [ln.split("\t")[0] for ln in f.read().strip("\n").split("\n") if ln]
sources = ["4-cnhubert/%s.pt", "5-wav32k/%s"] + (["7-sv_cn/%s.pt"] if "Pro" in version else [])
kept = [n for n in names if all(os.path.exists(f"{exp_dir}/" + s % n) for s in sources)]
assert len(kept) > 1, "too few items"
with open(f"{exp_dir}/train.log", "a", encoding="utf8") as log:
    log.write(json.dumps({"items": len(kept)}) + "\n")
saved = sorted(glob.glob(f"{ckpt_dir}/G_*.pth"), key=lambda p: int(re.findall(r"\d+", os.path.basename(p))[0]))
if saved:
    with open(saved[-1]) as f:
        first = json.load(f)["epoch"] + 1
else:
    first = 1
    print("loaded pretrained %s" % train["pretrained_s2G"])
print("start training from epoch %s" % first, flush=True)
fu.record("s2_train.batch", batch_size=train["batch_size"])
out_of_memory = knobs.get("out_of_memory_above")
if out_of_memory and train["batch_size"] > out_of_memory["batch"]:
    print(out_of_memory["output"], flush=True)
    sys.exit(out_of_memory.get("exit", 1))
steps_per_epoch = 3
for epoch in range(first, train["epochs"] + 1):
    for pct in (0, 50, 100):
        print("\r%3d%%|####| %d/3 [00:00<00:00]" % (pct, pct // 50), end="", flush=True)
    print()
    print("Train Epoch: {} [{:.0f}%]".format(epoch, 0.0), flush=True)
    step = epoch * steps_per_epoch
    # the losses as upstream logs them (falling with the epochs), then the global step and lr
    print([2.5, 3.0, 0.7, 40.0 / epoch, 0.0, 2.0, step, 0.0001], flush=True)
    if epoch % train["save_every_epoch"] == 0:
        tag = 233333333333 if train["if_save_latest"] else step
        for kind in ("G",) if lora else ("G", "D"):
            with open(f"{ckpt_dir}/{kind}_{tag}.pth", "w") as f:
                json.dump({"epoch": epoch, "kind": kind}, f)
        if train["if_save_every_weights"] and not knobs.get("write_nothing"):
            export = "%s_e%s_s%s%s.pth" % (name, epoch, step, f"_l{train['lora_rank']}" if lora else "")
            fu.my_save(b"05" + fu.feature("sovits", export), f"{hps['save_weight_dir']}/{export}")
            print("saving ckpt %s_e%s:Success." % (name, epoch), flush=True)
        wait = knobs.get("wait_for_upload")
        if wait and wait["epoch"] == epoch:
            fu.wait_for(wait["path"], "the epoch-%d checkpoint" % epoch)
    print("====> Epoch: {}".format(epoch), flush=True)
    if knobs.get("crash_after_epoch") == epoch:
        print("torch.OutOfMemoryError: CUDA out of memory.", flush=True)
        sys.exit(1)
print("training done")
"""

_S1_TRAIN = r"""
import argparse
import glob
import re

import yaml

parser = argparse.ArgumentParser()
parser.add_argument("-c", "--config_file", required=True)
args = parser.parse_args()
with open(args.config_file) as f:
    config = yaml.safe_load(f)
knobs = fu.start("s1_train")
version = fu.version()
if "-" in os.environ["_CUDA_VISIBLE_DEVICES"]:
    fu.fail("s1 takes _CUDA_VISIBLE_DEVICES with commas, not dashes")
if os.environ.get("hz") != "25hz":
    fu.fail("env hz must be 25hz")
train = config["train"]
if os.environ.get("is_half") == "False" and train["precision"] != "32":
    fu.fail("train.precision must be \"32\" when not is_half")
if not os.path.isdir(train["half_weights_save_dir"]):
    fu.fail(f"half_weights_save_dir {train['half_weights_save_dir']} must exist beforehand")
exp = train["exp_name"]
if config["output_dir"] != f"logs/{exp}/logs_s1_{version}":
    fu.fail("output_dir must be logs/<exp>/logs_s1_<version>")
fu.need_path("pretrained_s1", config["pretrained_s1"])
with open(config["train_semantic_path"], encoding="utf8") as f:
    semantic = f.read().split("\n")
if semantic[0] != "item_name\tsemantic_audio":
    fu.fail("6-name2semantic.tsv needs the header item_name<TAB>semantic_audio (pandas takes row 1 as header)")
phonemes = config["train_phoneme_path"]
fu.need_path("train_phoneme_path", phonemes)
fu.need_path("3-bert beside the phoneme file", os.path.join(os.path.dirname(phonemes), "3-bert"), folder=True)
ckpt_dir = f"{config['output_dir']}/ckpt"
os.makedirs(ckpt_dir, exist_ok=True)
saved = sorted(glob.glob(f"{ckpt_dir}/*.ckpt"), key=lambda p: int(re.findall(r"epoch=(\d+)", p)[0]))
first = int(re.findall(r"epoch=(\d+)", saved[-1])[0]) + 1 if saved else 0
print("ckpt_path:", saved[-1] if saved else None, flush=True)
for epoch in range(first, train["epochs"]):
    for pct in (0, 100):
        loss = 9.0 / (epoch + 1)
        print("\rEpoch %d: %3d%%|####| 2/2 [00:00<00:00, total_loss_step=%.3f]" % (epoch, pct, loss), end="",
              file=sys.stderr)
    print(file=sys.stderr, flush=True)
    if (epoch + 1) % train["save_every_n_epoch"] == 0:
        old = os.listdir(ckpt_dir)
        with open(f"{ckpt_dir}/epoch={epoch}-step={epoch * 2}.ckpt", "w") as f:
            f.write("{}")
        if train["if_save_latest"]:
            for name in old:
                os.remove(f"{ckpt_dir}/{name}")
        if train["if_save_every_weights"] and not knobs.get("write_nothing"):
            fu.my_save(fu.feature("gpt", exp), "%s/%s-e%s.ckpt" % (train["half_weights_save_dir"], exp, epoch + 1))
    if knobs.get("crash_after_epoch") == epoch + 1:
        print("RuntimeError: NCCL error", file=sys.stderr, flush=True)
        sys.exit(1)
"""

_INFERENCE = r"""
import argparse
import shutil

import numpy as np
import soundfile as sf

RATES = {"v1": 32000, "v2": 32000, "v2Pro": 32000, "v2ProPlus": 32000, "v3": 24000, "v4": 48000}
parser = argparse.ArgumentParser()
parser.add_argument("--gpt_model", required=True)
parser.add_argument("--sovits_model", required=True)
parser.add_argument("--ref_audio", required=True)
parser.add_argument("--ref_text", required=True)
parser.add_argument("--ref_language", required=True, choices=["中文", "英文", "日文"])
parser.add_argument("--target_text", required=True)
TARGETS = ["中文", "英文", "日文", "中英混合", "日英混合", "多语种混合"]
parser.add_argument("--target_language", required=True, choices=TARGETS)
parser.add_argument("--output_path", required=True)
args = parser.parse_args()
knobs = fu.start("inference_cli")
version = fu.version()
fu.is_half()
if os.environ.get("sovits_path") != args.sovits_model:
    fu.fail("--sovits_model is ignored by inference_cli: env sovits_path must name the same file")
fu.need_path("sovits_path", os.environ["sovits_path"])
if os.environ.get("gpt_path") != args.gpt_model:
    fu.fail("env gpt_path must name the --gpt_model file")
fu.need_path("cnhubert_base_path", fu.env("cnhubert_base_path"), folder=True)
fu.need_path("bert_path", fu.env("bert_path"), folder=True)
if "language" in os.environ:
    fu.fail("env language must stay unset: inference_webui would translate labels with another locale")
if os.environ.get("CUDA_VISIBLE_DEVICES") != os.environ.get("_CUDA_VISIBLE_DEVICES"):
    fu.fail("set CUDA_VISIBLE_DEVICES as well: inference initialises CUDA before copying _CUDA_VISIBLE_DEVICES")
if "Pro" in version:
    fu.need_path("sv model", "GPT_SoVITS/pretrained_models/sv/pretrained_eres2netv2w24s4ep4.ckpt")
with open(args.ref_text, encoding="utf-8") as f:
    ref_text = f.read()
with open(args.target_text, encoding="utf-8") as f:
    target_text = f.read()
info = sf.info(args.ref_audio)
samples_16k = info.frames * 16000 / info.samplerate
if not 48000 <= samples_16k <= 160000:
    raise OSError("参考音频在3~10秒范围外，请更换！")
if not os.path.isdir(args.output_path):
    fu.fail("--output_path must exist")
fu.record("inference_cli.texts", ref_text=ref_text, target_text=target_text)
if knobs.get("write_nothing"):
    sys.exit(0)
rate = RATES[knobs.get("rate_of", version)]
t = np.arange(rate // 2) / rate
if knobs.get("speak"):  # a recording to hand back as the sentence, for the quality score
    shutil.copy(knobs["speak"], os.path.join(args.output_path, "output.wav"))
else:
    sf.write(os.path.join(args.output_path, "output.wav"), 0.3 * np.sin(2 * np.pi * 220 * t), rate, subtype="PCM_16")
print("Audio saved to " + os.path.join(args.output_path, "output.wav"))
"""

_SCRIPTS = {
    "GPT_SoVITS/prepare_datasets/1-get-text.py": _GET_TEXT,
    "GPT_SoVITS/prepare_datasets/2-get-hubert-wav32k.py": _GET_HUBERT,
    "GPT_SoVITS/prepare_datasets/2-get-sv.py": _GET_SV,
    "GPT_SoVITS/prepare_datasets/3-get-semantic.py": _GET_SEMANTIC,
    "GPT_SoVITS/s2_train.py": _S2_TRAIN,
    "GPT_SoVITS/s2_train_v3_lora.py": _S2_TRAIN,
    "GPT_SoVITS/s1_train.py": _S1_TRAIN,
    "GPT_SoVITS/inference_cli.py": _INFERENCE,
}

# Templates of our own, shaped like upstream's: the keys the adapter rewrites plus ones it must keep.
S2_TEMPLATE: dict[str, Any] = {
    "train": {"seed": 1234, "epochs": 100, "batch_size": 32, "fp16_run": True, "save_every_epoch": 4,
              "gpu_numbers": "0", "lora_rank": "32", "text_low_lr_rate": 0.4},
    "data": {"sampling_rate": 32000, "exp_dir": "", "n_speakers": 300},
    "model": {"version": "v2", "gin_channels": 512},
    "s2_ckpt_dir": "", "save_weight_dir": "", "name": "", "version": "",
}  # fmt: skip
S1_TEMPLATE: dict[str, Any] = {
    "train": {"seed": 1234, "epochs": 20, "batch_size": 8, "save_every_n_epoch": 1, "precision": "16-mixed",
              "if_save_latest": True, "if_save_every_weights": True, "half_weights_save_dir": "", "exp_name": ""},
    "model": {"vocab_size": 1025, "phoneme_vocab_size": 732},
    "data": {"max_sec": 54},
}  # fmt: skip


class FakeUpstream:
    """A generated stand-in checkout at ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        (root / "_fake_upstream.py").write_text(textwrap.dedent(_LIB), encoding="utf-8")
        (root / "webui.py").write_text("raise SystemExit('the adapter never starts webui')\n", encoding="utf-8")
        (root / "config.py").write_text("", encoding="utf-8")
        (root / "tools").mkdir()
        (root / "tools" / "my_utils.py").write_text("", encoding="utf-8")
        for rel, body in _SCRIPTS.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(_PREAMBLE + body, encoding="utf-8")
        configs = root / "GPT_SoVITS" / "configs"
        configs.mkdir()
        for name in ("s2.json", "s2v2Pro.json", "s2v2ProPlus.json"):
            template = {**S2_TEMPLATE, "template": name}
            (configs / name).write_text(json.dumps(template, indent=2), encoding="utf-8")
        import yaml

        for name in ("s1longer.yaml", "s1longer-v2.yaml"):
            (configs / name).write_text(yaml.safe_dump({**S1_TEMPLATE, "template": name}), encoding="utf-8")
        (root / "GPT_SoVITS" / "text").mkdir()
        (root / "GPT_SoVITS" / "text" / "cleaner.py").write_text("", encoding="utf-8")
        # The checkout's own (empty) model folder: the adapter must replace it with the store's.
        (root / "GPT_SoVITS" / "pretrained_models").mkdir()

    def behave(self, script: str, **knobs: Any) -> None:
        path = self.root / "fake_behaviour.json"
        current = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        current[script] = knobs
        path.write_text(json.dumps(current), encoding="utf-8")

    def reset(self) -> None:
        (self.root / "fake_behaviour.json").unlink(missing_ok=True)

    def calls(self, script: str | None = None) -> list[dict[str, Any]]:
        path = self.root / "calls.jsonl"
        if not path.exists():
            return []
        entries = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
        return [e for e in entries if script is None or e["script"] == script]
