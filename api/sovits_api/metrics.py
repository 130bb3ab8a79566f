"""Prometheus metrics of the API, in a registry per app (tests build many apps in one process)."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "sovits_api_requests_total", "HTTP requests by route and status.",
            ["method", "route", "status"], registry=self.registry,
        )  # fmt: skip
        self.latency = Histogram(
            "sovits_api_request_seconds", "HTTP request latency by route.",
            ["method", "route"], registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )  # fmt: skip
        self.tasks_created = Counter("sovits_api_tasks_created_total", "Tasks created.", registry=self.registry)
        self.steps_requested = Counter(
            "sovits_api_steps_requested_total", "Step requests accepted.", ["step"], registry=self.registry
        )
        self.upload_bytes = Counter(
            "sovits_api_upload_bytes_total", "Bytes of accepted uploads.", registry=self.registry
        )
        self.webhooks = Counter(
            "sovits_api_webhook_deliveries_total", "Webhook delivery attempts by outcome.",
            ["outcome"], registry=self.registry,
        )  # fmt: skip


class MetricsMiddleware:
    """Counts requests and times them to the response headers, by route template.

    Plain ASGI: Starlette's ``BaseHTTPMiddleware`` would add a task group and a body stream to
    every request, a cost that shows in the latency of the small GETs clients poll with.
    """

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500
        timed = False

        def observe() -> None:
            nonlocal timed
            if not timed:
                timed = True
                elapsed = time.perf_counter() - start
                self.metrics.latency.labels(scope["method"], _route_template(scope)).observe(elapsed)

        async def send_timed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                observe()  # a stream (SSE, a download) is timed to its first byte, not its end
            await send(message)

        try:
            await self.app(scope, receive, send_timed)
        finally:
            observe()
            self.metrics.requests.labels(scope["method"], _route_template(scope), str(status)).inc()


def _route_template(scope: Scope) -> str:
    """The matched path template (``/api/v1/task/{task_id}``), so label values stay few."""
    route = scope.get("route")
    return str(getattr(route, "path", "unmatched"))
