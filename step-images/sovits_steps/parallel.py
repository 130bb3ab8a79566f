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

Threads, not processes: the work is ffmpeg subprocesses and numpy, which leave the GIL.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from sovits_core.errors import Terminated

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


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
    """``work`` on every item on a thread pool (``workers``, default one per core); ``name``
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

    mapped: Mapped[T, R] = Mapped()
    size = max(1, min(len(items), workers or os.cpu_count() or 1))
    with thread_pool(size) as pool:
        for n, (item, outcome) in enumerate(zip(items, pool.map(one, items), strict=True), start=1):
            if isinstance(outcome, _Dropped):
                log.warning("skipped %s/%s: %s", folder, name(item), outcome.reason)
                mapped.dropped.append((name(item), outcome.reason))
            else:
                mapped.kept.append((item, outcome))
            if on_done:
                on_done(n, len(items))
    return mapped
