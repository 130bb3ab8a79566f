"""Prometheus metrics of the API, in a registry per app (tests build many apps in one process)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import Request, Response
from prometheus_client import CollectorRegistry, Counter, Histogram


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

    async def middleware(self, request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        start = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            route = _route_template(request)
            self.latency.labels(request.method, route).observe(time.perf_counter() - start)
            self.requests.labels(request.method, route, str(status)).inc()


def _route_template(request: Request) -> str:
    """The matched path template (``/api/v1/task/{task_id}``), so label values stay few."""
    route = request.scope.get("route")
    return str(getattr(route, "path", "unmatched"))
