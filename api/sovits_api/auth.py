"""Bearer tokens to tenants: each token maps to the namespace whose tasks it may see.

Tokens come from settings (``api.tokens``: token -> namespace) and, when ``api.tokens_secret``
names one, from a Secret in the API's namespace whose keys are tokens and values namespaces
(refreshed in the background, so rotating a token needs no restart). Tokens are kept only as
SHA-256 digests and looked up by digest, so a lookup's timing says nothing about the secret.
A task in another tenant's namespace is simply not found (404), never "forbidden".
"""

from __future__ import annotations

import base64
import hashlib
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass

from .errors import Unauthenticated

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Tenant:
    namespace: str


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Tenants:
    """Who a bearer token is; thread-safe, replaced wholesale on refresh."""

    def __init__(self, static: Mapping[str, str], *, disabled_namespace: str | None = None) -> None:
        """``disabled_namespace`` turns auth off (``sovits local`` on loopback): everyone is that tenant."""
        self._static = {_digest(t): ns for t, ns in static.items()}
        self._dynamic: dict[str, str] = {}
        self._lock = threading.Lock()
        self.disabled_namespace = disabled_namespace

    def replace_secret_tokens(self, tokens: Mapping[str, str]) -> None:
        digests = {_digest(t): ns for t, ns in tokens.items()}
        with self._lock:
            self._dynamic = digests

    def namespaces(self) -> set[str]:
        if self.disabled_namespace is not None:
            return {self.disabled_namespace}
        with self._lock:
            return set(self._static.values()) | set(self._dynamic.values())

    def authenticate(self, authorization: str | None) -> Tenant:
        if self.disabled_namespace is not None:
            return Tenant(self.disabled_namespace)
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("authorization: a bearer token is required", field="authorization")
        digest = _digest(token.strip())
        with self._lock:
            namespace = self._static.get(digest) or self._dynamic.get(digest)
        if namespace is None:
            raise Unauthenticated("authorization: unknown bearer token", field="authorization")
        return Tenant(namespace)


def tokens_from_secret_data(data: Mapping[str, str] | None) -> dict[str, str]:
    """A Secret's ``data`` (base64 values) as token -> namespace; bad entries are skipped."""
    tokens: dict[str, str] = {}
    for token, encoded in (data or {}).items():
        try:
            namespace = base64.b64decode(encoded, validate=True).decode().strip()
        except ValueError:
            log.warning("tokens secret: the value of one key is not base64 text; skipped")
            continue
        if namespace:
            tokens[token] = namespace
    return tokens
