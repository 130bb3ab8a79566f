"""The step catalog: the eleven steps, their order, prerequisites, parameters and profiles.

Everything that differs between steps is data here, so the reconciler, the Job builder,
the REST facade and the local runtime share one truth.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

from pydantic import ValidationError

from . import params as p
from .contract import CONVERTED_WAV, DENOISED, EXPERIMENTS, INPUT_AUDIO, OUTPUT, REPORTS, SLICED, TRANSCRIPTS
from .errors import InvalidInput, UnknownStep

StepName = Literal[
    "convert_audio",
    "slice_audio",
    "denoise_audio",
    "asr_transcribe",
    "extract_text_features",
    "extract_audio_features",
    "extract_speaker_vectors",
    "extract_semantic_features",
    "train_sovits",
    "train_gpt",
    "test_inference",
]

STEP_ORDER: tuple[StepName, ...] = get_args(StepName)


@dataclass(frozen=True)
class Resources:
    """What one pod of a step asks for, GPUs aside (their count comes from the task)."""

    cpu: str
    memory: str
    gpu: bool


@dataclass(frozen=True)
class StepDef:
    name: StepName
    prerequisites: tuple[StepName, ...]
    params: type[p.StepParams]
    resources: Resources
    sharded: bool
    # Share of a full pipeline's wall time, for progress weighting.
    weight: float
    # Storage folders (under the task prefix) the step reads and writes.
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    summary: str

    def parse_params(self, raw: Mapping[str, Any] | None) -> p.StepParams:
        """Validate raw params; the error names the offending field and the reason."""
        try:
            return self.params.model_validate(dict(raw or {}))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "params"
            raise InvalidInput(f"{self.name}.params.{where}: {first['msg']}", field=where) from exc

    def needs_gpu(self, params: p.StepParams) -> bool:
        if isinstance(params, p.DenoiseAudioParams):
            return params.backend == "frcrn"
        if isinstance(params, p.AsrTranscribeParams):
            return params.backend != "pocketsphinx"
        return self.resources.gpu


_CPU_SMALL = Resources(cpu="1", memory="2Gi", gpu=False)
_GPU_FEATURE = Resources(cpu="2", memory="8Gi", gpu=True)
_GPU_TRAIN = Resources(cpu="4", memory="16Gi", gpu=True)

_EXP = EXPERIMENTS

# fmt: off
_STEPS = (
    #       name                        prerequisites                  params                            resources     shards weight inputs                                outputs            summary
    StepDef("convert_audio",             (),                             p.ConvertAudioParams,             _CPU_SMALL,   False, 0.02, (INPUT_AUDIO,),                        (CONVERTED_WAV,), "ffmpeg to mono PCM16 WAV"),
    StepDef("slice_audio",               ("convert_audio",),             p.SliceAudioParams,               _CPU_SMALL,   True,  0.02, (CONVERTED_WAV,),                      (SLICED,),        "RMS silence slicer"),
    StepDef("denoise_audio",             ("slice_audio",),               p.DenoiseAudioParams,             _CPU_SMALL,   False, 0.03, (SLICED,),                             (DENOISED,),      "spectral gating or FRCRN"),
    StepDef("asr_transcribe",            ("denoise_audio",),             p.AsrTranscribeParams,            _GPU_FEATURE, False, 0.05, (DENOISED, INPUT_AUDIO),             (TRANSCRIPTS, REPORTS), "speech recognition to a .list"),
    StepDef("extract_text_features",     ("asr_transcribe",),            p.ExtractTextFeaturesParams,      _GPU_FEATURE, True,  0.04, (TRANSCRIPTS,),                        (_EXP,),            "upstream 1-get-text.py"),
    StepDef("extract_audio_features",    ("extract_text_features",),     p.ExtractAudioFeaturesParams,     _GPU_FEATURE, True,  0.05, (TRANSCRIPTS, DENOISED, _EXP),       (_EXP,),            "upstream 2-get-hubert-wav32k.py"),
    StepDef("extract_speaker_vectors",   ("extract_audio_features",),    p.ExtractSpeakerVectorsParams,    _GPU_FEATURE, True,  0.03, (TRANSCRIPTS, _EXP),                   (_EXP,),            "upstream 2-get-sv.py"),
    StepDef("extract_semantic_features", ("extract_speaker_vectors",),   p.ExtractSemanticFeaturesParams,  _GPU_FEATURE, True,  0.04, (TRANSCRIPTS, _EXP),                   (_EXP,),            "upstream 3-get-semantic.py"),
    StepDef("train_sovits",              ("extract_semantic_features",), p.TrainSovitsParams,              _GPU_TRAIN,   False, 0.40, (_EXP,),                                 (_EXP,),            "upstream s2_train.py"),
    StepDef("train_gpt",                 ("train_sovits",),              p.TrainGptParams,                 _GPU_TRAIN,   False, 0.27, (_EXP,),                                 (_EXP,),            "upstream s1_train.py"),
    StepDef("test_inference",            ("train_gpt",),                 p.TestInferenceParams,            _GPU_FEATURE, False, 0.05, (_EXP, DENOISED, TRANSCRIPTS),       (OUTPUT,),        "upstream inference"),
)
# fmt: on

CATALOG: dict[StepName, StepDef] = {s.name: s for s in _STEPS}


def step(name: str) -> StepDef:
    """The definition of a step, or UnknownStep naming the valid ones."""
    try:
        return CATALOG[name]  # type: ignore[index]
    except KeyError:
        raise UnknownStep(f"unknown step {name!r}; valid steps: {', '.join(STEP_ORDER)}", field="step") from None


def missing_prerequisites(name: StepName, completed: set[str]) -> list[StepName]:
    """Prerequisites of ``name`` not yet completed, nearest first."""
    return [req for req in CATALOG[name].prerequisites if req not in completed]
