"""The distribution carries every import package of the source tree, so a non-editable install
(what both images do) has every module the editable one has."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path, PurePosixPath

REPO = Path(__file__).resolve().parents[1]


def source_packages(package_dirs: dict[str, str]) -> set[str]:
    found = set()
    for top, folder in package_dirs.items():
        root = REPO / folder
        for init in root.rglob("__init__.py"):
            rel = init.parent.relative_to(root)
            found.add(".".join([top, *rel.parts]))
    return found


def test_every_package_folder_is_in_the_distribution() -> None:
    setuptools = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]

    assert set(setuptools["packages"]) == source_packages(setuptools["package-dir"])


def test_every_file_of_the_web_console_is_package_data() -> None:
    """The console is served from the installed package: a file no glob names would be missing."""
    globs = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["sovits_api"]
    root = REPO / "api" / "sovits_api"
    files = [p.relative_to(root).as_posix() for p in (root / "console-ui").rglob("*") if p.is_file()]
    assert "console-ui/index.html" in files
    # setuptools' globs: `*` stays within one folder, as PurePath.match does for a relative pattern
    assert [f for f in files if not any(PurePosixPath(f).match(g) for g in globs)] == []


def test_the_wheel_builds_without_setuptools_warnings_and_carries_the_console(tmp_path: Path) -> None:
    # A folder of data whose name is an identifier makes setuptools warn that a package "would
    # be ignored" on every install: the console's files live in console-ui/.
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(REPO)],
        capture_output=True, text=True, check=True, timeout=300,
    )  # fmt: skip
    assert "would be ignored" not in built.stdout + built.stderr
    (wheel,) = tmp_path.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {"sovits_api/console-ui/index.html", "sovits_api/console-ui/pages/task.js"} <= set(names)
