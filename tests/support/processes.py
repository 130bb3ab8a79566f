"""Small helpers shared by the harnesses that run our services as child processes."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from typing import Any


def stop_process(proc: subprocess.Popen[Any] | None, grace: float = 15) -> None:
    """SIGTERM, then SIGKILL if it has not exited within ``grace`` seconds; its pipes are closed."""
    if proc is None:
        return
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()


def wait_for(predicate: Callable[[], Any], timeout: float = 60, what: str = "condition", interval: float = 0.2) -> Any:
    """Poll ``predicate`` until it returns something truthy, and return that."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"{what} not met within {timeout}s")
