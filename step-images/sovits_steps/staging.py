"""Moving a step's folders between the task prefix and the work directory, concurrently.

Staging out uploads every new or changed file first and only then deletes the keys this
run replaces but did not produce again, so a reader never sees an output folder emptied
midway and a re-run leaves no stale outputs behind.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_EXCEPTION, wait
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from sovits_core.storage import TaskFiles
from sovits_steps.parallel import thread_pool

log = logging.getLogger(__name__)

WORKERS = 8
Stamp = tuple[int, int]  # (size, mtime_ns): how a staged-in file is recognised as unchanged


def run_all(jobs: Iterable[Callable[[], object]], workers: int = WORKERS) -> None:
    """Run ``jobs`` on a thread pool; the first failure cancels what has not started and raises."""
    with thread_pool(workers) as pool:
        futures = [pool.submit(job) for job in jobs]
        done, pending = wait(futures, return_when=FIRST_EXCEPTION)
        for future in pending:
            future.cancel()
        for future in done:
            future.result()


def stamp(path: Path) -> Stamp:
    st = path.stat()
    return st.st_size, st.st_mtime_ns


def stage_in(
    store: TaskFiles, folder: str, dest: Path, select: Callable[[str], bool] | None = None
) -> dict[Path, Stamp]:
    """Download ``folder`` (or the names ``select`` keeps) into ``dest``; local path -> stamp."""
    jobs: list[Callable[[], object]] = []
    paths: list[Path] = []
    for info in store.iter_objects(f"{folder}/"):
        name = info.key[len(folder) + 1 :]
        if select is not None and not select(name):
            continue
        path = dest / name
        paths.append(path)
        jobs.append(partial(store.download_file, info.key, path))
    run_all(jobs)
    log.info("staged in %d files of %s/", len(paths), folder)
    return {path: stamp(path) for path in paths}


@dataclass(frozen=True)
class StagedOut:
    uploaded: int
    unchanged: int
    deleted: int


def stage_out(
    store: TaskFiles,
    folder: str,
    src: Path,
    files: Iterable[Path],
    *,
    staged: dict[Path, Stamp] | None = None,
    owns: Callable[[str], bool] | None = None,
) -> StagedOut:
    """Upload ``files`` (under ``src``) to ``folder``; then delete keys ``owns`` claims that were not
    produced. ``owns=None`` claims the whole folder. Files staged in and untouched are skipped."""
    staged = staged or {}
    names: set[str] = set()
    jobs: list[Callable[[], object]] = []
    unchanged = 0
    for path in files:
        name = path.relative_to(src).as_posix()
        names.add(name)
        if staged.get(path) == stamp(path):
            unchanged += 1
            continue
        jobs.append(partial(store.put_file, f"{folder}/{name}", path))
    run_all(jobs)
    stale = [
        info.key
        for info in store.iter_objects(f"{folder}/")
        if (name := info.key[len(folder) + 1 :]) not in names and (owns is None or owns(name))
    ]
    run_all(partial(store.delete, key) for key in stale)
    log.info("staged out %s/: %d uploaded, %d unchanged, %d stale removed", folder, len(jobs), unchanged, len(stale))
    return StagedOut(len(jobs), unchanged, len(stale))
