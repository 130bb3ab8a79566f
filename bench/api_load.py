"""REST facade under load: 1,000 tasks in the store, one uvicorn worker, fixed concurrency.

For each backend (``sqlite``: the SQLite task store of ``sovits local``; ``kube``: TrainingTask
objects in the real test control plane, served by ``sovits api`` as a process) it fills the
store, starts the server, and measures at ``--concurrency`` clients for ``--seconds`` each:
- ``healthz``: the framework's own floor (the baseline of the same run);
- ``get_task``: ``GET /api/v1/task/{id}`` of random tasks (aims, issue 16: p99 <= 20 ms on
  kube, served from the API's watch-fed cache, and <= 10 ms on sqlite);
- ``list_page``: ``GET /api/v1/tasks?limit=N``, each client walking every page by its
  continue token and starting over;
- ``list_all``: the seed's plain ``GET /api/v1/tasks`` (all 1,000), one client.
Each task holds four step requests and their completed records, as a task mid-pipeline does.

Prints progress lines, then one JSON object on the last line: per backend and workload
``rps``, ``p50_ms``, ``p99_ms``, ``errors``; ``get_task_p99_vs_healthz`` per backend.

Usage: python bench/api_load.py [--backend sqlite|kube|both] [--tasks 1000] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from sovits_api.store import TaskStore
from sovits_core.model import TrainingTaskSpec, TrainingTaskStatus

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # tests.support (ports, the control plane) is imported from the checkout

TOKEN = "bench-token"
NAMESPACE = "bench"
PREP = ("convert_audio", "slice_audio", "denoise_audio", "asr_transcribe")
AIM_GET_TASK_P99_MS = {"kube": 20.0, "sqlite": 10.0}


# -- the store ---------------------------------------------------------------------------------


def fill(
    store: TaskStore, namespace: str, count: int, write_status: Callable[[str, TrainingTaskStatus], None]
) -> list[str]:
    """``count`` tasks through the store's own create and append_step, then the operator's status."""
    from sovits_api.mutations import step_request

    def one(n: int) -> str:
        task_id = str(uuid.uuid4())
        spec = TrainingTaskSpec.model_validate({"taskName": f"bench {n}", "expName": f"speaker{n}", "language": "en"})
        store.create(namespace, task_id, spec, {"bench": "api-load"})
        records = []
        for step in PREP:
            task = store.append_step(namespace, task_id, step_request(step, {}))
            request_id = task.spec.steps[-1].request_id
            records.append({"name": step, "phase": "completed", "requestId": request_id, "progress": 100.0})
            write_status(task_id, TrainingTaskStatus.model_validate(
                {"phase": "completed", "progress": 100.0, "currentStep": step, "steps": records}
            ))  # fmt: skip
        return task_id

    with ThreadPoolExecutor(16) as pool:
        return list(pool.map(one, range(count)))


# -- servers -----------------------------------------------------------------------------------


def serve_sqlite(db: Path, root: Path, port: int) -> None:
    """The child process: the app over the SQLite store, one uvicorn worker."""
    import uvicorn

    from sovits_api.app import create_app
    from sovits_api.auth import Tenants
    from sovits_api.services import Services
    from sovits_core.settings import Settings
    from sovits_core.storage import open_store
    from sovits_local.store import SqliteTaskStore

    settings = Settings.model_validate({"storage": {"backend": "local", "local_root": str(root)}})
    services = Services(
        settings=settings,
        tasks=SqliteTaskStore.open(db),
        objects=open_store(settings.storage),
        tenants=Tenants({TOKEN: NAMESPACE}),
    )
    uvicorn.run(create_app(services), host="127.0.0.1", port=port, workers=1, log_level="warning")


@contextmanager
def server(argv: list[str], env: dict[str, str], port: int, log: Path) -> Iterator[str]:
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=REPO)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not become ready:\n{log.read_text(errors='replace')[-3000:]}")
            try:
                with urllib.request.urlopen(f"{url}/readyz", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# -- load --------------------------------------------------------------------------------------


class Connection:
    """One keep-alive HTTP/1.1 connection speaking just enough for these GETs.

    The load generator shares the machine with the server; a client this small leaves the
    server most of the CPU, where a full client library would take a core of its own.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, target: str) -> tuple[int, dict[str, str], bytes]:
        if self.writer is None or self.reader is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        request = f"GET {target} HTTP/1.1\r\nHost: {self.host}\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"
        self.writer.write(request.encode())
        head = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        status = int(head[0].split(" ", 2)[1])
        headers = {}
        for line in head[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        body = await self.reader.readexactly(int(headers.get("content-length", "0")))
        return status, headers, body

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


Request = Callable[[Connection, int], Awaitable[bool]]


async def measure(url: str, clients: int, seconds: float, request: Request) -> dict[str, float]:
    """``clients`` loops calling ``request`` back to back for ``seconds`` (after a 1 s warm-up)."""
    host, port = urlsplit(url).hostname or "127.0.0.1", urlsplit(url).port or 80
    latencies: list[float] = []
    errors = 0
    start = time.perf_counter()
    warm_until = start + 1.0
    stop_at = warm_until + seconds

    async def loop(worker: int) -> None:
        nonlocal errors
        connection = Connection(host, port)
        try:
            while (began := time.perf_counter()) < stop_at:
                try:
                    ok = await request(connection, worker)
                except (OSError, asyncio.IncompleteReadError, ValueError):
                    connection.close()
                    connection = Connection(host, port)
                    ok = False
                if began >= warm_until:
                    latencies.append(time.perf_counter() - began)
                    errors += 0 if ok else 1
        finally:
            connection.close()

    await asyncio.gather(*(loop(w) for w in range(clients)))
    ms = sorted(x * 1000 for x in latencies)
    return {
        "requests": len(ms),
        "rps": round(len(ms) / seconds, 1),
        "p50_ms": round(statistics.median(ms), 2) if ms else float("nan"),
        "p99_ms": round(ms[min(len(ms) - 1, int(len(ms) * 0.99))], 2) if ms else float("nan"),
        "errors": errors,
    }


def workloads(task_ids: list[str], page_size: int) -> dict[str, tuple[Request, bool]]:
    """name -> (one request of a client, whether it runs at full concurrency)."""
    rng = random.Random(7)
    tokens: dict[int, str] = {}

    async def healthz(http: Connection, _: int) -> bool:
        return (await http.get("/healthz"))[0] == 200

    async def get_task(http: Connection, _: int) -> bool:
        return (await http.get(f"/api/v1/task/{rng.choice(task_ids)}"))[0] == 200

    async def list_page(http: Connection, worker: int) -> bool:
        query = {"limit": page_size, **({"continue": tokens[worker]} if worker in tokens else {})}
        status, headers, _ = await http.get(f"/api/v1/tasks?{urlencode(query)}")
        token = headers.get("x-continue-token")
        if token:
            tokens[worker] = token
        else:
            tokens.pop(worker, None)  # the last page: start over
        return status == 200

    async def list_all(http: Connection, _: int) -> bool:
        status, _, body = await http.get("/api/v1/tasks")
        return status == 200 and len(json.loads(body)) >= len(task_ids)

    return {
        "healthz": (healthz, True),
        "get_task": (get_task, True),
        "list_page": (list_page, True),
        "list_all": (list_all, False),
    }


def run_load(url: str, task_ids: list[str], args: argparse.Namespace, backend: str) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for name, (request, concurrent) in workloads(task_ids, args.page_size).items():
        clients = args.concurrency if concurrent else 1
        results[name] = asyncio.run(measure(url, clients, args.seconds, request))
        print(f"  {name}: {results[name]}", flush=True)
    results["get_task_p99_vs_healthz"] = round(results["get_task"]["p99_ms"] / results["healthz"]["p99_ms"], 2)
    results["meets_aim"] = results["get_task"]["p99_ms"] <= AIM_GET_TASK_P99_MS[backend]
    return results


# -- backends ----------------------------------------------------------------------------------


def bench_sqlite(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from sovits_local.store import SqliteTaskStore

    db = work / "tasks.db"
    store = SqliteTaskStore.open(db)
    started = time.perf_counter()

    def write_status(task_id: str, status: TrainingTaskStatus) -> None:
        store.update_status(NAMESPACE, task_id, status)

    ids = fill(store, NAMESPACE, args.tasks, write_status)
    print(f"sqlite: {len(ids)} tasks stored in {time.perf_counter() - started:.1f}s", flush=True)
    store.close()
    from tests.support.ports import free_ports

    (port,) = free_ports(1)
    argv = [sys.executable, __file__, "--serve-sqlite", str(db), "--root", str(work / "files"), "--port", str(port)]
    with server(argv, dict(os.environ), port, work / "sqlite-server.log") as url:
        return run_load(url, ids, args, "sqlite")


def bench_kube(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from kubernetes import client as k8s
    from tests.support.cluster import Cluster
    from tests.support.ports import free_ports

    from sovits_api.kube_store import KubeTaskStore, api_client
    from sovits_core.model import GROUP, PLURAL, VERSION

    control_plane = Cluster(work / "cluster")
    (work / "cluster").mkdir()
    try:
        info = control_plane.start()
        info.kubectl("create", "namespace", NAMESPACE)
        api = api_client(str(info.kubeconfig))
        api.configuration.connection_pool_maxsize = 32
        objects = k8s.CustomObjectsApi(api)

        def write_status(task_id: str, status: TrainingTaskStatus) -> None:
            body = {"status": status.wire()}
            objects.patch_namespaced_custom_object_status(GROUP, VERSION, NAMESPACE, PLURAL, task_id, body)

        started = time.perf_counter()
        ids = fill(KubeTaskStore(api, ping_namespace=NAMESPACE, cache=False), NAMESPACE, args.tasks, write_status)
        print(f"kube: {len(ids)} TrainingTasks stored in {time.perf_counter() - started:.1f}s", flush=True)
        (port,) = free_ports(1)
        env = {
            **info.env,
            "SOVITS_STORAGE__BACKEND": "local",
            "SOVITS_STORAGE__LOCAL_ROOT": str(work / "files"),
            "SOVITS_API__TOKENS": json.dumps({TOKEN: NAMESPACE}),
            "SOVITS_API__DEFAULT_NAMESPACE": NAMESPACE,
        }
        argv = [sys.executable, "-m", "sovits_cli.main", "api", "--host", "127.0.0.1", "--port", str(port)]
        with server(argv, env, port, work / "kube-server.log") as url:
            return run_load(url, ids, args, "kube")
    finally:
        control_plane.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "kube", "both"], default="both")
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0, help="measured time per workload")
    parser.add_argument("--page-size", type=int, default=50)
    parser.add_argument("--serve-sqlite", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_sqlite:
        serve_sqlite(args.serve_sqlite, args.root, args.port)
        return

    result: dict[str, Any] = {
        "tasks": args.tasks,
        "concurrency": args.concurrency,
        "uvicorn_workers": 1,
        "page_size": args.page_size,
        "seconds_per_workload": args.seconds,
        "cpus": os.cpu_count(),
        "aim_get_task_p99_ms": AIM_GET_TASK_P99_MS,
        "load_avg_1m_at_start": round(os.getloadavg()[0], 2),
    }
    backends = ["sqlite", "kube"] if args.backend == "both" else [args.backend]
    with tempfile.TemporaryDirectory(prefix="api-load-") as tmp:
        for backend in backends:
            work = Path(tmp) / backend
            work.mkdir()
            result[backend] = (bench_sqlite if backend == "sqlite" else bench_kube)(args, work)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
