"""Audio-preparation benchmark: one hour of speech-like audio through convert, slice and staging.

Prints progress lines, then one JSON object on the last line:
- convert_rtf / slice_rtf: wall seconds per second of audio (lower is faster);
- slice_vs_decode: slicing time over ffmpeg's decode-only time for the same files (decoding
  to float samples on a pipe, as upstream's loader does before its slicer starts; aim <= 1.2);
- staging_vs_boto3 (large files) and staging_small_vs_boto3 (the slices): throughput of our
  stage-out over plain boto3 ``upload_file`` of the same files to the same SeaweedFS
  (aim >= 0.8). Each side runs twice, alternating; the better run counts.

Usage: python bench/audio_prep.py [--minutes 60] [--files 6]
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.audio import encode, silence, speech
from tests.support.seaweed import S3Store, SeaweedFS

from sovits_operator.params import SliceAudioParams
from sovits_operator.storage import S3ObjectStore, TaskFiles
from sovits_steps.convert import convert_all
from sovits_steps.slicer import Slicing, slice_all
from sovits_steps.staging import stage_out

PHRASES = [
    "the quick brown fox jumps over the lazy dog",
    "many voices sing together in the morning light",
    "a long time ago people wrote letters by hand",
    "the train leaves the station at noon every day",
    "please remember to close the window before you leave",
    "numbers like seven hundred and twelve are easy to say",
    "she sells sea shells by the sea shore",
    "water flows downhill and finds the shortest path",
]
RATE = 44100  # an upload's typical rate; convert brings it to 32 kHz


def speech_like(seconds: float, seed: int) -> np.ndarray:
    """espeak-ng phrases in random order with pauses of 0.15-1.5 s, ``seconds`` long."""
    rng = np.random.default_rng(seed)
    voices = [speech(p, rate=RATE) for p in PHRASES]
    parts: list[np.ndarray] = []
    total = 0
    while total < seconds * RATE:
        for piece in (voices[rng.integers(len(voices))], silence(float(rng.uniform(0.15, 1.5)), rate=RATE)):
            parts.append(piece)
            total += len(piece)
    return np.concatenate(parts)[: int(seconds * RATE)]


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def decode_only(paths: list[Path]) -> None:
    for path in paths:
        subprocess.run(
            ["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-ac", "1", "-ar", "32000", "-f", "f32le", "-"],
            capture_output=True,
            check=True,
        )


def best_ratio(ours: Callable[[], object], baseline: Callable[[], object], rounds: int = 2) -> tuple[float, float]:
    """(best baseline seconds, best ours seconds), alternating so drift hits both alike."""
    base_t, ours_t = [], []
    for _ in range(rounds):
        base_t.append(timed(baseline))
        ours_t.append(timed(ours))
    return min(base_t), min(ours_t)


def staging(s3: S3Store, files: list[Path], root: Path, label: str) -> float:
    client = s3.client()
    store = TaskFiles(
        S3ObjectStore(bucket=s3.bucket, endpoint_url=s3.endpoint_url, access_key_id=s3.access_key,
                      secret_access_key=s3.secret_key),
        f"bench/ours/{label}/",
    )  # fmt: skip
    size = sum(f.stat().st_size for f in files)

    def baseline() -> None:
        for f in files:
            client.upload_file(str(f), s3.bucket, f"bench/boto3/{label}/{f.name}")

    base_s, ours_s = best_ratio(lambda: stage_out(store, "out", root, files, owns=lambda _: False), baseline)
    print(f"staging {label}: {size / 2**20:.0f} MiB boto3 {size / base_s / 2**20:.1f} MiB/s, "
          f"ours {size / ours_s / 2**20:.1f} MiB/s", flush=True)  # fmt: skip
    return base_s / ours_s


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--files", type=int, default=6)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    work = Path(tempfile.mkdtemp(prefix="sovits-bench-"))
    server = SeaweedFS(work / "seaweed")
    try:
        s3 = server.start()
        seconds = args.minutes * 60
        per_file = seconds / args.files
        sources = {}
        for i in range(args.files):
            path = encode(speech_like(per_file, i), work / "input" / f"talk{i}.mp3", rate=RATE, channels=2)
            sources[path.name] = path
        print(f"generated {seconds / 60:.0f} min in {args.files} mp3 files", flush=True)

        converted_dir, sliced_dir = work / "converted", work / "sliced"
        sliced_dir.mkdir()
        convert_s = timed(lambda: convert_all(sources, converted_dir, 32000))
        converted = sorted(converted_dir.iterdir())
        slicing = Slicing.from_params(SliceAudioParams())
        slice_s = timed(lambda: slice_all(converted, sliced_dir, slicing, workers=1))
        decode_s = timed(lambda: decode_only(converted))
        slices = sorted(sliced_dir.iterdir())
        print(f"convert {convert_s:.1f}s, slice {slice_s:.1f}s ({len(slices)} slices), decode-only {decode_s:.1f}s",
              flush=True)  # fmt: skip

        result = {
            "audio_seconds": seconds,
            "convert_rtf": round(convert_s / seconds, 5),
            "slice_rtf": round(slice_s / seconds, 5),
            "slice_vs_decode": round(slice_s / decode_s, 3),
            "staging_vs_boto3": round(staging(s3, converted, converted_dir, "large"), 3),
            "staging_small_vs_boto3": round(staging(s3, slices, sliced_dir, "small"), 3),
            "slices": len(slices),
        }
        print(json.dumps(result))
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
