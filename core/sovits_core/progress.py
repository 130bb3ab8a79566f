"""Reading a running step's own progress report (``progress/{step}.json``, written by the runner)."""

from __future__ import annotations

import json
import logging

from . import contract
from .errors import NotFound, SovitsError
from .storage import ObjectStore

log = logging.getLogger(__name__)


def read_progress(store: ObjectStore, prefix: str, step: str) -> float | None:
    """The step's last reported percentage, or None when it reported none yet (blocking)."""
    try:
        report = json.loads(store.get_bytes(prefix + contract.PROGRESS_KEY.format(step=step)))
        return float(report["progress"])
    except NotFound:
        return None
    except (SovitsError, ValueError, KeyError, TypeError) as exc:
        log.info("no progress for %s%s: %s", prefix, step, exc)
        return None
