"""The TrainingTask resource: one set of pydantic models for the CRD, the operator and the API.

Fields are snake_case in Python and camelCase on the wire (``by_alias``); both spellings
are accepted on input so the seed's snake_case ``config`` maps onto the same models.
``crds/trainingtask.yaml`` is generated from these classes (see ``crd.py``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from .catalog import STEP_ORDER, StepName

GROUP = "sovits.io"
VERSION = "v1alpha1"
KIND = "TrainingTask"
PLURAL = "trainingtasks"
SINGULAR = "trainingtask"
SHORT_NAMES = ("tt",)
API_VERSION = f"{GROUP}/{VERSION}"

# Every upstream model version the step adapter knows ...
ModelVersion = Literal["v1", "v2", "v2Pro", "v2ProPlus", "v3", "v4"]
# ... and those a task may ask for: each runs through real upstream in the test suite. v1 (whose
# stand-in weights cannot reach the file-size band upstream reads v1 from) and v3/v4 (LoRA training
# on a frozen base, BigVGAN vocoders) are refused until theirs do.
SupportedVersion = Literal["v2", "v2Pro", "v2ProPlus"]
Language = Literal["zh", "en", "ja", "ko", "yue"]
# The seed's status words; a task's phase and each step's phase use the same vocabulary.
Phase = Literal["created", "running", "completed", "failed", "cancelled"]
StepPhase = Literal["pending", "running", "completed", "failed", "cancelled"]
FINISHED_PHASES: frozenset[Phase] = frozenset({"completed", "failed", "cancelled"})  # a run that has ended

EXP_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"


class Wire(BaseModel):
    """camelCase on the wire, snake_case in Python; unknown fields are refused."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", validate_assignment=True)

    def wire(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class Toleration(Wire):
    """A pod toleration, as in the core API."""

    key: str | None = Field(default=None, description="Taint key to tolerate; empty with Exists tolerates every taint.")
    operator: Literal["Exists", "Equal"] | None = Field(
        default=None, description="Exists matches any value; Equal (the default) matches `value`."
    )
    value: str | None = Field(default=None, description="Taint value to match with Equal.")
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = Field(
        default=None, description="Taint effect to tolerate; empty tolerates every effect."
    )
    toleration_seconds: int | None = Field(
        default=None, description="With NoExecute: how long the pod stays after the taint appears."
    )


class GpuSpec(Wire):
    count: int = Field(default=1, ge=0, le=64, description="GPUs per GPU step pod (0 runs on CPU).")
    devices: list[int] | None = Field(
        default=None,
        description="Device ids for the local runtime (the seed's gpu_id '0-1-2'); ignored in a cluster.",
    )
    resource_name: str | None = Field(
        default=None, description="Extended resource to request; defaults to the operator's setting."
    )
    node_selector: dict[str, str] | None = Field(
        default=None, description="Node labels GPU step pods need, added to the operator's GPU node selector."
    )
    tolerations: list[Toleration] | None = Field(
        default=None, description="Tolerations of GPU step pods, added to the operator's GPU tolerations."
    )


class StorageSpec(Wire):
    bucket: str | None = Field(default=None, description="Defaults to the operator's bucket.")
    prefix: str | None = Field(default=None, description="Defaults to tasks/{name}/.")
    credentials_secret: str | None = Field(
        default=None, description="Secret with the S3 keys; defaults to the operator's setting."
    )


class StepRequest(Wire):
    """One request to run a step. Each entry of spec.steps runs once; see TrainingTaskSpec.steps."""

    name: StepName = Field(description="The step to run, in pipeline order: " + ", ".join(STEP_ORDER) + ".")
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="Step parameters with upstream's names and units; the API server checks each against the "
        "step's model (unknown names, types, ranges).",
    )
    request_id: str | None = Field(
        default=None,
        max_length=64,
        description="Optional label of this request; the REST API sets a unique one. Changing it makes a new request.",
    )


STEPS_DESCRIPTION = (
    "Ordered step requests, run one at a time in list order. Each entry runs once: an entry is "
    "identified by its name, requestId and params, so changing any of them (or adding an entry "
    "identical to an earlier one) is a new request that runs again, after the step running now; "
    "removing an entry undoes nothing. status.steps records each request handled."
)


class TrainingTaskSpec(Wire):
    task_name: str = Field(default="", max_length=256, description="Free-form display name (the seed's task_name).")
    exp_name: str = Field(
        pattern=EXP_NAME_PATTERN, description="Experiment name: upstream's logs/<expName> and the weights' file names."
    )
    language: Language = Field(default="zh", description="Language of the recordings (ASR and text features).")
    model_version: SupportedVersion = Field(
        default="v2Pro",
        description="GPT-SoVITS model version to train. v1, v3 and v4 are not accepted yet: their steps are not "
        "proven against real upstream.",
    )
    batch_size: int = Field(default=16, ge=1, le=256, description="Batch size of both training steps.")
    epochs_s2: int = Field(default=50, ge=1, le=1000, description="Epochs of stage 2, the SoVITS model (train_sovits).")
    epochs_s1: int = Field(default=15, ge=1, le=1000, description="Epochs of stage 1, the GPT model (train_gpt).")
    gpu: GpuSpec = Field(default_factory=GpuSpec, description="GPUs of the GPU steps and where their pods may run.")
    storage: StorageSpec = Field(
        default_factory=StorageSpec, description="Where the task's files live in the object store."
    )
    steps: list[StepRequest] = Field(default_factory=list, max_length=200, description=STEPS_DESCRIPTION)
    pipeline: Literal["full"] | None = Field(
        default=None,
        description="'full' asks for every step not completed, in pipeline order, after the listed requests; "
        "a failed step stops it until that step is requested again.",
    )
    cancel: bool = Field(default=False, description="true stops the running step and skips waiting requests.")
    queue_name: str | None = Field(default=None, description="Kueue LocalQueue for this task's Jobs.")
    webhook_url: str | None = Field(
        default=None, max_length=2048, description="URL the REST API POSTs to when the task finishes."
    )


class Condition(Wire):
    """A condition in Kubernetes' conventions."""

    type: str = Field(description="Ready (the task's summary) or Unschedulable (a step pod waits for resources).")
    status: Literal["True", "False", "Unknown"] = Field(description="True, False or Unknown.")
    reason: str = Field(description="CamelCase reason, the same word as the matching Event's.")
    message: str = Field(default="", description="What happened, for people.")
    last_transition_time: datetime = Field(description="When status last changed.")
    observed_generation: int | None = Field(default=None, description="metadata.generation this was decided on.")


class StepStatus(Wire):
    """The record of one handled step request."""

    name: StepName = Field(description="The step.")
    phase: StepPhase = Field(description="pending, running, completed, failed or cancelled.")
    request_id: str | None = Field(default=None, description="requestId of the request this record handles.")
    params_digest: str | None = Field(
        default=None, description="Digest of the request's params: a request with other params is a new one."
    )
    job_name: str | None = Field(default=None, description="Job of the current attempt ({task}-{step}-{attempt}).")
    attempts: int = Field(default=0, description="Attempts made so far.")
    interruptions: int = Field(
        default=0,
        description="Runs stopped by our side (a restart of sovits local, an eviction, a preemption): they use "
        "up no attempt, but are bounded by the operator's max_interruptions against a crash loop.",
    )
    batch_size: int | None = Field(
        default=None,
        description="Batch size of the current run, for the steps that have one (train_sovits, train_gpt): the "
        "request's batch_size or spec.batchSize, halved after each CUDA out-of-memory failure.",
    )
    memory_retries: int = Field(
        default=0,
        description="Runs that failed with CUDA out of memory and ran again with half the batch size: they use up "
        "no attempt; at batch size 1 the step fails.",
    )
    started_at: datetime | None = Field(default=None, description="When the request was handled.")
    finished_at: datetime | None = Field(default=None, description="When it completed, failed or was cancelled.")
    progress: float = Field(default=0.0, ge=0, le=100, description="0-100, as the step reports it.")
    message: str | None = Field(
        default=None,
        description="Why it failed or is being retried; after a completion, the batch size it completed with when "
        "CUDA ran out of memory on the way.",
    )
    outputs: list[str] | None = Field(
        default=None, description="Folders the completed step wrote, relative to the task's storage prefix."
    )


class QualityScore(Wire):
    """How the test sentence came out; see the README's quality score section for what the numbers mean."""

    speaker_similarity: float = Field(
        description="Cosine of the speaker embeddings of the reference clip and the sentence, -1..1; with the "
        "cepstral embedding, takes of one voice score about 0.9 or more."
    )
    speaker_model: Literal["cepstral", "eres2netv2"] = Field(
        default="cepstral",
        description="The embedding behind speaker_similarity: eres2netv2 (upstream's v2Pro speaker-verification "
        "model, when the model store holds it) or cepstral (the lightweight one); their scales differ.",
    )
    error_rate: float | None = Field(
        default=None,
        description="Edit distance of what the ASR heard from the target text over its length (0 is perfect; can "
        "pass 1); unset when no ASR ran.",
    )
    error_metric: Literal["wer", "cer"] = Field(description="wer (words) or cer (characters, for zh, yue, ja).")
    asr_backend: str | None = Field(default=None, description="The ASR that transcribed the sentence.")
    seconds_per_character: float = Field(description="Seconds of speech per character of the target text.")
    pace: Literal["ok", "too_fast", "too_slow"] = Field(
        description="seconds_per_character against the language's plausible band."
    )


class DatasetStatus(Wire):
    """The dataset report in short (GET /api/v1/task/{id}/dataset has the whole report)."""

    verdict: Literal["ok", "warn", "insufficient"] = Field(
        description="ok; warn: some clips are flagged; insufficient: under one usable minute."
    )
    usable_minutes: float = Field(description="Minutes of the clips training will use.")
    flagged_clips: int = Field(description="Clips with at least one flag.")
    clips: int = Field(description="Clips measured.")
    summary: str = Field(description="The three in one line, as kubectl get -o wide shows it.")
    observed_at: datetime = Field(description="finishedAt of the step after which it was computed.")


class TrainingTaskStatus(Wire):
    phase: Phase = Field(default="created", description="created, running, completed, failed or cancelled.")
    current_step: StepName | None = Field(
        default=None, description="The step running now, or the one that failed or was cancelled; unset once completed."
    )
    progress: float = Field(default=0.0, ge=0, le=100, description="0-100 over the requested steps, by step weight.")
    error_message: str | None = Field(default=None, description="Why the task failed.")
    started_at: datetime | None = Field(default=None, description="When the current run started (its first step).")
    finished_at: datetime | None = Field(
        default=None, description="When the run completed, failed or was cancelled; unset while it runs."
    )
    duration: str | None = Field(default=None, description="finishedAt - startedAt, e.g. 1h2m3s.")
    observed_generation: int | None = Field(default=None, description="metadata.generation of the last pass.")
    steps: list[StepStatus] = Field(
        default_factory=list, description="One record per handled step request, in the order handled."
    )
    # A list map keyed by type (Kubernetes API conventions): server-side apply merges by type and
    # the API server refuses two conditions of one type.
    conditions: list[Condition] = Field(
        default_factory=list,
        description="Ready and Unschedulable.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    quality: QualityScore | None = Field(
        default=None, description="The quality score of the newest completed test_inference (output/quality.json)."
    )
    dataset: DatasetStatus | None = Field(
        default=None, description="The dataset report in short, from asr_transcribe's completion on."
    )


class ObjectMeta(BaseModel):
    """The part of metadata the domain reads; everything else passes through untouched."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    name: str
    namespace: str | None = None
    uid: str | None = None
    generation: int | None = None
    creation_timestamp: datetime | None = Field(default=None, alias="creationTimestamp")
    labels: dict[str, str] = Field(default_factory=dict)


class TrainingTask(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    api_version: Literal["sovits.io/v1alpha1"] = Field(default="sovits.io/v1alpha1", alias="apiVersion")
    kind: Literal["TrainingTask"] = "TrainingTask"
    metadata: ObjectMeta
    spec: TrainingTaskSpec
    status: TrainingTaskStatus = Field(default_factory=TrainingTaskStatus)

    def wire(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)
