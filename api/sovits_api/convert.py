"""Pure conversions between the seed's JSON and the TrainingTask model.

Both task stores (Kubernetes and local) and the routes use these, so the seed's snake_case
``config`` means the same thing whichever backend holds the task.
"""

from __future__ import annotations

import re
from typing import Any

from sovits_core.errors import InvalidInput
from sovits_core.model import GpuSpec, TrainingTaskSpec
from sovits_core.settings import GpuSettings, TrainingDefaults

from .schemas import GPU_ID_PATTERN, SeedConfig, TaskCreate

_GPU_ID = re.compile(GPU_ID_PATTERN)


def parse_gpu_id(value: str | int) -> list[int]:
    """The seed's ``gpu_id``: ``"0-1-2"`` is devices 0, 1 and 2."""
    text = str(value).strip()
    if not _GPU_ID.fullmatch(text):
        raise InvalidInput(
            f"config.gpu_id: {value!r} is not a dash-separated list of device ids such as '0' or '0-1-2'",
            field="config.gpu_id",
        )
    devices = [int(part) for part in text.split("-")]
    if len(set(devices)) != len(devices):
        raise InvalidInput(f"config.gpu_id: {value!r} names a device twice", field="config.gpu_id")
    return devices


def format_gpu_id(gpu: GpuSpec) -> str:
    """The seed's spelling of a task's GPUs; a task made with kubectl may only have a count."""
    devices = gpu.devices if gpu.devices is not None else list(range(gpu.count))
    return "-".join(str(d) for d in devices)


def spec_from_create(body: TaskCreate, defaults: TrainingDefaults, gpu: GpuSettings) -> TrainingTaskSpec:
    """The TrainingTask spec for a seed ``create`` body, with the server's defaults filled in."""
    cfg = body.config
    devices = parse_gpu_id(cfg.gpu_id if cfg.gpu_id is not None else gpu.default_device)
    return TrainingTaskSpec(
        task_name=body.task_name,
        exp_name=cfg.exp_name,
        language=cfg.language,
        model_version=cfg.model_version,
        batch_size=cfg.batch_size or defaults.default_batch_size,
        epochs_s2=cfg.epochs_s2 or defaults.default_epochs_s2,
        epochs_s1=cfg.epochs_s1 or defaults.default_epochs_s1,
        gpu=GpuSpec(count=len(devices), devices=devices),
        webhook_url=cfg.webhook_url,
        queue_name=cfg.queue_name,
    )


def config_from_spec(spec: TrainingTaskSpec) -> dict[str, Any]:
    """The seed's ``config`` object for a spec: the keys the seed had, then our extensions."""
    config = SeedConfig(
        exp_name=spec.exp_name,
        language=spec.language,
        batch_size=spec.batch_size,
        epochs_s2=spec.epochs_s2,
        epochs_s1=spec.epochs_s1,
        gpu_id=format_gpu_id(spec.gpu),
        model_version=spec.model_version,
        webhook_url=spec.webhook_url,
        queue_name=spec.queue_name,
    )
    return config.model_dump(mode="json", exclude_none=True)
