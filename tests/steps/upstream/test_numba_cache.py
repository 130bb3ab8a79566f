"""librosa's numba functions compiled once, not in every upstream run (numba_cache.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from sovits_steps.upstream import environment, numba_cache
from sovits_steps.upstream.runtree import RunTree
from tests.support.upstream import Upstream


def stamps(root: Path) -> dict[Path, tuple[int, int]]:
    return {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in root.rglob("*") if p.is_file()}


def make_seed(root: Path) -> Path:
    (root / "util_x").mkdir(parents=True)
    (root / "util_x" / "utils._localmax-1051.py311.nbi").write_bytes(b"index")
    return root


def test_a_seed_this_process_may_write_is_the_cache_itself(tmp_path: Path) -> None:
    seed = make_seed(tmp_path / "seed")
    assert numba_cache.folder(seed, tmp_path / "run" / "TEMP" / "numba") == seed
    assert not (tmp_path / "run").exists()


def test_a_read_only_seed_as_in_the_image_is_copied_into_the_runs_scratch_folder(tmp_path: Path) -> None:
    seed = make_seed(tmp_path / "seed")
    scratch = tmp_path / "run" / "TEMP" / "numba"
    assert numba_cache.folder(seed, scratch, writable=False) == scratch
    assert (scratch / "util_x" / "utils._localmax-1051.py311.nbi").read_bytes() == b"index"


def test_without_a_seed_a_run_starts_with_an_empty_cache(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    for seed in (None, tmp_path / "no-such-seed"):
        scratch = tmp_path / f"numba-{seed is None}"
        assert numba_cache.folder(seed, scratch) == scratch
        assert scratch.is_dir() and not list(scratch.iterdir())
    # a configured seed that is missing is said, naming the setting; no seed at all is the default
    assert [r.getMessage() for r in caplog.records] == [
        f"paths.numba_cache: {tmp_path / 'no-such-seed'} is not a folder; librosa compiles in this run"
    ]


def test_upstream_compiles_for_the_cpu_the_seed_was_compiled_for_unless_the_pod_says_otherwise(tmp_path: Path) -> None:
    tree = RunTree(tmp_path, "x")
    env = environment.base({}, tree, version="v2", is_half=False)
    assert env["NUMBA_CPU_NAME"] == numba_cache.CPU_NAME == "generic"
    assert env["NUMBA_CACHE_DIR"] == str(tree.temp / "numba")
    assert environment.base({"NUMBA_CPU_NAME": "skylake"}, tree, version="v2", is_half=False)["NUMBA_CPU_NAME"] == (
        "skylake"
    )


def test_a_seed_is_not_built_in_a_process_that_already_read_numbas_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "numba", types.ModuleType("numba"))
    with pytest.raises(RuntimeError, match="fresh process"):
        numba_cache.build(tmp_path / "seed")
    assert not (tmp_path / "seed").exists()


@pytest.mark.upstream
def test_with_the_prepared_seed_importing_librosa_compiles_nothing(upstream: Upstream, tmp_path: Path) -> None:
    """What an upstream run in the step image does: its environment from ``environment.base``, its
    cache a copy of the read-only seed (here the one ``hack/upstream.sh`` built). numba's cache
    log says what it loaded, and what it compiled and saved."""
    tree = RunTree(tmp_path, "x")
    env = environment.base(os.environ, tree, version="v2", is_half=False)
    cache = numba_cache.folder(upstream.numba_cache, tree.temp / "numba", writable=False)
    before = stamps(cache)
    assert len(before) > 10, f"the seed {upstream.numba_cache} holds too little: run hack/upstream.sh"
    done = subprocess.run(
        [str(upstream.python), "-s", "-c", "import " + ", ".join(numba_cache.MODULES)],
        env={**env, "PYTHONPATH": "", "NUMBA_CACHE_DIR": str(cache), "NUMBA_DEBUG_CACHE": "1"},
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    log = done.stdout + done.stderr
    assert "data loaded from" in log, log[-3000:]
    assert "data saved to" not in log, log[-3000:]
    assert stamps(cache) == before
