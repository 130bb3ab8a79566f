"""What reconcile decides to run and the environment every runtime gives a step.

One attempt of one step is a `StepLaunch`; the operator turns it into a Kubernetes Job
(sovits_operator.jobs), the local runtime into child processes (sovits_local.runtime). Both give
the step the same environment, built here from the contract's names.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from . import contract
from .catalog import StepName
from .model import TrainingTask
from .settings import Settings
from .storage import task_prefix

# Indexed Jobs name their pods' hostname `{job}-{index}`, which must stay a DNS label (63);
# three characters are left for `-{index}` with up to 64 shards.
JOB_NAME_MAX = 60
# Storage settings a step must not get as plain env: the keys come from a Secret.
_SECRET_STORAGE_FIELDS = {"access_key_id", "secret_access_key"}
_NOT_FOR_PODS_STORAGE_FIELDS = {"local_root", "credentials_secret"}
SECRET_KEYS = {"access_key_id": "AWS_ACCESS_KEY_ID", "secret_access_key": "AWS_SECRET_ACCESS_KEY"}


@dataclass(frozen=True)
class StepLaunch:
    """One attempt of one step, as decided by reconcile; runtimes turn it into a Job or a process."""

    job_name: str
    step: StepName
    attempt: int
    params: dict[str, Any]
    shards: int
    gpus_per_pod: int
    request_id: str | None = None


def short_digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def _dns(text: str) -> str:
    return re.sub(r"[^a-z0-9-]", "-", text.lower())


def job_name(task: str, step: str, attempt: int) -> str:
    """``{task}-{step}-{attempt}`` as a DNS label; a long task name is cut and a hash keeps it unique."""
    suffix = f"-{_dns(step)}-{attempt}"
    full = _dns(task) + suffix
    if len(full) <= JOB_NAME_MAX:
        return full
    head = _dns(task)[: JOB_NAME_MAX - len(suffix) - 9].rstrip("-")
    return f"{head}-{short_digest(task)}{suffix}"


def step_env(task: TrainingTask, launch: StepLaunch, settings: Settings) -> list[dict[str, Any]]:
    """The step runner's environment (contract.py names); S3 keys by secretKeyRef only."""
    spec = task.spec.model_dump(mode="json", by_alias=True, exclude_none=True, exclude={"steps"})
    env = {
        contract.ENV_TASK_ID: task.metadata.name,
        contract.ENV_NAMESPACE: task.metadata.namespace or "",
        contract.ENV_STEP: launch.step,
        contract.ENV_ATTEMPT: str(launch.attempt),
        contract.ENV_PARAMS: json.dumps(launch.params, sort_keys=True, ensure_ascii=False),
        contract.ENV_SPEC: json.dumps(spec, sort_keys=True, ensure_ascii=False),
        contract.ENV_PREFIX: task_prefix(task, settings),
        contract.ENV_SHARD_COUNT: str(launch.shards),
    }
    storage = settings.storage.model_dump(
        mode="json", exclude=_SECRET_STORAGE_FIELDS | _NOT_FOR_PODS_STORAGE_FIELDS, exclude_none=True
    )
    if task.spec.storage.bucket:
        storage["bucket"] = task.spec.storage.bucket
    secret = task.spec.storage.credentials_secret or settings.storage.credentials_secret
    for key, value in sorted(storage.items()):
        env[f"SOVITS_STORAGE__{key.upper()}"] = str(value)
    items: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in env.items()]
    for field, secret_key in SECRET_KEYS.items():
        items.append(
            {
                "name": f"SOVITS_STORAGE__{field.upper()}",
                "valueFrom": {"secretKeyRef": {"name": secret, "key": secret_key}},
            }
        )
    return items
