"""The distribution carries every import package of the source tree, so a non-editable install
(what both images do) has every module the editable one has."""

from __future__ import annotations

import tomllib
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
    files = [p.relative_to(root).as_posix() for p in (root / "console").rglob("*") if p.is_file()]
    assert "console/index.html" in files
    # setuptools' globs: `*` stays within one folder, as PurePath.match does for a relative pattern
    assert [f for f in files if not any(PurePosixPath(f).match(g) for g in globs)] == []
