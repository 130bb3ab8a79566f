"""Step logs: the stored ``logs/{step}.log`` of finished steps, the live pod log of a running one.

The step runner uploads its log when it ends, so stored logs outlive pods; while a step runs,
its pods are the only source. Which pods: the Job that ``status.steps[].jobName`` records,
found by the ``job-name`` label Kubernetes itself puts on a Job's pods.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from kubernetes import client as k8s

from sovits_core import catalog, contract, storage
from sovits_core.catalog import STEP_ORDER, StepName
from sovits_core.errors import NotFound, SovitsError
from sovits_core.model import TrainingTask

from .schemas import Logs
from .view import task_view

log = logging.getLogger(__name__)

MAX_LOG_BYTES = 4 * 1024 * 1024  # per step in one answer; the newest part is kept
TAIL_WINDOW = 64 * 1024  # first read from a log's end for ?tail=; doubled while lines are short
LOGS_DIR = "logs/"


class LiveLogs(Protocol):
    def read(self, namespace: str, task: TrainingTask, step: StepName, tail: int | None) -> str | None:
        """The running step's output so far, or None when there is nothing live to read."""
        ...


def tail_lines(text: str, tail: int | None) -> str:
    if tail is None:
        return text
    lines = text.splitlines(keepends=True)
    return "".join(lines[-tail:]) if tail > 0 else ""


def log_end(read_tail: Callable[[int], bytes], lines: int | None,
            limit: int = MAX_LOG_BYTES, window: int = TAIL_WINDOW) -> bytes:  # fmt: skip
    """The end of a stored log, read from the back: enough for its last ``lines`` lines (all
    of it when None), never over ``limit`` bytes, starting on a whole line.

    ``read_tail(n)`` answers the object's last ``n`` bytes. Asking one byte more than the
    window tells whether anything lies before it, without a separate size lookup.
    """
    window = limit if lines is None else min(window, limit)
    while True:
        data = read_tail(window + 1)
        cut = len(data) > window
        if cut:
            data = data[1:]
        if not cut or window >= limit or (lines is not None and data.count(b"\n") > lines):
            break
        window = min(window * 2, limit)
    if cut:
        data = data[data.find(b"\n") + 1 :]  # drop the partial first line
    return data


def running_step(task: TrainingTask) -> StepName | None:
    """The step whose pods are live: reported running by the operator, not merely requested."""
    if task.status.phase != "running" or task_view(task).status != "running":
        return None
    return task.status.current_step


def collect(
    namespace: str,
    task: TrainingTask,
    objects: storage.TaskFiles,
    live: LiveLogs | None,
    step: str | None,
    tail: int | None,
) -> Logs:
    """Blocking (object store and pod log reads): call in a thread."""
    stored = {
        info.key[len(LOGS_DIR) : -len(".log")] for info in objects.iter_objects(LOGS_DIR) if info.key.endswith(".log")
    }
    current = running_step(task)
    if step is not None:
        wanted: list[StepName] = [catalog.step(step).name]
    else:
        wanted = [s for s in STEP_ORDER if s in stored or s == current]
    sections: list[tuple[StepName, str]] = []
    for name in wanted:
        text = _live(live, namespace, task, name, tail) if name == current else None
        if text is None and name in stored:
            text = tail_lines(_stored(objects, name, tail), tail)
        if text is not None:
            sections.append((name, text))
    if len(sections) == 1 and step is not None:
        return Logs(logs=sections[0][1], steps=[sections[0][0]])
    body = "".join(f"==> {name} <==\n{text}{'' if text.endswith(chr(10)) or not text else chr(10)}"
                   for name, text in sections)  # fmt: skip
    return Logs(logs=body, steps=[name for name, _ in sections])


def _stored(objects: storage.TaskFiles, step: StepName, tail: int | None) -> str:
    key = contract.LOG_KEY.format(step=step)
    try:
        data = log_end(lambda size: objects.get_tail(key, size), tail)
    except NotFound:
        return ""
    return data.decode("utf-8", errors="replace")


def _live(live: LiveLogs | None, namespace: str, task: TrainingTask, step: StepName, tail: int | None) -> str | None:
    if live is None:
        return None
    try:
        return live.read(namespace, task, step, tail)
    except SovitsError as exc:
        log.info("live log of %s/%s unavailable: %s", task.metadata.name, step, exc.message)
        return None


class KubePodLogs:
    """Live logs from the pods of the step's current Job (every shard of an Indexed Job)."""

    def __init__(self, api: k8s.ApiClient, timeout_s: float = 10.0) -> None:
        self._core = k8s.CoreV1Api(api)
        self._timeout_s = timeout_s

    def read(self, namespace: str, task: TrainingTask, step: StepName, tail: int | None) -> str | None:
        records = [s for s in task.status.steps if s.name == step and s.job_name]
        if not records:
            return None
        job = records[-1].job_name
        try:
            pods = self._core.list_namespaced_pod(
                namespace, label_selector=f"job-name={job}", _request_timeout=self._timeout_s
            ).items
            names = sorted(
                str(pod.metadata.name)
                for pod in pods
                if pod.metadata and pod.status and (pod.status.phase or "Pending") != "Pending"
            )
            texts = []
            for name in names:
                text = self._core.read_namespaced_pod_log(
                    name,
                    namespace,
                    tail_lines=tail,
                    limit_bytes=None if tail is not None else MAX_LOG_BYTES,
                    _request_timeout=self._timeout_s,
                )
                texts.append(text if len(names) == 1 else f"--- pod {name} ---\n{text}")
        except (k8s.ApiException, OSError) as exc:
            raise SovitsError(f"pod logs of job {job}: {exc}") from exc
        return "".join(texts) if texts else None
