"""The steps' parallel maps, on threads and on forked processes: a bad item is dropped with its
reason, progress counts every item, an error that is not the item's fault ends the step, and a
pool is as large as the cores the step may use, not the node's."""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import numpy as np
import pytest

from sovits_core.errors import Terminated
from sovits_steps import parallel
from sovits_steps.audio import UNREADABLE, read_pcm16
from sovits_steps.parallel import cpu_quota, map_in_processes, map_items, usable_cores
from tests.support.audio import tone, write_wav


def samples_and_pid(path: Path) -> tuple[int, int]:
    """Module level: what a worker process runs must pickle."""
    if path.name == "full.wav":
        raise OSError(28, "No space left on device")
    return len(read_pcm16(path)), os.getpid()


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


def test_a_process_map_runs_in_other_processes_and_keeps_order_drops_and_progress(
    clips: list[Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clips[1].write_text("not audio\n")
    more = [write_wav(tmp_path / f"c{i}.wav", tone(200 + 50 * i, 0.1)) for i in range(5)]
    seen: list[tuple[int, int]] = []
    with caplog.at_level(logging.WARNING):
        got = map_in_processes(
            samples_and_pid,
            [*clips, *more],
            name=lambda p: p.name,
            bad=UNREADABLE,
            folder="sliced",
            processes=2,
            on_done=lambda n, total: seen.append((n, total)),
        )

    assert [(p.name, n) for p, (n, _) in got.kept] == [("a.wav", 6400), ("b.wav", 9600)] + [
        (p.name, 3200) for p in more
    ]
    assert os.getpid() not in {pid for _, (_, pid) in got.kept}
    assert [name for name, _ in got.dropped] == ["notes.wav"] and "Format not recognised" in got.dropped[0][1]
    assert "skipped sliced/notes.wav" in caplog.text
    assert seen == [(n, 8) for n in range(1, 9)]
    assert multiprocessing.active_children() == []


def test_an_error_that_is_not_the_items_fault_in_a_worker_ends_the_process_map(clips: list[Path]) -> None:
    clips[1] = clips[1].with_name("full.wav")
    with pytest.raises(OSError, match="No space left"):
        map_in_processes(samples_and_pid, clips, name=lambda p: p.name, bad=UNREADABLE, folder="sliced", processes=2)
    assert multiprocessing.active_children() == []


def test_the_step_ending_while_workers_run_kills_them(tmp_path: Path) -> None:
    paths = [write_wav(tmp_path / f"c{i}.wav", tone(300, 0.1)) for i in range(16)]

    def stop(n: int, total: int) -> None:
        raise Terminated("stopped by SIGTERM")

    with pytest.raises(Terminated):
        map_in_processes(samples_and_pid, paths, name=str, bad=UNREADABLE, folder="x", processes=2, on_done=stop)
    assert multiprocessing.active_children() == []


def test_one_process_maps_in_this_one(clips: list[Path]) -> None:
    got = map_in_processes(samples_and_pid, [clips[0], clips[2]], name=str, bad=UNREADABLE, folder="x", processes=1)
    assert {pid for _, (_, pid) in got.kept} == {os.getpid()}


@pytest.mark.parametrize(
    ("files", "cpus"),
    [
        ({"cpu.max": "150000 100000\n"}, 1.5),  # cgroup v2 with a limit of 1.5 CPUs
        ({"cpu.max": "max 100000\n"}, None),  # cgroup v2 without one
        ({"cpu.cfs_quota_us": "200000\n", "cpu.cfs_period_us": "100000\n"}, 2.0),  # cgroup v1
        ({"cpu.cfs_quota_us": "-1\n", "cpu.cfs_period_us": "100000\n"}, None),
        ({}, None),  # no cgroup files at all
    ],
)
def test_a_cgroups_cpu_quota_is_read_from_either_version(files: dict[str, str], cpus: float | None) -> None:
    assert cpu_quota(files.get("cpu.max"), files.get("cpu.cfs_quota_us"), files.get("cpu.cfs_period_us")) == cpus


def test_usable_cores_are_the_affinity_capped_by_the_quota_rounded_up(tmp_path: Path) -> None:
    affinity = len(os.sched_getaffinity(0))
    assert usable_cores(tmp_path) == affinity  # no quota
    (tmp_path / "cpu.max").write_text("50000 100000\n")
    assert usable_cores(tmp_path) == 1  # half a CPU still runs one worker
    (tmp_path / "cpu.max").write_text(f"{100000 * affinity + 1} 100000\n")
    assert usable_cores(tmp_path) == affinity  # a quota above the affinity does not add cores
    (tmp_path / "cpu.max").unlink()
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("100000\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert usable_cores(tmp_path) == 1


def test_a_thread_pool_is_sized_by_usable_cores(clips: list[Path], monkeypatch: pytest.MonkeyPatch) -> None:
    threads: set[int] = set()
    monkeypatch.setattr(parallel, "usable_cores", lambda root=None: 1)

    def work(path: Path) -> int:
        threads.add(threading.get_ident())
        return 0

    map_items(work, [clips[0], clips[2], clips[0]], name=str, bad=UNREADABLE, folder="x")
    assert len(threads) == 1


def killed_at_oom(path: Path) -> int:
    if path.name == "oom.wav":
        os.kill(os.getpid(), signal.SIGKILL)  # what the kernel's OOM killer does
    return len(read_pcm16(path))


def test_a_worker_killed_from_outside_breaks_the_process_map_instead_of_hanging_it(tmp_path: Path) -> None:
    paths = [write_wav(tmp_path / f"c{i}.wav", tone(300, 0.1)) for i in range(7)]
    paths.insert(3, write_wav(tmp_path / "oom.wav", tone(300, 0.1)))
    with pytest.raises(BrokenProcessPool):
        map_in_processes(killed_at_oom, paths, name=str, bad=UNREADABLE, folder="x", processes=2)
    assert multiprocessing.active_children() == []
