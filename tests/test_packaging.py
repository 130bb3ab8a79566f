"""The distribution carries every import package of the source tree, so a non-editable install
(what both images do) has every module the editable one has."""

from __future__ import annotations

import tomllib
from pathlib import Path

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
