"""Settings for every process (operator, API, local runtime, step runner).

Read from environment variables prefixed ``SOVITS_`` (nested with ``__``, e.g.
``SOVITS_STORAGE__BUCKET``) and, when ``SOVITS_CONFIG_FILE`` names one, from a YAML file in
the seed's ``config.yaml`` shape (``server``, ``paths``, ``gpu``, ``training``) extended with
our own sections. Environment wins over the file. Build once per process with ``load()``;
constructing the classes does no I/O beyond reading the environment.
"""

from __future__ import annotations

import os
from contextvars import ContextVar
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, IPvAnyNetwork, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from .catalog import StepName

# The YAML file `load()` reads; constructing Settings() directly reads the environment only.
_CONFIG_FILE: ContextVar[Path | None] = ContextVar("sovits_config_file", default=None)


class ServerSettings(BaseModel):
    # The seed bound 0.0.0.0; we bind loopback unless told otherwise (and tokens are set).
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    # The seed's config key, accepted so its files load; nothing reads it: the API runs one
    # uvicorn process per pod and scales by replicas.
    workers: int = Field(default=1, ge=1)


class PathsSettings(BaseModel):
    base_dir: Path | None = Field(default=None, description="Upstream GPT-SoVITS checkout (step image).")
    step_python: Path | None = Field(
        default=None,
        description="The Python `sovits local` starts steps with: upstream's environment (hack/upstream.sh makes "
        "one, .venv/upstream/venv/bin/python), where torch and upstream's requirements are; default: its own.",
    )
    work_dir: Path = Field(default=Path("./sovits-data"), description="Local data directory.")
    numba_cache: Path | None = Field(
        default=None,
        description="A folder of librosa's compiled numba functions (`python -m sovits_steps.upstream.numba_cache "
        "DIR` makes one; the step image has /opt/numba-cache, hack/upstream.sh one beside its environment): numba's "
        "cache of each upstream run, or copied into the run where it is read-only; default: they compile in every run.",
    )


class GpuSettings(BaseModel):
    default_device: str = Field(default="0", description="The seed's gpu.default_device: gpu_id default.")
    max_parallel: int = Field(default=4, ge=1, description="Concurrent steps in the local runtime.")
    resource_name: str = Field(default="nvidia.com/gpu", description="Extended resource of a GPU.")
    node_selector: dict[str, str] = Field(default_factory=dict, description="For GPU step pods.")
    tolerations: list[dict[str, Any]] = Field(default_factory=list, description="For GPU step pods.")
    node_label: str = Field(
        default="nvidia.com/gpu.present",
        description="Label that is 'true' on GPU nodes (NVIDIA GPU feature discovery sets this one); pods that "
        "need no GPU stay off those nodes unless their affinity says otherwise. Empty: they may run anywhere.",
    )


class TrainingDefaults(BaseModel):
    default_epochs_s2: int = Field(default=50, ge=1)
    default_epochs_s1: int = Field(default=15, ge=1)
    default_batch_size: int = Field(default=16, ge=1)


class StorageSettings(BaseModel):
    backend: Literal["s3", "local"] = "s3"
    endpoint_url: str | None = None
    region: str = "us-east-1"
    bucket: str = "sovits"
    access_key_id: SecretStr | None = None
    secret_access_key: SecretStr | None = None
    credentials_secret: str = Field(
        default="sovits-s3",
        description="Secret (keys AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY) for step pods.",
    )
    tasks_prefix: str = "tasks/"
    models_prefix: str = "models/"
    local_root: Path = Field(default=Path("./sovits-data/store"), description="Root of the local backend.")
    presign_expiry_s: int = Field(default=900, ge=1, le=7 * 24 * 3600)
    max_attempts: int = Field(default=5, ge=1, le=20, description="Attempts per S3 request (standard retry mode).")


class ImageSettings(BaseModel):
    default: str = "ghcr.io/sovits-operator/step:0.1.0"
    per_step: dict[StepName, str] = Field(default_factory=dict)
    pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"
    pull_secrets: list[str] = Field(default_factory=list, description="imagePullSecrets of step pods.")

    def for_step(self, step: StepName) -> str:
        return self.per_step.get(step, self.default)


# A Kubernetes resource quantity (1, 500m, 2Gi, 1.5G ...).
QUANTITY = r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$"


class StepResources(BaseModel):
    """A step's cpu request and memory request-and-limit, over the catalog's profile."""

    cpu: str | None = Field(default=None, pattern=QUANTITY)
    memory: str | None = Field(default=None, pattern=QUANTITY)


class OperatorSettings(BaseModel):
    namespace: str | None = Field(default=None, description="Watch one namespace; None watches all.")
    max_attempts: int = Field(default=3, ge=1, le=20, description="Attempts of a step before it fails.")
    max_interruptions: int = Field(
        default=10, ge=0, le=1000,
        description="Interruptions of one step (our own restart, evictions, preemptions) before it fails; "
        "they use up no attempt.",
    )  # fmt: skip
    retry_backoff_s: float = Field(default=10.0, ge=0, description="Delay before attempt n is n x this.")
    unschedulable_after_s: float = Field(default=60.0, ge=0)
    active_deadline_s: int = Field(default=24 * 3600, ge=60)
    backoff_limit_per_index: int = Field(default=1, ge=0)
    queue_name: str | None = Field(default=None, description="Kueue LocalQueue for every Job.")
    delete_storage_on_delete: bool = False
    storage_cleanup_attempts: int = Field(default=3, ge=1)
    job_ttl_s: int = Field(default=3600, ge=0, description="ttlSecondsAfterFinished once status records it.")
    progress_interval_s: float = Field(default=10.0, gt=0, description="Timer reading progress/{step}.json.")
    metrics_port: int = Field(default=8080, ge=0, le=65535, description="/metrics and /healthz; 0 turns off.")
    metrics_host: str = Field(default="127.0.0.1", description="Bind address of /metrics (0.0.0.0 in a pod).")
    run_as_user: int = Field(default=1000, ge=1)
    step_node_selector: dict[str, str] = Field(default_factory=dict)
    step_tolerations: list[dict[str, Any]] = Field(default_factory=list)
    step_affinity: dict[str, Any] = Field(default_factory=dict, description="Affinity of every step pod.")
    step_resources: dict[StepName, StepResources] = Field(
        default_factory=dict, description="Per step: cpu and memory over the catalog's (memory is also the limit)."
    )
    annotation_prefix: str = "sovits.io"
    parallel_passes: int = Field(
        default=32, ge=1, description="Reconcile passes at once; the others wait, their task bodies not yet parsed."
    )
    kopf_log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="WARNING", description="Level of kopf's own logs; INFO adds a line per handler call."
    )


class ApiSettings(BaseModel):
    tokens: dict[str, str] = Field(default_factory=dict, description="Bearer token -> tenant namespace.")
    tokens_secret: str | None = Field(default=None, description="Secret whose keys are tokens.")
    default_namespace: str = "default"
    max_upload_bytes: int = Field(default=2 * 1024**3, ge=1)
    max_body_bytes: int = Field(default=1024**2, ge=1024, description="Any other request body (JSON).")
    download_mode: Literal["redirect", "stream"] = "redirect"
    webhook_secret: SecretStr | None = None
    webhook_allowed_networks: list[IPvAnyNetwork] = Field(
        default_factory=list,
        description="Networks webhooks may reach although not public (CIDRs such as 10.20.0.0/16); "
        "other private, loopback and link-local addresses are refused (SSRF).",
    )
    webhook_max_attempts: int = Field(default=6, ge=1, le=50, description="Sends per event.")
    webhook_backoff_s: float = Field(default=5.0, ge=0, description="First retry delay; doubles per attempt.")
    webhook_timeout_s: float = Field(default=10.0, gt=0, description="Per POST.")
    webhook_poll_s: float = Field(default=5.0, gt=0, description="How often the webhook worker scans tasks.")
    events_poll_s: float = Field(default=1.0, gt=0, description="How often /events re-reads a task.")
    tokens_refresh_s: float = Field(default=60.0, gt=0, description="How often tokens_secret is re-read.")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SOVITS_", env_nested_delimiter="__", extra="ignore")

    server: ServerSettings = Field(default_factory=ServerSettings)
    paths: PathsSettings = Field(default_factory=PathsSettings)
    gpu: GpuSettings = Field(default_factory=GpuSettings)
    training: TrainingDefaults = Field(default_factory=TrainingDefaults)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    images: ImageSettings = Field(default_factory=ImageSettings)
    operator: OperatorSettings = Field(default_factory=OperatorSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment over the file, section by section (pydantic-settings merges nested models).
        path = _CONFIG_FILE.get()
        if path is None:
            return (init_settings, env_settings)
        return (init_settings, env_settings, _SeedConfigFile(settings_cls, yaml_file=path))


def load(config_file: str | os.PathLike[str] | None = None) -> Settings:
    """Settings from the environment over an optional seed-style YAML file."""
    path = config_file or os.environ.get("SOVITS_CONFIG_FILE")
    token = _CONFIG_FILE.set(Path(path) if path else None)
    try:
        return Settings()
    finally:
        _CONFIG_FILE.reset(token)


class _SeedConfigFile(YamlConfigSettingsSource):
    """pydantic-settings' YAML source, refusing a file whose top level is not a mapping."""

    def _read_file(self, file_path: Path | Traversable) -> dict[str, Any]:
        values = yaml.safe_load(file_path.read_text(encoding=self.yaml_file_encoding or "utf-8"))
        if values is not None and not isinstance(values, dict):
            raise ValueError(f"{file_path}: expected a mapping at the top level")
        return values or {}
