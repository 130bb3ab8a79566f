"""Upstream GPT-SoVITS as hack/upstream.sh prepares it from the pinned archive (linked as
.venv/upstream), for tests that run upstream's own code beside ours."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

PREPARED = Path(__file__).resolve().parents[2] / ".venv" / "upstream"


def checkout() -> Path:
    """The unpacked upstream tree; an error (never a skip) when it has not been prepared."""
    if not (PREPARED / ".complete").is_file():
        raise RuntimeError("upstream GPT-SoVITS is not prepared: run hack/setup.sh")
    return PREPARED / "GPT-SoVITS"


def load(relative: str) -> ModuleType:
    """An upstream source file that needs only what this interpreter has, imported from its path
    under its own name (``tools/slicer2.py`` becomes ``upstream_tools_slicer2``)."""
    path = checkout() / relative
    name = "upstream_" + relative.removesuffix(".py").replace("/", "_")
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader, path
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
