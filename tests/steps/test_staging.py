"""Staging between the task prefix and the work directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from sovits_core.storage import LocalObjectStore, TaskFiles
from sovits_steps.staging import run_all, stage_in, stage_out


@pytest.fixture
def store(tmp_path: Path) -> TaskFiles:
    return TaskFiles(LocalObjectStore(tmp_path / "store"), "tasks/t/")


def test_stage_in_downloads_only_selected_names(store: TaskFiles, tmp_path: Path) -> None:
    for name in ("a.wav", "b.wav", "sub/c.wav"):
        store.put_bytes(f"sliced/{name}", name.encode())
    got = stage_in(store, "sliced", tmp_path / "work", select=lambda n: n != "b.wav")
    assert sorted(p.relative_to(tmp_path / "work").as_posix() for p in got) == ["a.wav", "sub/c.wav"]
    assert (tmp_path / "work" / "sub" / "c.wav").read_bytes() == b"sub/c.wav"


def test_stage_out_replaces_only_the_names_it_owns(store: TaskFiles, tmp_path: Path) -> None:
    for name in ("a.wav_1.wav", "a.wav_2.wav", "b.wav_1.wav"):
        store.put_bytes(f"sliced/{name}", b"old")
    out = tmp_path / "sliced"
    out.mkdir()
    (out / "a.wav_3.wav").write_bytes(b"new")

    result = stage_out(store, "sliced", out, [out / "a.wav_3.wav"], owns=lambda n: n.startswith("a.wav_"))

    assert (result.uploaded, result.deleted) == (1, 2)
    assert [i.key for i in store.list("sliced/")] == ["sliced/a.wav_3.wav", "sliced/b.wav_1.wav"]


def test_stage_out_skips_files_staged_in_and_left_untouched(store: TaskFiles, tmp_path: Path) -> None:
    store.put_bytes("experiments/e/a.pt", b"a")
    work = tmp_path / "experiments"
    staged = stage_in(store, "experiments", work)
    (work / "e" / "b.pt").write_bytes(b"b")

    result = stage_out(store, "experiments", work, sorted(work.rglob("*.pt")), staged=staged)

    assert (result.uploaded, result.unchanged, result.deleted) == (1, 1, 0)


def test_run_all_raises_the_first_failure() -> None:
    def fail() -> None:
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        run_all([lambda: None, fail, lambda: None])
