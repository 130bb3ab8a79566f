"""Upstream GPT-SoVITS as hack/upstream.sh prepares it from the pinned archive (linked as
.venv/upstream: the tree in GPT-SoVITS/, its environment in venv/), for tests that run
upstream's own code beside ours."""

from __future__ import annotations

import importlib.util
import os
import subprocess
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[2]
PREPARED = REPO / ".venv" / "upstream"


def checkout() -> Path:
    """The unpacked upstream tree; an error (never a skip) when it has not been prepared."""
    if not (PREPARED / ".complete").is_file():
        raise RuntimeError("upstream GPT-SoVITS is not prepared: run hack/setup.sh")
    return PREPARED / "GPT-SoVITS"


def python() -> Path:
    """The interpreter of upstream's environment (upstream's pins, our package with `steps`)."""
    path = checkout().parent / "venv" / "bin" / "python"
    if not path.is_file():
        raise RuntimeError(f"upstream GPT-SoVITS is not prepared: {path} is missing; run hack/setup.sh")
    return path


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


def run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``python -s <args>`` in upstream's environment, from its tree as its web UI runs tools, with
    our packages from this checkout (the environment's own install may be another worktree's);
    a failure raises with upstream's output."""
    root = checkout()
    path = [root, REPO / "step-images", REPO / "operator"]
    proc = subprocess.run(
        [str(python()), "-s", *args],
        cwd=root,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(map(str, path))},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert proc.returncode == 0, f"{args} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc
