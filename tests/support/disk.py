"""The disk a test run needs, checked before the first test rather than found out by ENOSPC.

A whole run writes GBs to the temporary directory: the real node's image store (the
operator and step-audio images imported into containerd) and real upstream's training
checkpoints for three versions, all kept until the session ends. A run that starts short of
space fails half an hour later in whichever test writes last, with an error that names the
write and not the cause; this says it at once and says how much is missing.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

GB = 10**9

# Peak use of the session's temporary directory by the tests of each marker, rounded up with a
# margin from a whole run's (README, "Development"): the upstream tests' task stores and stand-in
# models held 6.8 GB, the real node's image store 3.1 GB; the image tests' share was not measured
# apart (their tarballs live in ~/.cache).
NEEDS_BY_MARKER: Mapping[str, int] = {"real_node": 5 * GB, "upstream": 10 * GB, "images": 1 * GB}
BASELINE = 1 * GB  # everything else: control planes, SeaweedFS, sovits local's stores


@dataclass(frozen=True)
class Shortfall:
    path: Path
    needed: int
    free: int

    def message(self, markers: Iterable[str]) -> str:
        chosen = ", ".join(sorted(markers)) or "no heavy marker"
        return (
            f"{self.path} has {self.free / GB:.1f} GB free and this run needs about {self.needed / GB:.0f} GB there "
            f"({chosen}): free some space, point TMPDIR at a larger disk, or leave out a marker (-m 'not upstream')"
        )


def needed(markers: Iterable[str]) -> int:
    """Bytes of temporary space a run with tests of ``markers`` needs at its peak."""
    return BASELINE + sum(NEEDS_BY_MARKER.get(m, 0) for m in set(markers))


def shortfall(path: Path, markers: Iterable[str], free: Callable[[Path], int]) -> Shortfall | None:
    """What is missing at ``path`` (the temporary directory) for a run of ``markers``; None when enough."""
    need, have = needed(markers), free(path)
    return Shortfall(path, need, have) if have < need else None


def free_bytes(path: Path) -> int:
    stats = os.statvfs(path)
    return stats.f_bavail * stats.f_frsize


def existing(path: Path) -> Path:
    """``path`` or its nearest existing ancestor: the file system a directory not yet made will be on."""
    return next(p for p in (path, *path.parents) if p.exists())
