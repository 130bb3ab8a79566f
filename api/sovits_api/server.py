"""``sovits api``: the REST facade against a cluster, served by uvicorn."""

from __future__ import annotations

import logging

from sovits_core.settings import Settings

from .app import create_app
from .services import cluster_services

log = logging.getLogger(__name__)


def serve(settings: Settings, *, host: str | None = None, port: int | None = None,
          kubeconfig: str | None = None) -> int:  # fmt: skip
    import uvicorn

    if not settings.api.tokens and not settings.api.tokens_secret:
        log.error("no API tokens: set api.tokens (SOVITS_API__TOKENS) or api.tokens_secret")
        return 2
    app = create_app(cluster_services(settings, kubeconfig))
    uvicorn.run(
        app,
        host=host or settings.server.host,
        port=port or settings.server.port,
        log_level="info",
        proxy_headers=True,
    )
    return 0
