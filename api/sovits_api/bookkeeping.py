"""Annotations the API keeps on a TrainingTask: when a client last changed it, which webhook
events went out. Both live on the object so every API replica and restart agrees on them.
"""

from __future__ import annotations

import json
from datetime import datetime

from sovits_core.model import TrainingTask

UPDATED_AT = "sovits.io/updated-at"
WEBHOOKS_DELIVERED = "sovits.io/webhooks-delivered"
# Enough to cover every step of a task several times over; older ids are dropped first.
MAX_DELIVERED = 256


def of(task: TrainingTask) -> dict[str, str]:
    raw = getattr(task.metadata, "annotations", None)
    return dict(raw) if isinstance(raw, dict) else {}


def updated_at(task: TrainingTask) -> datetime | None:
    value = of(task).get(UPDATED_AT)
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def delivered(task: TrainingTask) -> list[str]:
    value = of(task).get(WEBHOOKS_DELIVERED)
    try:
        ids = json.loads(value) if value else []
    except ValueError:
        return []
    return [str(i) for i in ids] if isinstance(ids, list) else []


def with_delivered(existing: list[str], event_id: str) -> str:
    ids = [i for i in existing if i != event_id] + [event_id]
    return json.dumps(ids[-MAX_DELIVERED:], separators=(",", ":"))
