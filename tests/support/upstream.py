"""The upstream GPT-SoVITS environment that ``hack/upstream.sh`` prepares (the step image's twin).

``hack/setup.sh`` links it as ``.venv/upstream``: the pinned release's checkout (``GPT-SoVITS/``),
its virtual environment with torch and upstream's requirements plus our package with the
``steps`` extra (``venv/``), and the NLTK data its English front end reads (``nltk_data/``).
A test that needs it and finds it missing fails with what to run; it never skips.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

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


def prepared() -> Upstream:
    if not (LINK / ".complete").is_file():
        raise RuntimeError("upstream GPT-SoVITS is not prepared: run hack/setup.sh (or hack/upstream.sh)")
    return Upstream(LINK.resolve())


def checkout() -> Path:
    return prepared().checkout
