"""The progress reporter: periodic, monotonic, never fatal."""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

import pytest

from sovits_steps.progress import Progress


class Sink:
    def __init__(self) -> None:
        self.writes: list[dict[str, Any]] = []
        self.seen = threading.Condition()

    def __call__(self, body: bytes) -> None:
        with self.seen:
            self.writes.append(json.loads(body))
            self.seen.notify_all()

    def wait_for(self, percent: float) -> bool:
        with self.seen:
            return self.seen.wait_for(lambda: any(w["progress"] == percent for w in self.writes), timeout=30)


def test_progress_is_written_while_the_step_runs() -> None:
    sink = Sink()
    progress = Progress("slice_audio", sink, interval_s=0.01)
    progress.start()
    progress.update(0.5, "sliced 1/2 files")
    assert sink.wait_for(50.0)
    progress.close("done", 100.0)
    assert sink.writes[-1]["message"] == "done" and sink.writes[-1]["progress"] == 100.0
    assert {w["step"] for w in sink.writes} == {"slice_audio"}


def test_progress_never_goes_backwards_and_spans_map_phases() -> None:
    sink = Sink()
    progress = Progress("convert_audio", sink, interval_s=60)
    progress.span(0, 90)
    progress.update(1.0)
    progress.update(0.2)
    progress.span(90, 100)
    progress.update(0.5)
    progress.flush()
    assert sink.writes[-1]["progress"] == 95.0
    progress.update(0.1)
    assert progress.snapshot()["progress"] == 95.0


def test_a_failing_store_does_not_fail_the_step_and_the_state_is_written_once_it_is_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sink = Sink()
    down = True

    def flaky(body: bytes) -> None:
        if down:
            raise ConnectionError("store down")
        sink(body)

    progress = Progress("denoise_audio", flaky, interval_s=60)
    progress.update(0.3)
    with caplog.at_level(logging.WARNING, logger="sovits_steps.progress"):
        progress.flush()
    assert "could not write progress: store down" in caplog.text
    assert sink.writes == []
    down = False
    progress.close("failed: store down")
    assert sink.writes[-1]["progress"] == 30.0 and sink.writes[-1]["message"] == "failed: store down"
