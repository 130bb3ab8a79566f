"""The upstream GPT-SoVITS environment that ``hack/upstream.sh`` prepares (the step image's twin).

``hack/setup.sh`` links it as ``.venv/upstream``: the pinned release's checkout (``GPT-SoVITS/``),
its virtual environment with torch and upstream's requirements plus our package with the
``steps`` extra (``venv/``), the NLTK data its English front end reads (``nltk_data/``), and the
seed of numba's cache with librosa's functions compiled (``numba-cache/``).
A test that needs it and finds it missing fails with what to run; it never skips.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[2]
LINK = REPO / ".venv" / "upstream"


@dataclass(frozen=True)
class Upstream:
    root: Path

    @property
    def checkout(self) -> Path:
        return self.root / "GPT-SoVITS"

    @property
    def python(self) -> Path:
        return self.root / "venv" / "bin" / "python"

    @property
    def nltk_data(self) -> Path:
        return self.root / "nltk_data"

    @property
    def numba_cache(self) -> Path:
        return self.root / "numba-cache"


def prepared() -> Upstream:
    if not (LINK / ".complete").is_file():
        raise RuntimeError("upstream GPT-SoVITS is not prepared: run hack/setup.sh (or hack/upstream.sh)")
    return Upstream(LINK.resolve())


def checkout() -> Path:
    return prepared().checkout


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
    env = prepared()
    path = [env.checkout, REPO / "step-images", REPO / "core", REPO / "cli"]
    proc = subprocess.run(
        [str(env.python), "-s", *args],
        cwd=env.checkout,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(map(str, path))},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert proc.returncode == 0, f"{args} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc
