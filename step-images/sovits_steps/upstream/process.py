"""Starting one upstream script and following its output.

Started as webui starts its children (``<python> -s <script>``, the run root as CWD), in its
own process group so a cancelled step takes the whole tree (DDP ranks, data loader workers)
with it. Output is split on newlines and on the carriage returns of tqdm bars; every line
goes to the step's parser, and to the log except tqdm redraws, which are logged at most
every ``REDRAW_LOG_S`` seconds.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from sovits_core.errors import OutOfMemory
from sovits_core.processes import stop_group

from .memory import cuda_out_of_memory

log = logging.getLogger("sovits_steps.upstream.output")

REDRAW_LOG_S = 10.0
TAIL_LINES = 60
STOP_GRACE_S = 15.0
_ERROR = re.compile(r"^\s*(\w+\.)*\w*(Error|Exception|Interrupt)\b.*")


@dataclass(frozen=True)
class Outcome:
    returncode: int
    tail: tuple[str, ...]
    timed_out: bool = False
    # The first line saying CUDA ran out of memory, whatever the exit code.
    out_of_memory: str | None = None

    def raise_if_out_of_memory(self, script: str) -> None:
        """OutOfMemory (a smaller batch may fit) when the output said so: a script that caught the
        error and exited 0 has not done its work either."""
        if self.out_of_memory is not None:
            raise OutOfMemory(f"upstream {Path(script).name}: {self.out_of_memory}")

    def reason(self) -> str:
        """The most telling line of the output for a one-line failure message."""
        return last_error(self.tail) or f"exit code {self.returncode}"

    def exception(self) -> str | None:
        """Upstream's last exception, also when it caught it, printed it and exited 0."""
        return last_exception(self.tail)


def last_exception(lines: Sequence[str]) -> str | None:
    """The last exception line (``ValueError: ...``) among ``lines``.

    An exception whose message starts on the next line (NLTK's LookupError opens a box of
    asterisks) gets the first line of that message appended.
    """
    for i in range(len(lines) - 1, -1, -1):
        if not _ERROR.match(lines[i]):
            continue
        line = lines[i].strip()
        if line.endswith(":"):
            more = next((x.strip() for x in lines[i + 1 :] if x.strip().strip("*")), None)
            line = f"{line} {more}" if more else line
        return line
    return None


def last_error(lines: Sequence[str]) -> str | None:
    """The last exception line among ``lines``, else the last line."""
    return last_exception(lines) or next((line.strip() for line in reversed(lines) if line.strip()), None)


def split_output(chunks: Iterator[bytes]) -> Iterator[tuple[str, bool]]:
    """(line, is_redraw) from raw output; a redraw is a segment ended by a carriage return."""
    pending = b""
    for chunk in chunks:
        pending += chunk
        while True:
            cut = min((i for i in (pending.find(b"\n"), pending.find(b"\r")) if i >= 0), default=-1)
            if cut < 0:
                break
            segment, sep, pending = pending[:cut], pending[cut : cut + 1], pending[cut + 1 :]
            if sep == b"\r" and pending.startswith(b"\n"):
                sep, pending = b"\n", pending[1:]
            yield segment.decode("utf-8", errors="replace"), sep == b"\r"
    if pending:
        yield pending.decode("utf-8", errors="replace"), False


def command(script: str, *args: str) -> list[str]:
    return [sys.executable, "-s", script, *args]


def run(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    on_line: Callable[[str], None],
    poll: Callable[[], None] | None = None,
    poll_interval_s: float = 5.0,
    timeout_s: float | None = None,
) -> Outcome:
    """Run ``argv`` to the end, or stop it after ``timeout_s``; ``poll`` is called every
    ``poll_interval_s`` while it runs."""
    log.info("running %s in %s", " ".join(argv), cwd)
    proc = subprocess.Popen(
        list(argv), cwd=cwd, env=dict(env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    memory: list[str] = []
    reader = threading.Thread(target=_follow, args=(proc, on_line, tail, memory), name="upstream-output", daemon=True)
    reader.start()
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    timed_out = False
    try:
        while True:
            wait = poll_interval_s if deadline is None else max(0.0, min(poll_interval_s, deadline - time.monotonic()))
            try:
                proc.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                if deadline is not None and time.monotonic() >= deadline:
                    timed_out = True
                    break
                if poll is not None:
                    poll()
    finally:
        _stop(proc)
        reader.join()
    log.info("%s exited with %d", Path(argv[2] if len(argv) > 2 else argv[0]).name, proc.returncode)
    return Outcome(proc.returncode, tuple(tail), timed_out, next(iter(memory), None))


def _follow(proc: subprocess.Popen[bytes], on_line: Callable[[str], None], tail: deque[str], memory: list[str]) -> None:
    assert proc.stdout is not None
    stream = proc.stdout
    chunks = iter(lambda: os.read(stream.fileno(), 65536), b"")
    last_redraw = 0.0
    for line, redraw in split_output(chunks):
        if not line.strip():
            continue
        tail.append(line)
        if not memory and (said := cuda_out_of_memory(line)):
            memory.append(said)
        now = time.monotonic()
        if not redraw:
            log.info("%s", line)
        elif now - last_redraw >= REDRAW_LOG_S:
            last_redraw = now
            log.info("%s", line.strip())
        try:
            on_line(line)
        except Exception:  # a parser bug must not stop us draining the pipe
            log.exception("could not parse an output line")
    stream.close()


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """End the process group: SIGTERM and a grace period while the script runs, then SIGKILL.

    Also after a normal exit: a leftover worker holding the pipe open would block the reader.
    """
    stop_group(proc.pid, STOP_GRACE_S, leader=proc)
