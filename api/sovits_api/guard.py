"""Checks made before a request body is read: who is asking, and how much they send.

FastAPI reads a JSON body before it resolves dependencies, so the token check of a route
alone would come after a body of any size was in memory. This plain ASGI middleware runs
first: a request that may carry a body (every method but GET, HEAD and OPTIONS; no public
route takes one) needs a known token (401), and its body, unless it is an upload that streams
to the store under its own limit, is read here up to ``api.max_body_bytes`` (413 past it),
then handed on.
"""

from __future__ import annotations

import re

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sovits_core.errors import SovitsError

from . import errors
from .auth import Tenants

BODYLESS_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class BodyGuard:
    def __init__(self, app: ASGIApp, tenants: Tenants, limit: int, streamed: re.Pattern[str]) -> None:
        """``streamed`` matches the paths whose handlers stream and bound the body themselves."""
        self.app = app
        self.tenants = tenants
        self.limit = limit
        self.streamed = streamed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in BODYLESS_METHODS:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        try:
            self.tenants.authenticate(headers.get("authorization"))
            if self.streamed.fullmatch(scope["path"]):
                await self.app(scope, receive, send)
                return
            body = await self._bounded_body(headers, receive)
        except SovitsError as exc:
            await errors.response(exc)(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)

    async def _bounded_body(self, headers: Headers, receive: Receive) -> bytes:
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.limit:
            raise self._too_large()
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away; the route sees it too
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                raise self._too_large()
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    def _too_large(self) -> errors.PayloadTooLarge:
        return errors.PayloadTooLarge(
            f"body: larger than the limit of {self.limit} bytes (api.max_body_bytes)", field="body"
        )


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
