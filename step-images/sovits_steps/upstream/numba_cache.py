"""librosa's compiled functions, compiled once where upstream is installed instead of in every run.

Importing librosa compiles a dozen numba functions (``librosa.util.utils`` and
``librosa.core.audio`` decorate them with explicit signatures, so they compile at import). Each
upstream script that touches librosa pays for it: about 23 s of CPU per process on a 2-core
development machine, where a cached import takes 2 s (the HuBERT features and the test sentence
each paid it once per run), and numba's cache, which upstream's runs would otherwise keep in
their own scratch folder, dies with each run.

So the step image (and ``hack/upstream.sh`` for the tests and ``sovits local``) compiles them
once into a seed folder: ``python -m sovits_steps.upstream.numba_cache /opt/numba-cache``. A run
uses that folder (``paths.numba_cache``) as numba's cache where it may write it; in the image,
whose root is read-only and numba refuses a cache folder it cannot write, each run copies it
(2 MB) into its scratch folder. numba files its cache under a hash of the path a source file was
imported by, so the seed must be built through the path the runs use (``hack/upstream.sh``
resolves its symlinks; a writable folder catches up with another spelling on its first run).
The code is compiled for the ``generic`` CPU
(``NUMBA_CPU_NAME``): numba keys its cache by the CPU it compiled for, and the image is built on
one machine and runs on others. librosa's numba functions are small helpers (peak picking,
zero crossings, mono mixing), not training's loop; their speed as generic code was not
measured. A seed that does not match (other sources, another numba) is not an error: numba
compiles what it misses, as before; a seed folder that does not exist is logged.
"""

from __future__ import annotations

import importlib
import logging
import os
import shutil
import sys
from pathlib import Path

log = logging.getLogger(__name__)

CPU_NAME = "generic"
# What upstream's scripts import that compiles at import time.
MODULES = ("librosa.util.utils", "librosa.core.audio", "librosa.core.convert", "librosa.core.notation")


def folder(seed: Path | None, scratch: Path, *, writable: bool | None = None) -> Path:
    """The NUMBA_CACHE_DIR of one run: ``seed`` itself where this process may write it (``sovits
    local``, the tests: the first run compiles into it, later ones load); otherwise a copy of it
    in ``scratch`` (the step image's, on a read-only root: numba refuses a folder it cannot
    write); an empty ``scratch`` without a seed. ``writable`` overrides the access check."""
    if seed is None or not seed.is_dir():
        if seed is not None:
            log.warning("paths.numba_cache: %s is not a folder; librosa compiles in this run", seed)
        scratch.mkdir(parents=True, exist_ok=True)
        return scratch
    if writable if writable is not None else os.access(seed, os.W_OK):
        return seed
    shutil.copytree(seed, scratch, dirs_exist_ok=True)
    return scratch


def build(dest: Path) -> list[Path]:
    """Compile ``MODULES``' functions into ``dest``; in a process that has not imported numba yet
    (its settings are read once, at import). Returns the cache files written."""
    if "numba" in sys.modules:
        raise RuntimeError("numba is already imported: build the seed in a fresh process")
    dest.mkdir(parents=True, exist_ok=True)
    os.environ["NUMBA_CACHE_DIR"] = str(dest)
    os.environ["NUMBA_CPU_NAME"] = CPU_NAME
    for name in MODULES:
        importlib.import_module(name)
    return sorted(p for p in dest.rglob("*") if p.is_file())


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m sovits_steps.upstream.numba_cache DEST")
    files = build(Path(sys.argv[1]))
    if not files:
        raise SystemExit(f"numba wrote no cache into {sys.argv[1]}")
    print(f"{len(files)} numba cache files in {sys.argv[1]}")


if __name__ == "__main__":
    main()
