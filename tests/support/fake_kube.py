"""A fake of the few Kubernetes calls the Controller makes, in memory, for its unit tests.

A fake by design (issue 15): the Controller's bookkeeping (what it reads, when it skips a pass,
which calls it makes) is tested against it in milliseconds; the operator on the real control
plane is tested in tests/operator/cluster/. resourceVersions are opaque words, as the API
conventions allow, so code that orders them as numbers fails here.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterator, Mapping
from typing import Any

from sovits_core.errors import NotFound
from sovits_operator.jobs import Labels
from sovits_operator.observe import prune_job

_WORDS = ("oak", "elm", "ash", "yew", "fir", "bay", "box", "gum")


class FakeKube:
    """TrainingTasks and Jobs of one fake API server, and the calls made to it, in order."""

    def __init__(self, labels: Labels) -> None:
        self.labels = labels
        self.tasks: dict[tuple[str, str], dict[str, Any]] = {}
        self.jobs: dict[tuple[str, str], dict[str, Any]] = {}
        self.pods: dict[tuple[str, str], dict[str, Any]] = {}
        self.calls: list[str] = []
        self._versions = (f"{w}-{i}" for i in itertools.count() for w in _WORDS)

    def add_task(self, body: dict[str, Any]) -> dict[str, Any]:
        stored = copy.deepcopy(body)
        stored["metadata"]["resourceVersion"] = next(self._versions)
        self.tasks[(stored["metadata"]["namespace"], stored["metadata"]["name"])] = stored
        return copy.deepcopy(stored)

    def finish_job(self, namespace: str, name: str, *, ttl_s: int | None = None) -> dict[str, Any]:
        """The Job as the Job controller leaves it when its pod succeeded (and a TTL, if given)."""
        job = self.jobs[(namespace, name)]
        job["status"] = {
            "conditions": [{"type": "Complete", "status": "True"}],
            "completionTime": "2025-01-01T12:00:00+00:00",
        }
        if ttl_s is not None:
            job["spec"]["ttlSecondsAfterFinished"] = ttl_s
        return copy.deepcopy(job)

    def succeed_pod(self, namespace: str, job: str, message: str) -> dict[str, Any]:
        """The Job's pod as the kubelet leaves it when the step exited 0 with ``message``."""
        labels = {"batch.kubernetes.io/job-name": job, **self.jobs[(namespace, job)]["metadata"]["labels"]}
        terminated = {"exitCode": 0, "message": message}
        pod: dict[str, Any] = {
            "metadata": {"name": f"{job}-abcde", "namespace": namespace, "labels": labels},
            "status": {"phase": "Succeeded", "containerStatuses": [{"state": {"terminated": terminated}}]},
        }
        self.pods[(namespace, pod["metadata"]["name"])] = pod
        return copy.deepcopy(pod)

    @property
    def jobs_index(self) -> Mapping[str, list[dict[str, Any]]]:
        """What the operator's Job store (watches.py) holds: pruned Jobs by their task's uid."""
        return _Index(self)

    # -- the calls of sovits_kube.client.Kube ---------------------------------------------

    async def get_task(self, namespace: str, name: str) -> dict[str, Any] | None:
        self.calls.append(f"get task {name}")
        found = self.tasks.get((namespace, name))
        return copy.deepcopy(found) if found is not None else None

    async def patch_task_status(self, namespace: str, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(f"patch task {name} status")
        task = self.tasks.get((namespace, name))
        if task is None:
            raise NotFound(f"trainingtask {namespace}/{name}")
        status = task.setdefault("status", {})
        for key, value in patch["status"].items():
            if value is None:
                status.pop(key, None)
            else:
                status[key] = copy.deepcopy(value)
        task["metadata"]["resourceVersion"] = next(self._versions)
        return copy.deepcopy(task)

    async def create_job(self, namespace: str, body: dict[str, Any]) -> bool:
        name = body["metadata"]["name"]
        self.calls.append(f"create job {name}")
        if (namespace, name) in self.jobs:
            return False
        self.jobs[(namespace, name)] = copy.deepcopy(body)
        return True

    async def delete_job(self, namespace: str, name: str) -> None:
        self.calls.append(f"delete job {name}")
        self.jobs.pop((namespace, name), None)

    async def patch_job(self, namespace: str, name: str, patch: dict[str, Any]) -> None:
        self.calls.append(f"patch job {name}")
        job = self.jobs.get((namespace, name))
        if job is not None:
            job["spec"].update(patch.get("spec", {}))
            job["metadata"].setdefault("labels", {}).update(patch.get("metadata", {}).get("labels", {}))

    async def list_pods(self, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        self.calls.append(f"list pods {label_selector}")
        key, _, value = label_selector.partition("=")
        return [
            copy.deepcopy(p)
            for (ns, _), p in self.pods.items()
            if ns == namespace and p["metadata"]["labels"].get(key) == value
        ]

    async def delete_jobs(self, namespace: str, label_selector: str) -> list[str]:
        self.calls.append(f"delete jobs {label_selector}")
        key, _, value = label_selector.partition("=")
        names = [n for (ns, n), j in self.jobs.items() if ns == namespace and j["metadata"]["labels"].get(key) == value]
        for name in names:
            del self.jobs[(namespace, name)]
        return names


class _Index(Mapping[str, list[dict[str, Any]]]):
    def __init__(self, kube: FakeKube) -> None:
        self._kube = kube

    def _grouped(self) -> dict[str, list[dict[str, Any]]]:
        grouped: dict[str, list[dict[str, Any]]] = {}
        for job in self._kube.jobs.values():
            grouped.setdefault(job["metadata"]["labels"][self._kube.labels.task_uid], []).append(prune_job(job))
        return grouped

    def __getitem__(self, uid: str) -> list[dict[str, Any]]:
        return self._grouped()[uid]

    def __iter__(self) -> Iterator[str]:
        return iter(self._grouped())

    def __len__(self) -> int:
        return len(self._grouped())
