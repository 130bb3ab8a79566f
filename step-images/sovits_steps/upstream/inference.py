"""Step 11: one test sentence through upstream's ``inference_cli.py`` (reference §11).

The CLI's traps decide the shape of the call: ``--ref_text``/``--target_text`` are paths of
UTF-8 files, languages are the Chinese UI labels, ``--sovits_model`` is silently ignored
(the model used is env ``sovits_path``, set here to the same file), and the reference clip
must last 3-10 s. Without a chosen reference we take the training clip nearest 6 s whose
language the CLI accepts for a reference, with its transcript as the reference text.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import soundfile as sf

from sovits_core import contract
from sovits_core.errors import InvalidInput, NotFound, Retryable
from sovits_core.model import ModelVersion
from sovits_core.params import TestInferenceParams
from sovits_core.transcripts import Line
from sovits_steps.context import StepContext, StepResult

from . import common, environment, listfile, process, scoring
from . import versions as v
from .common import TaskFacts

SCRIPT = "GPT_SoVITS/inference_cli.py"
OUTPUT = contract.OUTPUT
EXPERIMENTS = contract.EXPERIMENTS
OUTPUT_WAV = "output.wav"
REPORT = "test_inference.json"
QUALITY = "quality.json"

# The CLI's choices (upstream argparse); a reference may only be Chinese, English or Japanese.
REF_CHOICES = ("中文", "英文", "日文")
TARGET_CHOICES = (*REF_CHOICES, "中英混合", "日英混合", "多语种混合")
# Language codes to labels; Korean and Cantonese text can only go through the multilingual mode.
REF_LABELS = {"zh": "中文", "en": "英文", "ja": "日文"}
TARGET_LABELS = {**REF_LABELS, "ko": "多语种混合", "yue": "多语种混合"}
_ZH_LABELS = {"中文", "中英混合", "多语种混合"}
# 48k..160k samples at 16 kHz, with a margin for resampling rounding.
REF_MIN_S, REF_MAX_S = 3.05, 9.95
REF_TARGET_S = 6.0
WAV32K = "5-wav32k"
_PCM16_32K_BYTES_PER_S = 64000
_WAV_HEADER = 44


@dataclass(frozen=True)
class Reference:
    key: str  # relative to the task prefix
    text: str
    label: str


def label(value: str | None, default_code: str, choices: tuple[str, ...], field: str) -> str:
    """A Chinese UI label among ``choices`` from a label or a language code."""
    if value is None:
        value = default_code
    code_labels = REF_LABELS if choices == REF_CHOICES else TARGET_LABELS
    if value in choices:
        return value
    if value in code_labels:
        return code_labels[value]
    raise InvalidInput(f"{field}: {value!r} is not one of {', '.join(choices)} or a code of them", field=field)


def newest(names: list[str], pattern: re.Pattern[str]) -> str | None:
    """The name with the highest (epoch, step) among those ``pattern`` matches."""
    scored = [(tuple(int(g) for g in m.groups() if g is not None), n) for n in names if (m := pattern.match(n))]
    return max(scored)[1] if scored else None


def sovits_pattern(exp: str) -> re.Pattern[str]:
    return re.compile(rf"^{re.escape(exp)}_e(\d+)_s(\d+)(?:_l\d+)?\.pth$")


def gpt_pattern(exp: str) -> re.Pattern[str]:
    return re.compile(rf"^{re.escape(exp)}-e(\d+)\.ckpt$")


def estimated_seconds(size: int) -> float:
    """Length of a 5-wav32k clip (upstream writes them as 32 kHz mono int16 with a 44-byte header)."""
    return max(0, size - _WAV_HEADER) / _PCM16_32K_BYTES_PER_S


def pick_reference(lines: list[Line], sizes: dict[str, int]) -> Line | None:
    """The clip nearest ``REF_TARGET_S`` within the allowed length, in a language a reference may have."""
    fits = [
        (abs(estimated_seconds(sizes[ln.clip]) - REF_TARGET_S), ln.clip, ln)
        for ln in lines
        if ln.language.lower() in REF_LABELS
        and ln.clip in sizes
        and REF_MIN_S <= estimated_seconds(sizes[ln.clip]) <= REF_MAX_S
    ]
    return min(fits)[2] if fits else None


def _weight(
    ctx: StepContext, facts: TaskFacts, folder: str, wanted: str | None, pattern: re.Pattern[str], field: str
) -> str:
    """The key of the weight to use: ``wanted`` (a task-relative key or a name in ``folder``), or the newest."""
    prefix = f"{EXPERIMENTS}/{facts.exp}/{folder}/"
    names = [info.key[len(prefix) :] for info in ctx.store.iter_objects(prefix)]
    if wanted is None:
        name = newest(names, pattern)
        if name is None:
            producer = "train_sovits" if field == "sovits_model" else "train_gpt"
            raise InvalidInput(f"{field}: no exported weights under {prefix}; run {producer} first", field=field)
        return prefix + name
    key = wanted if "/" in wanted else prefix + wanted
    if not ctx.store.exists(key):
        raise InvalidInput(f"{field}: {wanted!r} is not in the task's store (looked for {key})", field=field)
    return key


def _reference(ctx: StepContext, facts: TaskFacts, params: TestInferenceParams, lines: list[Line]) -> Reference:
    by_clip = {ln.clip: ln for ln in lines}
    if params.ref_audio is None:
        prefix = f"{EXPERIMENTS}/{facts.exp}/{WAV32K}/"
        sizes = {info.key[len(prefix) :]: info.size for info in ctx.store.iter_objects(prefix)}
        chosen = pick_reference(lines, sizes)
        if chosen is None:
            raise InvalidInput(
                f"ref_audio: no training clip lasts {REF_MIN_S}-{REF_MAX_S} s in zh, en or ja; pass ref_audio",
                field="ref_audio",
            )
        key = prefix + chosen.clip
    else:
        key = params.ref_audio
        if "/" not in key:
            key = f"{EXPERIMENTS}/{facts.exp}/{WAV32K}/{key}"
        if not ctx.store.exists(key):
            raise InvalidInput(f"ref_audio: {params.ref_audio!r} is not in the task's store", field="ref_audio")
        chosen = by_clip.get(PurePosixPath(key).name)
    text = params.ref_text if params.ref_text is not None else (chosen.text if chosen else "")
    if not text.strip() and v.info(facts.version).lora:
        raise InvalidInput(f"ref_text: model version {facts.version} needs a reference text", field="ref_text")
    code = chosen.language.lower() if chosen else facts.spec.language
    return Reference(key, text, label(params.ref_language, code, REF_CHOICES, "ref_language"))


def _check_length(path: Path, field: str) -> float:
    try:
        seconds = sf.info(str(path)).duration
    except RuntimeError as exc:
        raise InvalidInput(f"{field}: {path.name} is not readable audio ({exc})", field=field) from None
    if not REF_MIN_S <= seconds <= REF_MAX_S:
        raise InvalidInput(
            f"{field}: {path.name} lasts {seconds:.2f} s; upstream takes {REF_MIN_S}-{REF_MAX_S} s", field=field
        )
    return float(seconds)


def _download(ctx: StepContext, key: str) -> Path:
    dest = ctx.work / "inference-inputs" / key
    try:
        ctx.store.download_file(key, dest)
    except NotFound:
        raise InvalidInput(f"{key} disappeared from the store", field=key) from None
    return dest


def synthesize(ctx: StepContext) -> StepResult:
    params = ctx.params
    assert isinstance(params, TestInferenceParams)
    facts = common.task_facts(ctx, None, SCRIPT)
    ann = listfile.load(ctx, facts.version)
    sovits_key = _weight(
        ctx, facts, v.sovits_weight_dir(facts.version), params.sovits_model, sovits_pattern(facts.exp), "sovits_model"
    )
    gpt_key = _weight(
        ctx, facts, v.gpt_weight_dir(facts.version), params.gpt_model, gpt_pattern(facts.exp), "gpt_model"
    )
    ref = _reference(ctx, facts, params, ann.lines)
    target = label(params.target_language, facts.spec.language, TARGET_CHOICES, "target_language")
    languages = {"zh"} if {ref.label, target} & _ZH_LABELS else set()
    languages |= {"en"} if {ref.label, target} & {"英文", "中英混合", "日英混合", "多语种混合"} else set()
    models = common.fetch_models(ctx, facts, languages)
    ctx.progress.update(0.1, "staging weights and the reference clip")
    ref_path = _download(ctx, ref.key)
    ref_seconds = _check_length(ref_path, "ref_audio")
    sovits = _download(ctx, sovits_key)
    gpt = _download(ctx, gpt_key)
    out_dir = ctx.folder(OUTPUT)
    tree = common.build_tree(ctx, facts, output=out_dir)
    inputs = ctx.work / "inference-inputs"
    ref_text = inputs / "ref_text.txt"
    target_text = inputs / "target_text.txt"
    ref_text.write_text(ref.text, encoding="utf-8")
    target_text.write_text(params.target_text, encoding="utf-8")
    device = facts.devices[0] if facts.devices else ""
    env = environment.inference(
        common.base_env(tree, facts, models), gpt_path=str(gpt), sovits_path=str(sovits), device=device
    )
    argv = process.command(
        SCRIPT,
        "--gpt_model", str(gpt),
        "--sovits_model", str(sovits),
        "--ref_audio", str(ref_path),
        "--ref_text", str(ref_text),
        "--ref_language", ref.label,
        "--target_text", str(target_text),
        "--target_language", target,
        "--output_path", str(out_dir),
    )  # fmt: skip
    ctx.progress.update(0.2, "synthesising")
    outcome = process.run(argv, cwd=tree.root, env=env, on_line=lambda line: None, timeout_s=params.timeout_s)
    if outcome.timed_out:
        raise InvalidInput(
            f"timeout_s: upstream inference_cli.py did not finish within {params.timeout_s} s (a GPT that never "
            "emits its end token speaks up to its max_sec; train longer, or raise timeout_s)",
            field="timeout_s",
        )
    outcome.raise_if_out_of_memory(argv[2])
    if outcome.returncode != 0:
        raise Retryable(f"upstream inference_cli.py failed: {outcome.reason()}")
    wav = out_dir / OUTPUT_WAV
    if not wav.is_file():
        raise InvalidInput(
            f"upstream inference_cli.py exited 0 but wrote no {OUTPUT}/{OUTPUT_WAV}; see the log", field=OUTPUT
        )
    level = check_output(wav, facts.version, f"is {sovits_key} a {facts.version} model?")
    ctx.progress.update(0.9, "scoring the sentence")
    score = scoring.score_sentence(ctx, params, ref_path, wav, scoring.language_of(target, facts.spec.language))
    quality = out_dir / QUALITY
    quality.write_text(json.dumps(score, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    report = out_dir / REPORT
    report.write_text(
        json.dumps(
            {
                "gpt_model": gpt_key,
                "sovits_model": sovits_key,
                "ref_audio": ref.key,
                "ref_seconds": round(ref_seconds, 3),
                "ref_text": ref.text,
                "ref_language": ref.label,
                "target_text": params.target_text,
                "target_language": target,
                "sample_rate": level.rate,
                "seconds": round(level.seconds, 3),
                "peak_dbfs": round(level.peak_dbfs, 1),
                "rms_dbfs": round(level.rms_dbfs, 1),
            },
            ensure_ascii=False,
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    summary = f"{level.seconds:.1f} s of speech in {OUTPUT}/{OUTPUT_WAV}; {scoring.in_words(score)}"
    return StepResult({OUTPUT: [wav, report, quality]}, summary=summary, record=scoring.for_status(score))


# Quieter than this is no speech: a broken model writes zeros (or near-zeros) at the right rate.
SILENT_PEAK_DBFS = -60.0
MIN_SECONDS = 0.2


@dataclass(frozen=True)
class Level:
    rate: int
    seconds: float
    peak_dbfs: float
    rms_dbfs: float


def dbfs(value: float) -> float:
    return 20 * math.log10(max(value, 1e-10))


def check_output(wav: Path, version: ModelVersion, hint: str) -> Level:
    """The test sentence is readable audio at the version's rate, not empty and not silence."""
    try:
        audio, got_rate = sf.read(str(wav), dtype="float32", always_2d=True)
    except RuntimeError as exc:
        raise InvalidInput(f"{OUTPUT}/{OUTPUT_WAV} is not readable audio ({exc})", field=OUTPUT) from None
    seconds = len(audio) / got_rate
    rate = v.info(version).sample_rate
    if got_rate != rate or seconds < MIN_SECONDS:
        raise InvalidInput(
            f"{OUTPUT}/{OUTPUT_WAV} has {len(audio)} frames at {got_rate} Hz; {version} speaks at {rate} Hz for "
            f"at least {MIN_SECONDS} s ({hint})",
            field=OUTPUT,
        )
    level = Level(got_rate, seconds, dbfs(float(np.abs(audio).max())), dbfs(float(np.sqrt(np.mean(audio**2)))))
    if level.peak_dbfs < SILENT_PEAK_DBFS:
        raise InvalidInput(
            f"{OUTPUT}/{OUTPUT_WAV} is silence ({seconds:.1f} s peaking at {level.peak_dbfs:.0f} dBFS); {hint}",
            field=OUTPUT,
        )
    return level
