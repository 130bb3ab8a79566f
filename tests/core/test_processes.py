"""Stopping a process group: real processes that ignore SIGTERM, are stopped, or leave children."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sovits_core.processes import group_alive, stop_group
from tests.support.processes import wait_for

IGNORES_SIGTERM = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"
# Starts a grandchild that ignores SIGTERM, writes its pid, waits; {ignore} makes it ignore SIGTERM too.
LEADER = """
import signal, subprocess, sys, time
{ignore}
child = subprocess.Popen([sys.executable, "-c", sys.argv[2]])
open(sys.argv[1], "w").write(str(child.pid))
time.sleep(600)
"""
STUBBORN = LEADER.format(ignore="signal.signal(signal.SIGTERM, signal.SIG_IGN)")
LEAVES_A_CHILD = LEADER.format(ignore="")


def start(script: str, pidfile: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-c", script, str(pidfile), IGNORES_SIGTERM], start_new_session=True)
    while not pidfile.exists() or not pidfile.read_text():
        time.sleep(0.02)
    return proc


def living(pgid: int) -> list[int]:
    """Members of the group that still run; a zombie waiting for its reaper has ended."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, _ppid, group = stat.read_text().rsplit(") ", 1)[1].split()[:3]
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(group) == pgid and state != "Z":
            found.append(int(stat.parent.name))
    return found


def test_a_group_that_ignores_sigterm_is_killed_after_the_grace_with_its_grandchild(tmp_path: Path) -> None:
    proc = start(STUBBORN, tmp_path / "pid")
    assert len(living(proc.pid)) == 2  # the leader and its child

    stop_group(proc.pid, 0.5, leader=proc)

    assert proc.returncode == -signal.SIGKILL
    # SIGKILL cannot be ignored, but a loaded machine may take a moment to end a member it reached
    assert wait_for(lambda: living(proc.pid) == [], timeout=5, what="the group's end", interval=0.01)


def test_a_leader_that_exits_on_sigterm_does_not_leave_its_children_behind(tmp_path: Path) -> None:
    proc = start(LEAVES_A_CHILD, tmp_path / "pid")
    assert len(living(proc.pid)) == 2  # the leader and its child

    stop_group(proc.pid, 30, leader=proc)

    assert proc.returncode == -signal.SIGTERM
    # SIGKILL cannot be ignored, but a loaded machine may take a moment to end a member it reached
    assert wait_for(lambda: living(proc.pid) == [], timeout=5, what="the group's end", interval=0.01)


def test_a_stopped_leader_still_acts_on_sigterm(tmp_path: Path) -> None:
    proc = start(LEAVES_A_CHILD, tmp_path / "pid")
    os.kill(proc.pid, signal.SIGSTOP)

    stop_group(proc.pid, 30, leader=proc)

    assert proc.returncode == -signal.SIGTERM


def test_a_group_that_is_not_our_child_is_stopped_until_none_of_it_is_left(tmp_path: Path) -> None:
    proc = start(STUBBORN, tmp_path / "pid")
    assert len(living(proc.pid)) == 2  # the leader and its child

    stop_group(proc.pid, 0.5)  # as for an orphan of an earlier run: no leader to wait on

    # SIGKILL is sent, not awaited (nothing to reap): on a loaded machine the two take a moment to end.
    assert wait_for(lambda: living(proc.pid) == [], timeout=10, what="group ended")
    proc.wait()


def test_a_group_that_is_gone_is_left_alone() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"], start_new_session=True)
    proc.wait()

    stop_group(proc.pid, 5)

    assert not group_alive(proc.pid)
