"""Prometheus metrics and the liveness endpoint of the operator (kopf ships neither /metrics).

One small aiohttp server on the operator's own loop serves ``/metrics`` and ``/healthz``; it
answering at all is the liveness signal, since it shares the loop with every handler.
"""

from __future__ import annotations

from collections import Counter as Tally

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

RECONCILES = Counter("sovits_operator_reconciles_total", "Reconcile passes of TrainingTasks.", ["result"])
RECONCILE_SECONDS = Histogram(
    "sovits_operator_reconcile_duration_seconds",
    "Time of one reconcile, from reading the task to the last action.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
TASKS = Gauge("sovits_operator_tasks", "TrainingTasks this operator knows, by phase.", ["phase"])
JOBS_CREATED = Counter("sovits_operator_jobs_created_total", "Step Jobs created.", ["step"])
ERRORS = Counter("sovits_operator_errors_total", "Errors met while reconciling, by error code.", ["code"])


class Phases:
    """Keeps the tasks-by-phase gauge in step with the phase each task was last seen in."""

    def __init__(self) -> None:
        self._phase: dict[str, str] = {}
        self._counts: Tally[str] = Tally()

    def set(self, uid: str, phase: str) -> None:
        old = self._phase.get(uid)
        if old == phase:
            return
        if old is not None:
            self._counts[old] -= 1
            TASKS.labels(old).set(self._counts[old])
        self._phase[uid] = phase
        self._counts[phase] += 1
        TASKS.labels(phase).set(self._counts[phase])

    def forget(self, uid: str) -> None:
        old = self._phase.pop(uid, None)
        if old is not None:
            self._counts[old] -= 1
            TASKS.labels(old).set(self._counts[old])


async def _metrics(_: web.Request) -> web.Response:
    response = web.Response(body=generate_latest())
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response


async def _healthz(_: web.Request) -> web.Response:
    return web.Response(text="ok\n")


async def serve(host: str, port: int) -> web.AppRunner:
    """Start the metrics/health server; the caller keeps the runner to stop it."""
    app = web.Application()
    app.router.add_get("/metrics", _metrics)
    app.router.add_get("/healthz", _healthz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
