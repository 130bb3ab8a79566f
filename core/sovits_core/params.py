"""Parameter models of the eleven steps, with upstream's names and units.

The seed's documentation labels the slice parameters one place off (its ``min_length: -34``
is really the threshold in dB); these models use upstream's meaning, so that example is
refused with a message naming the field instead of being silently misread.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .dataset import DEFAULT_EXCLUDE, FLAGS, Flag


class StepParams(BaseModel):
    """Base of every step's parameters: unknown keys are an error, not ignored, and types are
    strict (``true`` is not the number 1)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True, strict=True)


class ShardedParams(StepParams):
    shards: int | None = Field(
        default=None,
        ge=1,
        le=64,
        description="Parallel shards (upstream all_parts); defaults to the task's GPU count.",
    )
    is_half: bool | None = Field(default=None, description="fp16 inference; defaults to True on GPU.")


class ConvertAudioParams(StepParams):
    sample_rate: int = Field(default=32000, ge=8000, le=48000, description="Output rate in Hz.")


class SliceAudioParams(StepParams):
    threshold: int = Field(default=-34, ge=-120, le=0, description="RMS below this (dB) is silence.")
    min_length: int = Field(default=4000, gt=0, le=600_000, description="Minimum chunk length in ms.")
    min_interval: int = Field(default=300, gt=0, le=60_000, description="Minimum cuttable silence in ms.")
    hop_size: int = Field(default=10, gt=0, le=1000, description="RMS hop in ms.")
    max_sil_kept: int = Field(default=500, ge=0, le=60_000, description="Silence kept at chunk edges, ms.")
    max_amp: float = Field(default=0.9, gt=0, le=1, alias="_max", description="Peak of the normalised mix.")
    alpha: float = Field(default=0.25, ge=0, le=1, description="Share of the normalised component.")
    shards: int = Field(default=1, ge=1, le=64, alias="num_processes", description="Parallel shards.")

    @model_validator(mode="after")
    def _ordered(self) -> SliceAudioParams:
        if not self.min_length >= self.min_interval >= self.hop_size:
            raise ValueError("must satisfy min_length >= min_interval >= hop_size (all in ms)")
        if self.max_sil_kept < self.hop_size:
            raise ValueError("max_sil_kept must be >= hop_size (both in ms)")
        return self


class DenoiseAudioParams(StepParams):
    backend: Literal["spectral", "frcrn"] = "spectral"
    precision: Literal["float16", "float32"] = "float32"


WhisperSize = Literal["medium", "medium.en", "large-v2", "large-v3", "large-v3-turbo"]


class AsrTranscribeParams(StepParams):
    backend: Literal["auto", "faster-whisper", "funasr", "pocketsphinx"] = Field(
        default="auto", description="auto: funasr for zh/yue, faster-whisper otherwise."
    )
    model_size: WhisperSize = "large-v3"
    precision: Literal["float16", "float32", "int8"] = "float32"
    language: Literal["zh", "en", "ja", "ko", "yue"] | None = Field(
        default=None, description="Defaults to the task's language."
    )
    speaker_model: Literal["auto", "eres2netv2", "cepstral"] = Field(
        default="auto",
        description="The embedding behind the dataset report's speaker similarity: eres2netv2 (upstream's v2Pro "
        "speaker-verification model, from the model store), cepstral (lightweight, numpy). auto: eres2netv2 when "
        "the step has a GPU and the model is in the store, else cepstral (on 2 CPU cores the model takes about "
        "a quarter of the audio's length).",
    )


class ExtractTextFeaturesParams(ShardedParams):
    exclude_flags: list[Flag] = Field(
        default_factory=lambda: list(DEFAULT_EXCLUDE),
        max_length=len(FLAGS),
        description="Clips the dataset report flags with any of these are left out of training (the report "
        "says which); [] keeps every clip.",
    )


class ExtractAudioFeaturesParams(ShardedParams):
    pass


class ExtractSpeakerVectorsParams(ShardedParams):
    pass


class ExtractSemanticFeaturesParams(ShardedParams):
    pass


class TrainSovitsParams(StepParams):
    epochs: int | None = Field(default=None, ge=1, le=1000, description="Defaults to spec.epochsS2.")
    batch_size: int | None = Field(default=None, ge=1, le=256, description="Defaults to spec.batchSize.")
    save_every_epoch: int = Field(default=4, ge=1, le=1000)
    text_low_lr_rate: float = Field(default=0.4, gt=0, le=1)
    if_save_latest: bool = True
    if_save_every_weights: bool = True
    lora_rank: Literal["16", "32", "64", "128"] = "32"
    grad_ckpt: bool = False
    is_half: bool | None = None


class TrainGptParams(StepParams):
    epochs: int | None = Field(default=None, ge=1, le=1000, description="Defaults to spec.epochsS1.")
    batch_size: int | None = Field(default=None, ge=1, le=256, description="Defaults to spec.batchSize.")
    save_every_n_epoch: int = Field(default=5, ge=1, le=1000)
    if_dpo: bool = False
    if_save_latest: bool = True
    if_save_every_weights: bool = True
    is_half: bool | None = None


InferenceLanguage = Literal["中文", "英文", "日文", "中英混合", "日英混合", "多语种混合", "zh", "en", "ja"]


class TestInferenceParams(StepParams):
    __test__ = False  # not a pytest test class despite the name

    gpt_model: str | None = Field(default=None, description="Exported GPT weight; newest when unset.")
    sovits_model: str | None = Field(default=None, description="Exported SoVITS weight; newest when unset.")
    ref_audio: str | None = Field(default=None, description="A 3-10 s clip; picked from the slices when unset.")
    ref_text: str | None = None
    ref_language: InferenceLanguage | None = None
    target_text: str = Field(default="这是一个语音合成测试。", min_length=1, max_length=2000)
    target_language: InferenceLanguage | None = None
    asr_backend: Literal["auto", "faster-whisper", "funasr", "pocketsphinx", "none"] = Field(
        default="auto",
        description="ASR that transcribes the sentence for the quality score's error rate; pass the one "
        "asr_transcribe used (auto: funasr for zh/yue, faster-whisper otherwise; none: no error rate).",
    )
    timeout_s: int = Field(
        default=600,
        ge=10,
        le=7200,
        description="Stop upstream's inference after this many seconds: a GPT that never emits its end token "
        "generates up to its max_sec (54 s) of speech, which takes minutes on a CPU.",
    )
