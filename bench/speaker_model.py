"""Speaker-model benchmark: what upstream's speaker-verification model costs the dataset report,
against the cepstral embedding on the same clips.

Makes ``--minutes`` of espeak-ng speech as clips of ``--clip-seconds`` at 32 kHz (what the
slicer writes), then embeds them twice: with ``sovits_steps.measure.measure_all`` (the
cepstral embedding and every other measurement, in this process: the baseline), and with the
process asr_transcribe starts for ERes2NetV2 (``sovits_steps.upstream.speaker_model``, in
upstream's interpreter from the prepared checkout, on the CPU). The weights are random, made
with upstream's class (pretrained ones cannot be fetched here); the compute is the same.
``model_vs_measure`` is the model process's wall time over the measurement's.

Needs hack/upstream.sh's environment (hack/setup.sh makes it).
Usage: python bench/speaker_model.py [--minutes 10] [--clip-seconds 6] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.audio import SENTENCES, speech, write_wav
from tests.support.upstream import prepared

from sovits_steps.audio import SLICE_RATE
from sovits_steps.measure import measure_all
from sovits_steps.upstream import speaker_model

REPO = Path(__file__).resolve().parents[1]
STAND_IN = """
import sys, torch
from ERes2NetV2 import ERes2NetV2
torch.manual_seed(0)
torch.save(ERes2NetV2(baseWidth=24, scale=4, expansion=4).state_dict(), sys.argv[1])
"""


def clips(folder: Path, minutes: float, seconds: float) -> list[Path]:
    """Clips of about ``seconds`` each, sentences spoken one after another, ``minutes`` in all."""
    spoken = [speech(s, rate=SLICE_RATE) for s in SENTENCES]
    out, total, i = [], 0.0, 0
    while total < minutes * 60:
        parts, length = [], 0
        while length < seconds * SLICE_RATE:
            parts.append(spoken[i % len(spoken)])
            length += len(parts[-1])
            i += 1
        out.append(write_wav(folder / f"clip{len(out):04d}.wav", np.concatenate(parts), rate=SLICE_RATE))
        total += length / SLICE_RATE
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--clip-seconds", type=float, default=6.0)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's, one per core)")
    args = parser.parse_args()
    upstream = prepared()
    eres2net = upstream.checkout / speaker_model.MODULE_DIR
    work = Path(tempfile.mkdtemp(prefix="sovits-bench-sv-"))
    try:
        paths = clips(work / "clips", args.minutes, args.clip_seconds)
        audio_s = sum(p.stat().st_size - 44 for p in paths) / 2 / SLICE_RATE
        env = {
            "PATH": os.environ["PATH"],
            "PYTHONPATH": os.pathsep.join([str(eres2net), str(REPO / "core"), str(REPO / "step-images")]),
            "CUDA_VISIBLE_DEVICES": "",
        }
        if args.threads:
            env["OMP_NUM_THREADS"] = str(args.threads)
        weights = work / "sv.ckpt"
        subprocess.run([str(upstream.python), "-s", "-c", STAND_IN, str(weights)], cwd=upstream.checkout, env=env,
                       check=True)  # fmt: skip
        print(f"{len(paths)} clips, {audio_s / 60:.1f} min", flush=True)

        start = time.perf_counter()
        measure_all(paths, SLICE_RATE)
        measure_s = time.perf_counter() - start

        listing, out = work / "clips.json", work / "embeddings.json"
        listing.write_text(json.dumps([str(p) for p in paths]), encoding="utf-8")
        start = time.perf_counter()
        done = subprocess.run(
            [str(upstream.python), "-s", "-m", speaker_model.__name__, str(weights), str(listing), str(out)],
            cwd=upstream.checkout, env=env, capture_output=True, text=True, check=True,
        )  # fmt: skip
        model_s = time.perf_counter() - start
        found = re.search(r"embedded on (\w+) in ([\d.]+) s", done.stdout)
        assert found is not None and len(json.loads(out.read_text())) == len(paths), done.stdout + done.stderr
        embed_s = float(found[2])
        print(f"measure_all {measure_s:.2f} s; model process {model_s:.1f} s, of which embedding {embed_s:.1f} s")
        print(
            json.dumps(
                {
                    "audio_seconds": round(audio_s, 1),
                    "clips": len(paths),
                    "device": found[1],
                    "measure_s": round(measure_s, 2),
                    "model_s": round(model_s, 2),
                    "model_embed_s": round(embed_s, 2),
                    "model_start_s": round(model_s - embed_s, 2),
                    "model_rtf": round(embed_s / audio_s, 4),
                    "model_vs_measure": round(model_s / measure_s, 1),
                }
            )
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
