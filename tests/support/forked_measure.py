"""A script that measures forty one-second tones with ``measure_all`` in two forked processes and
in one, in whatever interpreter runs it (the step image's, upstream's), after ``prelude``. Its
last line is JSON: the forks made, the clips measured, whether both ways agree, the uid."""

from __future__ import annotations

BODY = """
import json, os, tempfile
from pathlib import Path
import numpy as np
from sovits_steps.audio import SLICE_RATE, write_pcm16
from sovits_steps.measure import measure_all
folder, t = Path(tempfile.mkdtemp()), np.arange(SLICE_RATE) / SLICE_RATE
paths = [folder / f"{i}.wav" for i in range(40)]
for i, path in enumerate(paths):
    write_pcm16(path, (8000 * np.sin(2 * np.pi * (200 + 10 * i) * t)).astype(np.int16), SLICE_RATE)
forks = []
os.register_at_fork(after_in_parent=lambda: forks.append(1))
two = [m.wire() for m in measure_all(paths, SLICE_RATE, processes=2).results]
one = [m.wire() for m in measure_all(paths, SLICE_RATE, processes=1).results]
print(json.dumps({"forks": len(forks), "clips": len(two), "same": two == one, "uid": os.getuid()}))
"""


def script(prelude: str = "") -> str:
    return prelude + BODY
