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

from .catalog import StepName

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

EXP_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"


class Wire(BaseModel):
    """camelCase on the wire, snake_case in Python; unknown fields are refused."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", validate_assignment=True)

    def wire(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class Toleration(Wire):
    key: str | None = None
    operator: Literal["Exists", "Equal"] | None = None
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    toleration_seconds: int | None = None


class GpuSpec(Wire):
    count: int = Field(default=1, ge=0, le=64, description="GPUs per GPU step pod (0 runs on CPU).")
    devices: list[int] | None = Field(
        default=None,
        description="Device ids for the local runtime (the seed's gpu_id '0-1-2'); ignored in a cluster.",
    )
    resource_name: str | None = Field(
        default=None, description="Extended resource to request; defaults to the operator's setting."
    )
    node_selector: dict[str, str] | None = None
    tolerations: list[Toleration] | None = None


class StorageSpec(Wire):
    bucket: str | None = Field(default=None, description="Defaults to the operator's bucket.")
    prefix: str | None = Field(default=None, description="Defaults to tasks/{name}/.")
    credentials_secret: str | None = Field(
        default=None, description="Secret with the S3 keys; defaults to the operator's setting."
    )


class StepRequest(Wire):
    name: StepName
    params: dict[str, Any] = Field(
        default_factory=dict, description="Step parameters with upstream's names; validated per step."
    )
    request_id: str | None = Field(
        default=None, max_length=64, description="Set by the client to tell repeated requests apart."
    )


class TrainingTaskSpec(Wire):
    task_name: str = Field(default="", max_length=256)
    exp_name: str = Field(pattern=EXP_NAME_PATTERN, description="Experiment name (upstream logs/<exp>).")
    language: Language = "zh"
    model_version: SupportedVersion = Field(
        default="v2Pro",
        description="Upstream GPT-SoVITS model version. v1, v3 and v4 are not accepted yet: their steps are "
        "not proven against real upstream.",
    )
    batch_size: int = Field(default=16, ge=1, le=256)
    epochs_s2: int = Field(default=50, ge=1, le=1000)
    epochs_s1: int = Field(default=15, ge=1, le=1000)
    gpu: GpuSpec = Field(default_factory=GpuSpec)
    storage: StorageSpec = Field(default_factory=StorageSpec)
    steps: list[StepRequest] = Field(default_factory=list, max_length=200)
    pipeline: Literal["full"] | None = Field(
        default=None, description="'full' asks for every remaining step in pipeline order."
    )
    cancel: bool = False
    queue_name: str | None = Field(default=None, description="Kueue LocalQueue for this task's Jobs.")
    webhook_url: str | None = Field(default=None, max_length=2048)


class Condition(Wire):
    type: str
    status: Literal["True", "False", "Unknown"]
    reason: str
    message: str = ""
    last_transition_time: datetime
    observed_generation: int | None = None


class StepStatus(Wire):
    name: StepName
    phase: StepPhase
    request_id: str | None = None
    job_name: str | None = None
    attempts: int = 0
    # Runs stopped by our side (a restart of sovits local, an eviction, a preemption): they
    # use up no attempt, but are bounded by operator.max_interruptions against a crash loop.
    interruptions: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None
    progress: float = Field(default=0.0, ge=0, le=100)
    message: str | None = None
    outputs: list[str] | None = None


class TrainingTaskStatus(Wire):
    phase: Phase = "created"
    current_step: StepName | None = None
    progress: float = Field(default=0.0, ge=0, le=100)
    error_message: str | None = None
    observed_generation: int | None = None
    steps: list[StepStatus] = Field(default_factory=list)
    conditions: list[Condition] = Field(default_factory=list)


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
