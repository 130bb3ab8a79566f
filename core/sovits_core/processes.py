"""Stopping a step's whole process group: what the local runtime and the upstream adapter share.

A step starts its own session (`start_new_session=True`), so its group id is its pid and
everything it spawns (upstream's data loaders, ffmpeg) goes down with it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time

_POLL_S = 0.05


def signal_group(pgid: int, sig: signal.Signals) -> None:
    """Send ``sig`` to the group; a group that is gone (or no longer ours) is left alone."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # the id was reused by someone else's group: ours is gone
        return False
    return True


def stop_group(pgid: int, grace_s: float, leader: subprocess.Popen[bytes] | None = None) -> None:
    """SIGTERM the group, give it ``grace_s`` to exit, then SIGKILL whatever is left.

    With ``leader`` (our child), the grace ends when it exits and it is reaped; members it
    leaves behind are killed at once. Without one (an orphan of an earlier run), the grace
    ends when the whole group is gone.
    """
    signal_group(pgid, signal.SIGTERM)
    signal_group(pgid, signal.SIGCONT)  # a stopped process acts on SIGTERM only once continued
    if leader is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            leader.wait(timeout=grace_s)
    else:
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and group_alive(pgid):
            time.sleep(_POLL_S)
    signal_group(pgid, signal.SIGKILL)
    if leader is not None:
        leader.wait()
