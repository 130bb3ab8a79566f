"""The FastAPI application: the seed's REST API over TrainingTasks.

``create_app(services)`` assembles routers, error translation and metrics; its lifespan runs
the background work (webhook deliveries, refreshing tokens from a Secret) and stops it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from sovits_core import __version__

from . import console, errors, webhooks
from .guard import BodyGuard
from .metrics import MetricsMiddleware
from .routes import curves, dataset, events, files, logs, service, steps, tasks
from .services import Services

log = logging.getLogger(__name__)

DESCRIPTION = """
The GPT-SoVITS training service API (the seed's endpoints, paths and JSON fields), served
over `TrainingTask` objects.

* **Console**: a browser opening `/` gets the web console (its files under `/console/`);
  other clients get the JSON below.
* **Auth**: every route except `/`, `/healthz`, `/readyz`, the docs and the console's files needs
  `Authorization: Bearer <token>`, checked before any body is read; a token belongs to one
  tenant, and another tenant's tasks answer 404.
* **Errors**: `{"detail": "...", "code": "...", "field": "..."}` (`ErrorBody`) for every error
  status. 404 unknown task or file, 400 unknown step / step while another runs / missing
  prerequisites, 422 invalid input (the field is named; malformed JSON names `body`; types are
  strict), 413 upload or body too large (the limit is named), 415 not an accepted audio format
  (an MP4 without an audio stream included).
* **Uploads** are sniffed by content (WAV, MP3, M4A, AAC, FLAC, or a `.list` transcript).
  Filenames lose any directory part, are NFC-normalised, and control characters are refused.
  An existing name is never overwritten: the upload is stored as `name-1.ext`, `name-2.ext`, ...
  and the answer's `filename` says which.
* **Progress**: poll `GET /api/v1/task/{id}` or follow `GET /api/v1/task/{id}/events` (SSE).
  Right after a step is posted the task reads `running` with that step as `current_step`.
* **Webhooks**: `config.webhook_url` (public addresses only, unless the server allows a
  network) receives a POST per finished, failed or cancelled step,
  signed `X-Sovits-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>." + body>`, retried with
  backoff; deliveries are at least once (dedupe on `X-Sovits-Event-Id`).
"""


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    svc: Services = app.state.services
    stop = asyncio.Event()
    background: list[asyncio.Task[None]] = []
    svc.tasks.start()
    if svc.secret_tokens is not None:
        await _refresh_tokens(svc)  # serve with the Secret's tokens from the first request
        background.append(asyncio.create_task(_token_refresher(svc, stop)))
    if svc.webhooks:
        background.append(asyncio.create_task(webhook_worker(svc).run(stop, svc.settings.api.webhook_poll_s)))
    try:
        yield
    finally:
        stop.set()
        for task in background:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task


def webhook_worker(svc: Services) -> webhooks.Worker:
    api = svc.settings.api
    return webhooks.Worker(
        svc.tasks,
        svc.tenants.namespaces,
        secret=api.webhook_secret.get_secret_value().encode() if api.webhook_secret else None,
        max_attempts=api.webhook_max_attempts,
        backoff_s=api.webhook_backoff_s,
        timeout_s=api.webhook_timeout_s,
        allowed_networks=api.webhook_allowed_networks,
        on_outcome=lambda outcome: svc.metrics.webhooks.labels(outcome).inc(),
    )


async def _refresh_tokens(svc: Services) -> None:
    assert svc.secret_tokens is not None
    try:
        svc.tenants.replace_secret_tokens(await asyncio.to_thread(svc.secret_tokens))
    except Exception as exc:  # keep the tokens we had; the next refresh tries again
        log.warning("could not read the tokens Secret: %s", exc)


async def _token_refresher(svc: Services, stop: asyncio.Event) -> None:
    while not stop.is_set():
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), svc.settings.api.tokens_refresh_s)
        if not stop.is_set():
            await _refresh_tokens(svc)


def create_app(services: Services) -> FastAPI:
    app = FastAPI(
        title="GPT-SoVITS training service",
        version=__version__,
        description=DESCRIPTION,
        lifespan=_lifespan,
    )
    app.state.services = services
    errors.install(app)
    app.add_middleware(
        BodyGuard, tenants=services.tenants, limit=services.settings.api.max_body_bytes, streamed=files.STREAMED_BODY
    )
    app.add_middleware(MetricsMiddleware, metrics=services.metrics)
    for module in (service, tasks, steps, files, logs, events, curves, dataset):
        app.include_router(module.router)
    app.mount(console.MOUNT, StaticFiles(directory=console.ROOT), name="console")
    return app
