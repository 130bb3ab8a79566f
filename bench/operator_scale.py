"""The operator at scale on the kwok control plane: many TrainingTasks, each the full pipeline.

Starts the test control plane (tests/support/cluster.py) with ``--nodes`` fake nodes of
``--gpus`` GPUs and ``--cpu-nodes`` CPU-only nodes (CPU steps are kept off GPU nodes),
starts `sovits operator --all-namespaces` as a child process, creates ``--tasks``
TrainingTasks with ``pipeline: full`` at once, and lets kwok's fast Stages finish every step
pod as soon as it runs. Prints one JSON object on its last line:

- hand-off latency p50/p99/max: a step's Job seen Complete -> the next step's Job seen created,
  both from one watch stream of Jobs kept by this script, so the stream's own delay cancels
  out; the same from the API server's stamps (Job ``status.completionTime`` -> next Job's
  ``metadata.creationTimestamp``, whole seconds) as a cross-check;
- the in-run baseline: the control plane's own hand-off under the same load, a Job seen
  created -> its first pod seen created (kube-controller-manager's Job controller, on the
  same streams), and the ratio of the operator's p99 to it;
- restart: the operator is stopped after the run, a probe task is created, and the operator
  started again with every finished Job and pod of the run retained (``JOB_TTL_S`` 3600):
  seconds from its start to the probe's first Job seen created; the baseline is the same
  figure at the first start, before any task existed;
- tasks completed per second: tasks / (first task created -> last task seen completed);
- the operator's peak RSS: ``VmHWM`` of its process from /proc, read before it is stopped, and
  RSS per 1,000 tasks: (peak - RSS at rest after start) / tasks x 1,000;
- kwok's pods run no step, so nothing writes a task's files; the script writes the one the
  operator reads, asr_transcribe's measurements (an empty set: a report of no clips), into
  each task's folder of the local store beforehand, so the operator records the dataset
  summary once per task, as with real steps, instead of looking for it on every pass;
- API requests per task: every request the operator made, counted by the API server itself.
  The operator authenticates with its own ServiceAccount token, and the API server writes an
  audit event (level Metadata, stage ResponseComplete, or ResponseStarted for watches) for
  that user only; the count includes the operator's start-up lists and watches.

Aims (issue 16, at 1,000 tasks): p99 hand-off <= 1 s, peak RSS <= 150 MB, restart to the
first task's reconcile <= 2 s.
Usage: .venv/bin/python bench/operator_scale.py [--tasks 1000 --nodes 50 --gpus 8]
"""

from __future__ import annotations

import argparse
import collections
import functools
import itertools
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.cluster import Cluster, ClusterInfo, NodePool  # noqa: E402
from tests.support.operator_process import OperatorProcess  # noqa: E402

from sovits_core.catalog import STEP_ORDER  # noqa: E402
from sovits_core.contract import DATASET_AUDIO_KEY  # noqa: E402
from sovits_core.storage import LocalObjectStore  # noqa: E402

NAMESPACE = "bench"
OPERATOR_NS = "sovits-system"
OPERATOR_SA = "sovits-operator"
OPERATOR_USER = f"system:serviceaccount:{OPERATOR_NS}:{OPERATOR_SA}"
AIMS = {"handoff_p99_s": 1.0, "operator_peak_rss_mb": 150.0, "restart_first_job_s": 2.0}
PROBE_PREFIX = "probe-"

AUDIT_POLICY = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived"],
    "rules": [{"level": "Metadata", "users": [OPERATOR_USER]}, {"level": "None"}],
}


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def stamp(text: str | None) -> float | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() if text else None


@dataclass
class JobSeen:
    task: str
    step: str
    attempt: int
    created_seen: float | None = None
    complete_seen: float | None = None
    created: float | None = None  # API server stamps (whole seconds)
    completed: float | None = None
    pod_seen: float | None = None  # its first pod, created by the Job controller


@dataclass
class Watched:
    """What the watch streams saw, with this process's monotonic receipt times."""

    jobs: dict[str, JobSeen] = field(default_factory=dict)
    pods_first_seen: dict[str, float] = field(default_factory=dict)  # Job name -> its first pod
    completed_tasks: dict[str, float] = field(default_factory=dict)
    failed_tasks: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)


def stream(lister: Any, on_event: Any, stop: threading.Event, errors: list[BaseException]) -> None:
    """A raw watch through ``lister`` (no model deserialisation: this process must stay light),
    resumed from the last resourceVersion whenever the server ends it."""
    version = ""
    try:
        while not stop.is_set():
            response = lister(watch=True, resource_version=version or None, allow_watch_bookmarks=True,
                              timeout_seconds=240, _preload_content=False)  # fmt: skip
            buffer = b""
            for chunk in response.stream(65536):
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in filter(None, (raw.strip() for raw in lines)):
                    event = json.loads(line)
                    if event["type"] == "ERROR":  # resourceVersion too old: the next watch lists anew
                        version = ""
                        continue
                    version = event["object"]["metadata"].get("resourceVersion", version)
                    if event["type"] != "BOOKMARK":
                        on_event(event["type"], event["object"], time.monotonic())
                if stop.is_set():
                    break
            response.release_conn()
    except Exception as exc:
        if not stop.is_set():  # the cluster going away at the end is no failure
            errors.append(exc)


def on_job(watched: Watched) -> Any:
    def handle(kind: str, job: dict[str, Any], seen: float) -> None:
        labels = job["metadata"].get("labels", {})
        if "sovits.io/step" not in labels or kind == "DELETED":
            return
        name = job["metadata"]["name"]
        with watched.lock:
            record = watched.jobs.get(name)
            if record is None:
                record = watched.jobs[name] = JobSeen(
                    labels["sovits.io/task"], labels["sovits.io/step"], int(labels["sovits.io/attempt"])
                )
            if record.created_seen is None:
                record.created_seen = seen
                record.created = stamp(job["metadata"].get("creationTimestamp"))
                record.pod_seen = watched.pods_first_seen.get(name)
            conditions = job.get("status", {}).get("conditions") or []
            done = any(c["type"] == "Complete" and c["status"] == "True" for c in conditions)
            if done and record.complete_seen is None:
                record.complete_seen = seen
                record.completed = stamp(job["status"].get("completionTime"))

    return handle


def on_pod(watched: Watched) -> Any:
    def handle(kind: str, pod: dict[str, Any], seen: float) -> None:
        labels = pod["metadata"].get("labels", {})
        job = labels.get("batch.kubernetes.io/job-name") or labels.get("job-name")
        if "sovits.io/step" not in labels or not job or kind == "DELETED":
            return
        with watched.lock:
            watched.pods_first_seen.setdefault(job, seen)
            record = watched.jobs.get(job)
            if record is not None and record.pod_seen is None:
                record.pod_seen = seen

    return handle


def job_to_pod(watched: Watched) -> list[float]:
    """The control plane's own hand-off: a Job seen created -> its first pod seen created."""
    return [
        job.pod_seen - job.created_seen
        for job in watched.jobs.values()
        if job.pod_seen is not None and job.created_seen is not None and not job.task.startswith(PROBE_PREFIX)
    ]


def first_job_seen(watched: Watched, task: str) -> float | None:
    with watched.lock:
        return min((j.created_seen for j in watched.jobs.values() if j.task == task and j.created_seen), default=None)


def on_task(watched: Watched) -> Any:
    def handle(kind: str, task: dict[str, Any], seen: float) -> None:
        phase = (task.get("status") or {}).get("phase")
        name = task["metadata"]["name"]
        if name.startswith(PROBE_PREFIX):
            return
        with watched.lock:
            if phase == "completed":
                watched.completed_tasks.setdefault(name, seen)
            elif phase == "failed":
                watched.failed_tasks.add(name)

    return handle


def handoffs(watched: Watched) -> tuple[list[float], list[float]]:
    """Seen and server-stamped gaps between consecutive steps' first attempts."""
    by_task: dict[str, dict[str, JobSeen]] = collections.defaultdict(dict)
    for job in watched.jobs.values():
        if job.attempt == 1:
            by_task[job.task][job.step] = job
    seen: list[float] = []
    server: list[float] = []
    for steps in by_task.values():
        for before, after in itertools.pairwise(STEP_ORDER):
            a, b = steps.get(before), steps.get(after)
            if a is None or b is None:
                continue
            if a.complete_seen is not None and b.created_seen is not None:
                seen.append(b.created_seen - a.complete_seen)
            if a.completed is not None and b.created is not None:
                server.append(b.created - a.completed)
    return seen, server


def audit_counts(log: Path) -> tuple[collections.Counter[str], collections.Counter[str]]:
    """Requests of the operator's user by verb, and by verb and resource ("patch
    trainingtasks/status"), one per audit ID (watches count once)."""
    counts: collections.Counter[str] = collections.Counter()
    by_resource: collections.Counter[str] = collections.Counter()
    seen: set[str] = set()
    with log.open(encoding="utf-8") as lines:
        for line in lines:
            event = json.loads(line)
            if event.get("user", {}).get("username") != OPERATOR_USER or event["auditID"] in seen:
                continue
            seen.add(event["auditID"])
            counts[event["verb"]] += 1
            ref = event.get("objectRef") or {}
            resource = "/".join(filter(None, (ref.get("resource"), ref.get("subresource"))))
            by_resource[f"{event['verb']} {resource}"] += 1
    return counts, by_resource


def token_kubeconfig(info: ClusterInfo, path: Path) -> Path:
    """A kubeconfig for the operator's ServiceAccount (bound to cluster-admin: the bench measures
    load, test_install.py and test_service_accounts_suffice.py the permissions)."""
    info.apply(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": OPERATOR_NS}},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": OPERATOR_SA, "namespace": OPERATOR_NS}},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "bench-operator"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
            "subjects": [{"kind": "ServiceAccount", "name": OPERATOR_SA, "namespace": OPERATOR_NS}],
        },
    )
    admin = json.loads(info.kubectl("config", "view", "--minify", "--raw", "-o", "json"))
    token = info.kubectl("create", "token", OPERATOR_SA, "-n", OPERATOR_NS, "--duration=6h").strip()
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "bench", "cluster": admin["clusters"][0]["cluster"]}],
                "users": [{"name": OPERATOR_USER, "user": {"token": token}}],
                "contexts": [{"name": "bench", "context": {"cluster": "bench", "user": OPERATOR_USER}}],
                "current-context": "bench",
            }
        )
    )
    return path


def probe_doc(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "sovits.io/v1alpha1",
        "kind": "TrainingTask",
        "metadata": {"name": f"{PROBE_PREFIX}{name}", "namespace": NAMESPACE},
        "spec": {"expName": name, "steps": [{"name": "convert_audio"}]},
    }


def started_to_first_job(
    operator: OperatorProcess, watched: Watched, info: ClusterInfo, probe: str, timeout: float = 120
) -> float:
    """Create ``probe`` while the operator is stopped, start it: seconds to the probe's first Job."""
    info.apply(probe_doc(probe))
    started = time.monotonic()
    operator.start()
    while time.monotonic() < started + timeout:
        seen = first_job_seen(watched, f"{PROBE_PREFIX}{probe}")
        if seen is not None:
            return seen - started
        time.sleep(0.05)
    raise TimeoutError(f"no Job for probe {probe} within {timeout}s of the operator's start")


def vm_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def seed_measurements(store: Path, count: int) -> None:
    """asr_transcribe's measurements document in every task's folder, as the step leaves it."""
    files = LocalObjectStore(store)
    for i in range(count):
        files.put_bytes(f"tasks/t{i:04d}/{DATASET_AUDIO_KEY}", json.dumps({"clips": []}).encode())


def task_docs(count: int) -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": "sovits.io/v1alpha1",
            "kind": "TrainingTask",
            "metadata": {"name": f"t{i:04d}", "namespace": NAMESPACE},
            "spec": {"expName": f"speaker{i}", "pipeline": "full", "gpu": {"count": 1}},
        }
        for i in range(count)
    ]


def vm_hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def reconcile_figures(metrics_text: str) -> dict[str, float]:
    """Reconcile passes (those skipped as at rest among them) and their mean duration, from the
    operator's own /metrics."""
    wanted = ("reconciles_total", "reconcile_duration_seconds_sum", "reconcile_duration_seconds_count")
    values: dict[str, float] = collections.defaultdict(float)
    for line in metrics_text.splitlines():
        name, _, value = line.partition(" ")
        short = name.split("{")[0].removeprefix("sovits_operator_")
        if short in wanted:
            values[short] += float(value)
            if short == "reconciles_total" and 'result="skipped"' in name:
                values["skipped"] += float(value)
    count = values["reconcile_duration_seconds_count"]
    mean = values["reconcile_duration_seconds_sum"] / count if count else 0.0
    return {
        "reconciles": int(values["reconciles_total"]),
        "reconciles_skipped": int(values["skipped"]),
        "reconcile_mean_s": round(mean, 3),
    }


def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    from kubernetes import client, config

    policy = workdir / "audit-policy.yaml"
    policy.write_text(yaml.safe_dump(AUDIT_POLICY))
    pools = (
        NodePool("gpu-node", args.nodes, args.gpus, labels={"nvidia.com/gpu.present": "true"}),
        NodePool("cpu-node", args.cpu_nodes, 0, cpu="1024", memory="8Ti"),
    )
    cluster = Cluster(workdir / "cluster", pools=pools, kwokctl_args=(f"--kube-audit-policy={policy}",))
    (workdir / "cluster").mkdir()
    started = time.monotonic()
    info = cluster.start()
    print(f"cluster up in {time.monotonic() - started:.0f}s", file=sys.stderr)
    operator: OperatorProcess | None = None
    stop = threading.Event()
    try:
        info.kubectl("create", "namespace", NAMESPACE)
        env = {
            "KUBECONFIG": str(token_kubeconfig(info, workdir / "operator.kubeconfig")),
            # Progress reads go to an empty local store: the bench measures the operator, not S3.
            "SOVITS_STORAGE__BACKEND": "local",
            "SOVITS_STORAGE__LOCAL_ROOT": str(workdir / "store"),
            "SOVITS_OPERATOR__METRICS_HOST": "127.0.0.1",
            # Every finished Job and pod is still there when the operator restarts at the end.
            "SOVITS_OPERATOR__JOB_TTL_S": "3600",
            **dict(item.split("=", 1) for item in args.operator_env),
        }
        seed_measurements(workdir / "store", args.tasks)
        operator = OperatorProcess(info, None, workdir, env=env)

        config.load_kube_config(config_file=str(info.kubeconfig))  # type: ignore[no-untyped-call]
        api = client.ApiClient()
        batch, custom, core = client.BatchV1Api(api), client.CustomObjectsApi(api), client.CoreV1Api(api)
        watched = Watched()
        errors: list[BaseException] = []
        listers = [
            (functools.partial(batch.list_namespaced_job, NAMESPACE), on_job(watched)),
            (functools.partial(core.list_namespaced_pod, NAMESPACE), on_pod(watched)),
            (functools.partial(custom.list_namespaced_custom_object, "sovits.io", "v1alpha1", NAMESPACE,
                               "trainingtasks"), on_task(watched)),
        ]  # fmt: skip
        watchers = [
            threading.Thread(target=stream, args=(lister, handler, stop, errors), daemon=True)
            for lister, handler in listers
        ]
        for thread in watchers:
            thread.start()
        time.sleep(1)  # the watches established before the first task exists

        cold_start_s = started_to_first_job(operator, watched, info, "cold")
        assert operator.proc is not None
        time.sleep(2)
        rest_rss = vm_rss_mb(operator.proc.pid)
        cpu_before = cpu_seconds(operator.proc.pid)
        first_created = time.monotonic()
        info.kubectl("create", "-f", "-", input=yaml.safe_dump_all(task_docs(args.tasks)), timeout=600)
        created_s = time.monotonic() - first_created
        print(f"{args.tasks} tasks created in {created_s:.1f}s", file=sys.stderr)

        deadline = first_created + args.timeout
        last_report = 0.0
        while time.monotonic() < deadline:
            with watched.lock:
                done, failed = len(watched.completed_tasks), len(watched.failed_tasks)
            if done + failed >= args.tasks:
                break
            if errors:
                raise RuntimeError("a watch of this script failed") from errors[0]
            if time.monotonic() - last_report > 15:
                last_report = time.monotonic()
                print(f"  {time.monotonic() - first_created:5.0f}s: {done} completed, {failed} failed, "
                      f"{len(watched.jobs)} Jobs, operator RSS peak {vm_hwm_mb(operator.proc.pid):.0f} MB",
                      file=sys.stderr)  # fmt: skip
            time.sleep(0.5)
        peak_rss = vm_hwm_mb(operator.proc.pid)
        operator_cpu = cpu_seconds(operator.proc.pid) - cpu_before
        load = os.getloadavg()[0]
        reconciles = reconcile_figures(operator.metrics())
        counts, by_resource = audit_counts(cluster.logs / "audit.log")  # the run's, before the restart

        operator.stop()
        retained_jobs = len(info.kubectl("get", "jobs", "-n", NAMESPACE, "-o", "name").split())
        retained_pods = len(info.kubectl("get", "pods", "-n", NAMESPACE, "-o", "name").split())
        restart_s = started_to_first_job(operator, watched, info, "restart")
        restart_rss = vm_hwm_mb(operator.proc.pid)
        restart_reconciles = reconcile_figures(operator.metrics())
        with watched.lock:
            finished = list(watched.completed_tasks.values())
            failed_count = len(watched.failed_tasks)
            seen, server = handoffs(watched)
            baseline = job_to_pod(watched)
            jobs = len([j for j in watched.jobs.values() if not j.task.startswith(PROBE_PREFIX)])
        wall = (max(finished) - first_created) if finished else None
        total_requests = sum(counts.values())
        result: dict[str, Any] = {
            "tasks": args.tasks,
            "nodes": args.nodes,
            "gpus_per_node": args.gpus,
            "cpu_nodes": args.cpu_nodes,
            "steps_per_task": len(STEP_ORDER),
            "completed": len(finished),
            "failed": failed_count,
            "jobs": jobs,
            "create_s": round(created_s, 1),
            "wall_s": round(wall, 1) if wall else None,
            "tasks_per_s": round(len(finished) / wall, 3) if wall else None,
            "handoffs": len(seen),
            "handoff_p50_s": _r(percentile(seen, 0.50)),
            "handoff_p99_s": _r(percentile(seen, 0.99)),
            "handoff_max_s": _r(max(seen) if seen else None),
            "handoff_mean_s": _r(statistics.fmean(seen) if seen else None),
            "handoff_server_p50_s": _r(percentile(server, 0.50)),
            "handoff_server_p99_s": _r(percentile(server, 0.99)),
            "baseline_job_to_pod_p50_s": _r(percentile(baseline, 0.50)),
            "baseline_job_to_pod_p99_s": _r(percentile(baseline, 0.99)),
            "handoff_p99_vs_baseline_p99": _ratio(percentile(seen, 0.99), percentile(baseline, 0.99)),
            "restart_retained_jobs": retained_jobs,
            "restart_retained_pods": retained_pods,
            "restart_first_job_s": round(restart_s, 2),
            "baseline_cold_start_first_job_s": round(cold_start_s, 2),
            "restart_vs_cold_start": _ratio(restart_s, cold_start_s),
            "restart_peak_rss_mb": round(restart_rss, 1),
            # Passes counted by the restarted operator up to the probe's first Job (and a little after).
            "restart_reconciles": restart_reconciles["reconciles"],
            "restart_reconciles_skipped": restart_reconciles["reconciles_skipped"],
            "operator_peak_rss_mb": round(peak_rss, 1),
            "operator_rest_rss_mb": round(rest_rss, 1),
            "rss_per_1000_tasks_mb": round((peak_rss - rest_rss) / args.tasks * 1000, 1),
            # How busy the operator was (1.0 = one core for the whole run), and the machine.
            "operator_cpu_s": round(operator_cpu, 1),
            "operator_cpu_share": round(operator_cpu / wall, 2) if wall else None,
            "load_avg_1m": round(load, 2),
            **reconciles,
            "cpus": os.cpu_count(),
            "api_requests": total_requests,
            "api_requests_per_task": round(total_requests / args.tasks, 1),
            "api_requests_by_verb": dict(counts.most_common()),
            "api_requests_by_resource": dict(by_resource.most_common()),
            "operator_env": args.operator_env,
            "aims": AIMS,
        }
        p99 = result["handoff_p99_s"]
        result["meets_aims"] = {
            "handoff_p99_s": p99 is not None and p99 <= AIMS["handoff_p99_s"],
            "operator_peak_rss_mb": peak_rss <= AIMS["operator_peak_rss_mb"],
            "restart_first_job_s": restart_s <= AIMS["restart_first_job_s"],
        }
        return result
    finally:
        stop.set()
        if operator is not None:
            operator.stop()
        cluster.stop()


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _ratio(value: float | None, baseline: float | None) -> float | None:
    return None if value is None or not baseline else round(value / baseline, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--nodes", type=int, default=50)
    parser.add_argument("--gpus", type=int, default=8, help="GPUs per node")
    parser.add_argument("--cpu-nodes", type=int, default=20, help="CPU-only nodes (110 pods each)")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds to wait for every task")
    parser.add_argument("--workdir", type=Path, default=None, help="keep the cluster's files here")
    parser.add_argument("--operator-env", action="append", default=[], metavar="NAME=VALUE",
                        help="extra operator settings, e.g. SOVITS_OPERATOR__PROGRESS_INTERVAL_S=60")  # fmt: skip
    args = parser.parse_args()
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
        result = run(args, args.workdir)
    else:
        with tempfile.TemporaryDirectory(prefix="sovits-bench-") as tmp:
            result = run(args, Path(tmp))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
