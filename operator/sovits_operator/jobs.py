"""The Job that runs one attempt of one step: a pure function of the task, the launch and settings.

Names are deterministic (``{task}-{step}-{attempt}``), so creating the same attempt twice is
a harmless conflict rather than a second run. Step pods get no Kubernetes credentials: they
talk to the object store only, with keys from a Secret.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sovits_core.catalog import CATALOG
from sovits_core.launch import StepLaunch, short_digest, step_env
from sovits_core.model import API_VERSION, KIND, TrainingTask
from sovits_core.settings import Settings

LABEL_VALUE_MAX = 63
KUEUE_QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
CONTAINER = "step"


@dataclass(frozen=True)
class Labels:
    """Label keys under the operator's prefix."""

    prefix: str

    @property
    def task(self) -> str:
        return f"{self.prefix}/task"

    @property
    def task_uid(self) -> str:
        return f"{self.prefix}/task-uid"

    @property
    def step(self) -> str:
        return f"{self.prefix}/step"

    @property
    def attempt(self) -> str:
        return f"{self.prefix}/attempt"

    @property
    def request_id(self) -> str:
        return f"{self.prefix}/request-id"

    @property
    def recorded(self) -> str:
        """On a Job whose outcome the task's status holds: the operator's Job watch leaves it out."""
        return f"{self.prefix}/recorded"


def label_value(text: str) -> str:
    """A label value for ``text``; values over 63 characters are cut and suffixed with a hash."""
    if len(text) <= LABEL_VALUE_MAX:
        return text
    return f"{text[: LABEL_VALUE_MAX - 9].rstrip('-._')}-{short_digest(text)}"


def job_labels(task: TrainingTask, launch: StepLaunch, settings: Settings) -> dict[str, str]:
    keys = Labels(settings.operator.annotation_prefix)
    return {
        "app.kubernetes.io/managed-by": "sovits-operator",
        "app.kubernetes.io/component": "step",
        keys.task: label_value(task.metadata.name),
        keys.task_uid: task.metadata.uid or "",
        keys.step: launch.step,
        keys.attempt: str(launch.attempt),
    }


def build_job(task: TrainingTask, launch: StepLaunch, settings: Settings) -> dict[str, Any]:
    """The batch/v1 Job manifest for ``launch`` (no ttlSecondsAfterFinished: see ``ttl_patch``)."""
    meta = task.metadata
    labels = job_labels(task, launch, settings)
    job_meta_labels = dict(labels)
    queue = task.spec.queue_name or settings.operator.queue_name
    if queue:
        job_meta_labels[KUEUE_QUEUE_LABEL] = queue
    annotations = {}
    if launch.request_id is not None:
        annotations[Labels(settings.operator.annotation_prefix).request_id] = launch.request_id
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": launch.job_name,
            "namespace": meta.namespace,
            "labels": job_meta_labels,
            "annotations": annotations,
            "ownerReferences": [
                {
                    "apiVersion": API_VERSION,
                    "kind": KIND,
                    "name": meta.name,
                    "uid": meta.uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            **_completion(launch, settings),
            "activeDeadlineSeconds": settings.operator.active_deadline_s,
            "template": {
                "metadata": {"labels": labels},
                "spec": _pod_spec(task, launch, settings),
            },
        },
    }


def ttl_patch(ttl_s: int, labels: Labels) -> dict[str, Any]:
    """Set once status has recorded a Job's outcome, so cleanup never races the record. The
    label in the same request takes the Job out of the operator's watch: a restart lists only
    the Jobs whose outcome is still to be recorded, however much history is retained."""
    return {"metadata": {"labels": {labels.recorded: "true"}}, "spec": {"ttlSecondsAfterFinished": ttl_s}}


DISRUPTION_TARGET = "DisruptionTarget"  # the pod condition of evictions, preemptions, node drains


def _completion(launch: StepLaunch, settings: Settings) -> dict[str, Any]:
    # Failed attempts are retried by the operator as new Jobs, so Kubernetes retries nothing
    # itself, except one shard of a sharded step, which can be retried alone.
    # A pod evicted or preempted fails the Job with reason PodFailurePolicy, so the operator
    # can tell an interruption (no attempt used up) from the step's own failure.
    # The Job's Failed message then reads "Pod ns/name has condition DisruptionTarget matching ...".
    disrupted = {"type": DISRUPTION_TARGET, "status": "True"}
    interruption = {"rules": [{"action": "FailJob", "onPodConditions": [disrupted]}]}
    if not CATALOG[launch.step].sharded:
        return {"backoffLimit": 0, "completions": 1, "parallelism": 1, "podFailurePolicy": interruption}
    return {
        "completionMode": "Indexed",
        "completions": launch.shards,
        "parallelism": launch.shards,
        "backoffLimitPerIndex": settings.operator.backoff_limit_per_index,
        "maxFailedIndexes": 0,
        "podFailurePolicy": interruption,
    }


def _pod_spec(task: TrainingTask, launch: StepLaunch, settings: Settings) -> dict[str, Any]:
    gpu = launch.gpus_per_pod > 0
    spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": settings.operator.run_as_user,
            "runAsGroup": settings.operator.run_as_user,
            "fsGroup": settings.operator.run_as_user,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [_container(task, launch, settings)],
    }
    node_selector = dict(settings.operator.step_node_selector)
    tolerations: list[dict[str, Any]] = list(settings.operator.step_tolerations)
    if gpu:
        node_selector |= settings.gpu.node_selector
        node_selector |= task.spec.gpu.node_selector or {}
        tolerations += settings.gpu.tolerations
        tolerations += [t.wire() for t in task.spec.gpu.tolerations or []]
    if node_selector:
        spec["nodeSelector"] = node_selector
    if tolerations:
        spec["tolerations"] = tolerations
    affinity = dict(settings.operator.step_affinity)
    if not gpu:
        affinity = off_gpu_nodes(affinity, settings.gpu.node_label)
    if affinity:
        spec["affinity"] = affinity
    if settings.images.pull_secrets:
        spec["imagePullSecrets"] = [{"name": name} for name in settings.images.pull_secrets]
    return spec


def off_gpu_nodes(affinity: dict[str, Any], label: str) -> dict[str, Any]:
    """``affinity`` keeping a pod off GPU nodes, unless it has a node affinity of its own (or no label is set)."""
    if not label or "nodeAffinity" in affinity:
        return affinity
    avoid = {"key": label, "operator": "NotIn", "values": ["true"]}
    terms = [{"matchExpressions": [avoid]}]
    return {
        **affinity,
        "nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}},
    }


def _container(task: TrainingTask, launch: StepLaunch, settings: Settings) -> dict[str, Any]:
    profile = CATALOG[launch.step].resources
    sized = settings.operator.step_resources.get(launch.step)
    cpu = (sized and sized.cpu) or profile.cpu
    memory = (sized and sized.memory) or profile.memory
    requests: dict[str, str] = {"cpu": cpu, "memory": memory}
    limits: dict[str, str] = {"memory": memory}
    if launch.gpus_per_pod > 0:
        resource = task.spec.gpu.resource_name or settings.gpu.resource_name
        requests[resource] = limits[resource] = str(launch.gpus_per_pod)
    return {
        "name": CONTAINER,
        "image": settings.images.for_step(launch.step),
        "imagePullPolicy": settings.images.pull_policy,
        # args, not command: the image's entrypoint (tini in ours) stays PID 1 and reaps.
        "args": ["sovits", "step", launch.step, "--task", task.metadata.name],
        "env": step_env(task, launch, settings),
        "resources": {"requests": requests, "limits": limits},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
        },
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
