"""The REST shapes: the seed's JSON field names, kept apart from the TrainingTask model.

Input models refuse unknown keys; output models carry exactly the seed's fields (a test pins
the names) so the seed's client reads them unchanged.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidatorFunctionWrapHandler, field_validator

from sovits_core.catalog import StepName
from sovits_core.model import EXP_NAME_PATTERN, Language, Phase, QualityScore, SupportedVersion

# "0", "0-1-2": the seed's device list, dash-separated ids.
GPU_ID_PATTERN = r"^[0-9]{1,3}(-[0-9]{1,3}){0,63}$"
LABEL_VALUE_PATTERN = r"^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$"


class Strict(BaseModel):
    # Strict types: JSON `true` is not the number 1 nor the string "1".
    model_config = ConfigDict(extra="forbid", strict=True)


class SeedConfig(Strict):
    """The seed's ``config`` object, snake_case, plus our extensions (model_version onwards)."""

    exp_name: str = Field(pattern=EXP_NAME_PATTERN, description="Experiment name (upstream logs/<exp>).")
    language: Language = "zh"
    batch_size: int | None = Field(default=None, ge=1, le=256, description="Defaults to the server's.")
    epochs_s2: int | None = Field(default=None, ge=1, le=1000, description="SoVITS epochs.")
    epochs_s1: int | None = Field(default=None, ge=1, le=1000, description="GPT epochs.")
    gpu_id: str | int | None = Field(default=None, description="Devices, dash-separated ('0-1-2' means three GPUs).")
    model_version: SupportedVersion = "v2Pro"
    webhook_url: str | None = Field(
        default=None,
        max_length=2048,
        pattern=r"^https?://[^\s]+$",
        description="Receives a signed POST when a step completes, fails or is cancelled.",
    )
    queue_name: str | None = Field(default=None, pattern=LABEL_VALUE_PATTERN, max_length=63)

    @field_validator("gpu_id", mode="wrap")
    @classmethod
    def _gpu_id_one_error(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        """One error naming the field, not one per member of the union (``gpu_id.str``)."""
        try:
            return handler(value)
        except ValidationError:
            raise ValueError("must be a device list such as '0-1-2', or one device id as an integer") from None


class TaskCreate(Strict):
    task_name: str = Field(max_length=256)
    config: SeedConfig
    labels: dict[str, str] = Field(
        default_factory=dict, description="Kubernetes labels for the task (select with label_selector)."
    )


class TaskPublic(BaseModel):
    """A task as the seed showed it. Field names are a promise to existing clients."""

    task_id: str
    task_name: str
    status: Phase
    config: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    progress: float
    current_step: StepName | None = None
    error_message: str | None = None
    quality: QualityScore | None = Field(
        default=None,
        description="The test sentence's quality score once test_inference has completed (the resource's "
        "status.quality, camelCase as there); output/quality.json has the transcript too.",
    )


class StepBody(Strict):
    params: dict[str, Any] = Field(
        default_factory=dict, description="Step parameters with upstream's names; see each step's model."
    )


class StepAccepted(BaseModel):
    message: str
    task_id: str
    step: StepName
    request_id: str


class Message(BaseModel):
    message: str


class Uploaded(BaseModel):
    message: str
    filename: str
    path: str = Field(description="Key under the task's prefix.")
    size: int
    content_type: str


class FileEntry(BaseModel):
    name: str = Field(description="Path under the task's prefix; pass it to files/download.")
    size: int
    step: StepName | None = Field(description="The step that wrote it; null for uploads.")
    last_modified: datetime | None = None


class FileList(BaseModel):
    files: list[FileEntry]


class Logs(BaseModel):
    logs: str
    steps: list[StepName] = Field(description="The steps whose logs are included, in pipeline order.")


class ErrorBody(BaseModel):
    detail: str
    code: str
    field: str | None = None


class Readiness(BaseModel):
    status: str = Field(description="ok, or unavailable")
    checks: dict[str, str] = Field(description="Each store: ok, or why it does not answer.")


class ServiceInfo(BaseModel):
    message: str
    version: str
    docs_url: str
    api_prefix: str
    steps: list[StepName]


class StepInfo(BaseModel):
    name: StepName
    summary: str
    prerequisites: list[StepName]
    params_schema: dict[str, Any] = Field(description="JSON Schema of the step's params (upstream's names).")


class StepCurves(BaseModel):
    series: dict[str, list[tuple[float, float]]] = Field(
        description="Loss name (upstream's) -> [epoch, value] points; epochs count from 0, fractional within one."
    )
    progress: float | None = None
    updated_at: datetime | None = None


class TrainingCurves(BaseModel):
    steps: dict[StepName, StepCurves] = Field(description="The training steps that recorded metrics so far.")


class Flagged(BaseModel):
    flag: str = Field(
        description="too_short, too_long, clipping, noisy, quiet, long_silence, empty_text, "
        "text_rate, other_speaker, duplicate; `dropped` for a clip proofreading dropped."
    )
    reason: str = Field(description="The measured value that raised it.")


class ClipReport(BaseModel):
    source: str = Field(description="The uploaded file the slice was cut from.")
    clip: str = Field(description="The slice's file name as the .list names it.")
    duration_s: float
    peak_dbfs: float
    rms_dbfs: float
    clipping_ratio: float = Field(description="Share of samples within 2% of the peak (flat tops).")
    snr_db: float = Field(description="Estimated speech-to-background ratio.")
    lead_silence_s: float
    trail_silence_s: float
    speaker_similarity: float = Field(description="Cosine similarity to the data set's main voice.")
    text: str
    language: str | None
    chars_per_s: float = Field(description="Letters and digits per second of sound.")
    flags: list[Flagged]
    excluded: bool = Field(description="Left out of training (by exclude_flags, dropped, or without a line).")


class Advice(BaseModel):
    flag: str
    text: str


class DatasetSummary(BaseModel):
    clips: int
    total_minutes: float
    usable_minutes: float = Field(description="Minutes of the clips training will use.")
    flagged_clips: int
    flag_counts: dict[str, int]
    verdict: str = Field(description="ok, warn (something is flagged) or insufficient (under a usable minute).")
    advice: list[Advice]
    excluded: list[str] = Field(description="Clips training leaves out.")
    exclude_flags: list[str] = Field(description="The flags that exclude a clip.")
    excluded_by: str = Field(
        description="extract_text_features (what it recorded) or default (what its default would leave out)."
    )
    dropped: list[str]
    speaker_model: str = Field(
        description="The embedding behind speaker_similarity and other_speaker: eres2netv2 (upstream's v2Pro "
        "speaker-verification model, when the model store holds it) or cepstral (the lightweight fallback)."
    )


class DatasetReport(BaseModel):
    summary: DatasetSummary
    clips: list[ClipReport]


class TranscriptEntry(BaseModel):
    clip: str
    language: str
    text: str
    flags: list[Flagged]


class TranscriptEdit(BaseModel):
    at: datetime
    by: str = Field(description="The tenant whose token made the edit.")
    clip: str
    change: dict[str, Any] = Field(description='{"text": [old, new]}, {"language": [old, new]} or {"drop": true}.')


class Transcript(BaseModel):
    entries: list[TranscriptEntry]
    edits: list[TranscriptEdit]


class TranscriptEntryPatch(Strict):
    clip: str = Field(min_length=1, max_length=255, description="The slice's file name as the .list names it.")
    text: str | None = Field(default=None, max_length=4000)
    language: Language | None = None


class TranscriptPatch(Strict):
    entries: list[TranscriptEntryPatch] = Field(default_factory=list, max_length=10000)
    drop: list[str] = Field(default_factory=list, max_length=10000, description="Clips to take out of the list.")
