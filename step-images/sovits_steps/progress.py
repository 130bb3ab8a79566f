"""A step's progress, written to ``progress/{step}.json`` on a timer while the step runs.

Steps report often and cheaply (a fraction and a message); a background thread writes only
what changed, every ``interval_s``, so a tight loop never waits on the store. The operator
reads the object on its own timer. Progress never goes backwards within a run.

Training steps also record metric series (a loss against the epoch) beside the progress, under
``metrics``: each series holds at most ``MAX_POINTS`` points, and when full keeps every other
one, so a long run keeps its whole shape at a coarser grain in a file of bounded size.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

log = logging.getLogger(__name__)

MAX_POINTS = 400


def add_point(series: list[list[float]], x: float, y: float, limit: int = MAX_POINTS) -> None:
    """Append (x, y); a point at the last x replaces it (a redrawn bar); full, keep every other."""
    if series and series[-1][0] == x:
        series[-1][1] = y
        return
    series.append([x, y])
    if len(series) > limit:
        del series[1::2]


class Progress:
    def __init__(self, step: str, write: Callable[[bytes], None], interval_s: float = 5.0) -> None:
        self.step = step
        self._write = write
        self._interval_s = interval_s
        self._lock = threading.Lock()
        self._span = (0.0, 100.0)
        self._percent = 0.0
        self._message = "starting"
        self._dirty = True
        self._metrics: dict[str, list[list[float]]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"progress-{self.step}", daemon=True)
        self._thread.start()

    def span(self, low: float, high: float) -> None:
        """Map later ``update`` fractions onto ``low``..``high`` percent (a phase of the run)."""
        with self._lock:
            self._span = (low, high)
        self.update(0.0)

    def update(self, fraction: float, message: str | None = None) -> None:
        low, high = self._span
        percent = low + (high - low) * min(max(fraction, 0.0), 1.0)
        with self._lock:
            if percent > self._percent:
                self._percent = percent
                self._dirty = True
            if message is not None and message != self._message:
                self._message = message
                self._dirty = True

    def metric(self, name: str, x: float, y: float) -> None:
        """One point of the series ``name`` (x: the epoch, fractional within one)."""
        with self._lock:
            add_point(self._metrics.setdefault(name, []), round(x, 4), y)
            self._dirty = True

    def snapshot(self) -> dict[str, object]:
        with self._lock:
            state: dict[str, object] = {
                "step": self.step,
                "progress": round(self._percent, 1),
                "message": self._message,
                "updated_at": datetime.now(UTC).isoformat(),
            }
            if self._metrics:
                state["metrics"] = {name: [list(p) for p in points] for name, points in self._metrics.items()}
            return state

    def flush(self) -> None:
        with self._lock:
            if not self._dirty:
                return
            self._dirty = False
        body = json.dumps(self.snapshot()).encode("utf-8")
        try:
            self._write(body)
        except Exception as exc:  # progress is advisory: a store hiccup must not fail the step
            log.warning("could not write progress: %s", exc)
            with self._lock:
                self._dirty = True

    def close(self, message: str, percent: float | None = None) -> None:
        """Stop the timer and write the final state."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        with self._lock:
            if percent is not None:
                self._percent = max(self._percent, percent)
            self._message = message
            self._dirty = True
        self.flush()

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            self.flush()
