"""The newest TrainingTask bodies seen, so a reconcile pass needs no fresh read of its task.

Bodies arrive from the watch stream and from our own status writes (a patch answers with the
object as written, ahead of the stream). Only the operator writes status, so the newest body
seen holds the recorded status; a spec change still on its way arrives as a watch event and
triggers a pass of its own. A body replaces another only when its resourceVersion is at
least as high: a late watch event must not bring back a status we have since overwritten.
resourceVersions are compared as the integers the API server hands out (etcd revisions);
one that is not an integer is not kept, and the pass reads the task fresh, as it did before.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

Key = tuple[str, str]  # namespace, name

# What reconcile, the Job builder and Event posting read from the metadata. Not the
# managedFields nor kopf's annotations, which would double the memory of every body.
METADATA_KEPT = ("name", "namespace", "uid", "generation", "creationTimestamp", "labels", "resourceVersion",
                 "deletionTimestamp")  # fmt: skip


def version(body: Mapping[str, Any]) -> int | None:
    try:
        return int(body["metadata"]["resourceVersion"])
    except (KeyError, TypeError, ValueError):
        return None


def pruned(body: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of what a reconcile pass reads; later changes to ``body`` do not reach it."""
    meta = body.get("metadata") or {}
    kept = {
        "apiVersion": body.get("apiVersion"),
        "kind": body.get("kind"),
        "metadata": {k: meta[k] for k in METADATA_KEPT if k in meta},
        "spec": body.get("spec"),
    }
    if body.get("status") is not None:
        kept["status"] = body["status"]
    return copy.deepcopy(kept)


class Latest:
    """The newest body per task (namespace, name)."""

    def __init__(self) -> None:
        self._bodies: dict[Key, dict[str, Any]] = {}

    def get(self, key: Key) -> dict[str, Any] | None:
        return self._bodies.get(key)

    def offer(self, body: Mapping[str, Any]) -> None:
        """Keep ``body`` unless a newer one of the same task is already kept."""
        meta = body.get("metadata") or {}
        key = (str(meta.get("namespace") or ""), str(meta.get("name") or ""))
        offered = version(body)
        if offered is None:
            self._bodies.pop(key, None)
            return
        kept = self._bodies.get(key)
        if kept is not None and (version(kept) or 0) > offered:
            return
        self._bodies[key] = pruned(body)

    def drop(self, key: Key) -> None:
        """Forget ``key``'s body (the task is gone, or a write's outcome is unknown)."""
        self._bodies.pop(key, None)

    def __len__(self) -> int:
        return len(self._bodies)
