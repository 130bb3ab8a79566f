"""Uploading checkpoints and exported weights while training runs.

A pod can be preempted at any epoch; whatever upstream saved must already be in the store,
so the retry resumes from it. Every poll, files under the watched folders that kept the same
size and mtime since the previous poll (so are not being written) and differ from what was
uploaded are uploaded. The final sync, after the process ended, uploads every change.
Uploaded files are recorded in the step's staged stamps, so the runner does not upload them
a second time.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

from sovits_core.storage import TaskFiles
from sovits_steps.staging import Stamp, stamp

log = logging.getLogger(__name__)


class Mirror:
    def __init__(self, store: TaskFiles, folder: str, local: Path, watched: Iterable[str], staged: dict[Path, Stamp]):
        """Mirror ``local/<watched...>`` to ``<folder>/<watched...>`` in the task's store."""
        self.store = store
        self.folder = folder
        self.local = local
        self.watched = [local / rel for rel in watched]
        self.staged = staged
        self._seen: dict[Path, Stamp] = {}
        self.uploaded: list[str] = []

    def _files(self) -> list[Path]:
        return sorted(p for root in self.watched if root.is_dir() for p in root.rglob("*") if p.is_file())

    def sync(self, *, final: bool = False) -> None:
        """Upload settled changes; with ``final``, every change. Errors are raised only on the final sync."""
        for path in self._files():
            try:
                now = stamp(path)
            except FileNotFoundError:
                continue  # replaced or deleted by upstream between listing and stat
            settled = final or self._seen.get(path) == now
            self._seen[path] = now
            if not settled or now[0] == 0 or self.staged.get(path) == now:
                continue
            key = f"{self.folder}/{path.relative_to(self.local).as_posix()}"
            try:
                self.store.put_file(key, path)
            except Exception as exc:
                if final:
                    raise
                log.warning("could not upload %s yet: %s", key, exc)
                continue
            self.staged[path] = now
            self.uploaded.append(key)
            log.info("uploaded %s", key)
