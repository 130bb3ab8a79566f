"""The preparation steps' parallel map: one pool, one rule for a failed item, one progress count.

The rule: an item whose work raises one of the step's ``bad`` exceptions (it is the item's
fault: a file ffmpeg cannot decode, a WAV soundfile cannot read) is dropped, logged and
recorded with its reason, and the step goes on with the rest. Any other exception (a full
disk, a bug, a missing model) is not the item's fault and would fail every item alike, so
it ends the step at once: no item starts after it, and the exception propagates to the
runner once the items already running are done. A SIGTERM (``Terminated``) does not wait for
them: the pod's grace period is short, and the step process exits without joining its threads.
Progress counts every item, dropped or not, in input order. What a drop means for the step's
output is the step's to say.

``map_items`` uses threads: ffmpeg subprocesses and large numpy calls leave the GIL.
``map_in_processes`` forks worker processes for work made of many small numpy calls, which
hold the GIL between them (measuring clips). Both size their pool by ``usable_cores``: the
cores this process may run on and its cgroup's CPU quota allows, not the node's count, so a
step pod limited to two CPUs on a 64-core node starts two workers rather than 64 that the
kernel would throttle.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import logging
import math
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, TypeVar

from sovits_core.errors import Terminated

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


CGROUP_ROOT = Path("/sys/fs/cgroup")
CHUNKS_PER_PROCESS = 4  # smaller chunks than items / processes, so one slow chunk does not idle the rest


def cpu_quota(
    cpu_max: str | None = None, cfs_quota_us: str | None = None, cfs_period_us: str | None = None
) -> float | None:
    """CPUs a cgroup's quota allows, from cgroup v2's ``cpu.max`` ("max 100000", "150000 100000")
    or v1's ``cpu.cfs_quota_us`` and ``cpu.cfs_period_us`` (-1: none); None without a quota."""
    if cpu_max is not None:
        quota, _, period = cpu_max.strip().partition(" ")
        if quota != "max" and period:
            return int(quota) / int(period)
    if cfs_quota_us is not None and cfs_period_us is not None and int(cfs_quota_us) > 0:
        return int(cfs_quota_us) / int(cfs_period_us)
    return None


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def usable_cores(root: Path = CGROUP_ROOT) -> int:
    """Cores this process may use: its CPU affinity, capped by its cgroup's CPU quota (a container's
    CPU limit), rounded up. Read each time a pool is sized (a few small files, once per step)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    quota = cpu_quota(
        _read(root / "cpu.max"), _read(root / "cpu" / "cpu.cfs_quota_us"), _read(root / "cpu" / "cpu.cfs_period_us")
    )
    return max(1, min(cores, math.ceil(quota))) if quota is not None else max(1, cores)


@contextlib.contextmanager
def thread_pool(size: int) -> Iterator[ThreadPoolExecutor]:
    """A pool that joins its threads on the way out, unless the step was terminated: then the
    work not started is cancelled and the work in flight left behind."""
    pool = ThreadPoolExecutor(size)
    try:
        yield pool
    except Terminated:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


@dataclass(frozen=True)
class _Dropped:
    reason: str


@dataclass
class Mapped(Generic[T, R]):
    """What a parallel map gave: each kept item with its result, in input order, and each
    dropped item's name with the reason."""

    kept: list[tuple[T, R]] = field(default_factory=list)
    dropped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def results(self) -> list[R]:
        return [result for _, result in self.kept]

    def reasons(self) -> str:
        """``"a.mp3: is empty; b.mp3: has no audio stream"``, for a bad-input message."""
        return "; ".join(f"{name}: {why}" for name, why in self.dropped)

    def note(self) -> str:
        """``", skipped 2: a.mp3, b.mp3"`` for a step's summary; empty when nothing was dropped."""
        return f", skipped {len(self.dropped)}: " + ", ".join(name for name, _ in self.dropped) if self.dropped else ""


def map_items(
    work: Callable[[T], R],
    items: Sequence[T],
    *,
    name: Callable[[T], str],
    bad: tuple[type[Exception], ...],
    folder: str,
    workers: int | None = None,
    on_done: Callable[[int, int], None] | None = None,
) -> Mapped[T, R]:
    """``work`` on every item on a thread pool (``workers``, default ``usable_cores``); ``name``
    names an item in the log and the record (``folder/name``); ``on_done(n, total)`` after each."""

    ended = threading.Event()

    def one(item: T) -> R | _Dropped:
        if ended.is_set():
            return _Dropped("not started: the step ended")  # never read: the failure comes first
        try:
            return work(item)
        except bad as exc:
            return _Dropped(str(exc) or type(exc).__name__)
        except BaseException:
            ended.set()  # before this worker takes another item
            raise

    size = max(1, min(len(items), workers or usable_cores()))
    with thread_pool(size) as pool:
        return _collect(items, pool.map(one, items), name=name, folder=folder, on_done=on_done)


def map_in_processes(
    work: Callable[[T], R],
    items: Sequence[T],
    *,
    name: Callable[[T], str],
    bad: tuple[type[Exception], ...],
    folder: str,
    processes: int | None = None,
    on_done: Callable[[int, int], None] | None = None,
) -> Mapped[T, R]:
    """``map_items`` on forked worker processes (``processes``, default ``usable_cores``), for work
    that holds the GIL. ``work``, the items and the results must pickle (a module-level function
    or a partial of one). A failure that is not the item's fault ends the map once its chunk
    reports it; the other workers are killed. Progress is counted as chunks come back.

    Fork, not spawn: a fresh interpreter would import numpy and scipy again (most of a second)
    for work that takes less. The children run only the work and inherit nothing they need
    to lock; signals are left to the parent, which kills them when the step ends."""
    size = max(1, min(len(items), processes or usable_cores()))
    if size == 1:
        return map_items(work, items, name=name, bad=bad, folder=folder, workers=1, on_done=on_done)
    count = min(len(items), CHUNKS_PER_PROCESS * size)
    bounds = [len(items) * k // count for k in range(count + 1)]
    chunks = [items[bounds[k] : bounds[k + 1]] for k in range(count)]
    # An executor, not multiprocessing.Pool: a worker killed from outside (the OOM killer) breaks
    # it with BrokenProcessPool, where a Pool would wait for the lost chunk for ever.
    before = set(multiprocessing.active_children())
    executor = ProcessPoolExecutor(size, mp_context=multiprocessing.get_context("fork"), initializer=_worker_signals)
    try:
        outcomes = executor.map(functools.partial(_run_chunk, work, bad), chunks)
        mapped = _collect(items, itertools.chain.from_iterable(outcomes), name=name, folder=folder, on_done=on_done)
    except BaseException:
        # The chunks still running are of no use now: end them rather than wait (SIGTERM's grace).
        for worker in set(multiprocessing.active_children()) - before:
            worker.terminate()
        executor.shutdown(wait=True, cancel_futures=True)
        raise
    executor.shutdown(wait=True)
    return mapped


def _worker_signals() -> None:
    # The step's SIGTERM handler raises inside whatever runs; in a worker that would be reported
    # as the chunk's failure instead of ending it. The parent terminates its workers itself.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _run_chunk(work: Callable[[T], R], bad: tuple[type[Exception], ...], chunk: Sequence[T]) -> list[R | _Dropped]:
    outcomes: list[R | _Dropped] = []
    for item in chunk:
        try:
            outcomes.append(work(item))
        except bad as exc:
            outcomes.append(_Dropped(str(exc) or type(exc).__name__))
    return outcomes


def _collect(
    items: Sequence[T],
    outcomes: Iterable[R | _Dropped],
    *,
    name: Callable[[T], str],
    folder: str,
    on_done: Callable[[int, int], None] | None,
) -> Mapped[T, R]:
    mapped: Mapped[T, R] = Mapped()
    for n, (item, outcome) in enumerate(zip(items, outcomes, strict=True), start=1):
        if isinstance(outcome, _Dropped):
            log.warning("skipped %s/%s: %s", folder, name(item), outcome.reason)
            mapped.dropped.append((name(item), outcome.reason))
        else:
            mapped.kept.append((item, outcome))
        if on_done:
            on_done(n, len(items))
    return mapped
