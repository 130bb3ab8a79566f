"""The steps' parallel map: a bad item is dropped with its reason, progress counts every item,
and an error that is not the item's fault ends the step."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import numpy as np
import pytest

from sovits_steps.audio import UNREADABLE, read_pcm16
from sovits_steps.parallel import map_items
from tests.support.audio import tone, write_wav


@pytest.fixture
def clips(tmp_path: Path) -> list[Path]:
    """Two real WAV clips around one that only has the name of one."""
    return [
        write_wav(tmp_path / "a.wav", tone(300, 0.2)),
        (tmp_path / "notes.wav"),
        write_wav(tmp_path / "b.wav", tone(500, 0.3)),
    ]


def test_a_bad_item_is_dropped_with_its_reason_and_the_rest_kept_in_order(
    clips: list[Path], caplog: pytest.LogCaptureFixture
) -> None:
    clips[1].write_text("not audio\n")
    with caplog.at_level(logging.WARNING):
        got = map_items(
            lambda p: len(read_pcm16(p)), clips, name=lambda p: p.name, bad=UNREADABLE, folder="sliced", workers=2
        )

    assert [(p.name, n) for p, n in got.kept] == [("a.wav", 6400), ("b.wav", 9600)]
    assert [name for name, _ in got.dropped] == ["notes.wav"]
    assert "Format not recognised" in got.dropped[0][1]
    assert "skipped sliced/notes.wav" in caplog.text
    assert got.note() == ", skipped 1: notes.wav"


def test_progress_counts_every_item_dropped_or_not(clips: list[Path]) -> None:
    clips[1].write_bytes(b"RIFF\x00\x00\x00\x00WAVE")
    seen: list[tuple[int, int]] = []

    got = map_items(
        lambda p: len(read_pcm16(p)),
        clips,
        name=lambda p: p.name,
        bad=UNREADABLE,
        folder="sliced",
        on_done=lambda n, total: seen.append((n, total)),
    )

    assert seen == [(1, 3), (2, 3), (3, 3)]
    assert len(got.kept) + len(got.dropped) == 3


def test_an_error_that_is_not_the_items_fault_ends_the_map_and_nothing_after_it_starts(clips: list[Path]) -> None:
    started: list[str] = []
    lock = threading.Lock()

    def work(path: Path) -> int:
        with lock:
            started.append(path.name)
        if path.name == "notes.wav":
            raise OSError(28, "No space left on device")
        return len(read_pcm16(path))

    with pytest.raises(OSError, match="No space left"):
        map_items(work, clips, name=lambda p: p.name, bad=UNREADABLE, folder="sliced", workers=1)
    assert started == ["a.wav", "notes.wav"]


def test_nothing_is_dropped_when_every_item_is_good(tmp_path: Path) -> None:
    paths = [write_wav(tmp_path / f"{i}.wav", tone(200 + 100 * i, 0.1)) for i in range(5)]
    got = map_items(lambda p: int(np.abs(read_pcm16(p)).max()), paths, name=str, bad=UNREADABLE, folder="x")
    assert got.dropped == [] and got.note() == ""
    assert [p for p, _ in got.kept] == paths
