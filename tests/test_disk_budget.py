"""A test run short of temporary space stops before its first test, saying how much it needs."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import disk


def test_a_run_needs_the_baseline_plus_each_heavy_marker_once() -> None:
    assert disk.needed([]) == disk.BASELINE
    assert disk.needed(["upstream", "real_node", "upstream", "s3"]) == (
        disk.BASELINE + disk.NEEDS_BY_MARKER["upstream"] + disk.NEEDS_BY_MARKER["real_node"]
    )


def test_enough_free_space_is_no_shortfall() -> None:
    need = disk.needed(["upstream"])
    assert disk.shortfall(Path("/tmp"), ["upstream"], lambda _: need) is None
    missing = disk.shortfall(Path("/tmp"), ["upstream"], lambda _: need - 1)
    assert missing == disk.Shortfall(Path("/tmp"), need, need - 1)


def test_a_directory_not_yet_made_is_measured_on_its_nearest_existing_ancestor(tmp_path: Path) -> None:
    assert disk.existing(tmp_path / "not" / "yet") == tmp_path
    assert disk.existing(tmp_path) == tmp_path


def test_the_message_names_the_directory_the_space_and_the_markers() -> None:
    message = disk.Shortfall(Path("/scratch"), 11 * disk.GB, 2_500_000_000).message(["upstream"])
    assert "/scratch has 2.5 GB free" in message
    assert "needs about 11 GB" in message
    assert "(upstream)" in message


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "small"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_pytest_stops_before_the_first_upstream_test_on_a_small_disk(small_tmpfs: Path) -> None:
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            f"--basetemp={small_tmpfs / 'run'}",
            "tests/steps/upstream/test_real_upstream.py",
        ],
        capture_output=True,
        text=True,
        timeout=120,  # the first test alone would take minutes: it must not start
    )
    assert run.returncode == pytest.ExitCode.USAGE_ERROR, run.stdout[-2000:] + run.stderr[-2000:]
    assert f"{small_tmpfs} has 0.0 GB free" in run.stdout + run.stderr
    assert "(upstream)" in run.stdout + run.stderr
    assert not (small_tmpfs / "run").exists()
