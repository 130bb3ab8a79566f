"""Audio-preparation benchmark: one hour of speech-like audio through convert, slice and staging.

Prints progress lines, then one JSON object on the last line:
- convert_rtf / slice_rtf: wall seconds per second of audio (lower is faster);
- slice_vs_decode: slicing time over ffmpeg's decode-only time for the same files (decoding
  to float samples on a pipe, as upstream's loader does before its slicer starts; aim <= 1.2);
- slicer_speedup_vs_upstream: upstream's Slicer (tools/slicer2.py from the pinned archive, as
  hack/upstream.sh prepares it) over ours, finding the cuts alone on the same decoded samples,
  best of three alternating rounds (aim >= 10); slicer_same_cuts says both cut the same;
- staging_vs_boto3 (large files) and staging_small_vs_boto3 (the slices): throughput of our
  stage-out over plain boto3 ``upload_file`` of the same files to the same SeaweedFS
  (aim >= 0.8). Each side runs twice, alternating; the better run counts.

Usage: python bench/audio_prep.py [--minutes 60] [--files 6]
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.audio import encode, speech_like
from tests.support.seaweed import S3Store, SeaweedFS
from tests.support.upstream import load

from sovits_core.params import SliceAudioParams
from sovits_core.storage import S3ObjectStore, TaskFiles
from sovits_steps.audio import read_pcm16
from sovits_steps.convert import convert_all
from sovits_steps.slicer import Slicing, as_float, find_chunks, slice_all
from sovits_steps.staging import stage_out

RATE = 44100  # an upload's typical rate; convert brings it to 32 kHz


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


def slicer_vs_upstream(paths: list[Path], params: SliceAudioParams) -> tuple[float, bool]:
    """(upstream's seconds over ours, same cuts) for finding the cuts in each file's samples."""
    slicer2 = load("tools/slicer2.py")
    slicing = Slicing.from_params(params)
    ours_s = theirs_s = 0.0
    same = True
    for path in paths:
        x = read_pcm16(path)
        waveform = as_float(x)
        upstream = slicer2.Slicer(
            sr=32000, threshold=params.threshold, min_length=params.min_length, min_interval=params.min_interval,
            hop_size=params.hop_size, max_sil_kept=params.max_sil_kept,
        )  # fmt: skip
        base, mine = best_ratio(
            functools.partial(find_chunks, x, slicing), functools.partial(upstream.slice, waveform), rounds=3
        )
        theirs_s, ours_s = theirs_s + base, ours_s + mine
        same = same and find_chunks(x, slicing) == [(start, end) for _, start, end in upstream.slice(waveform)]
    print(f"slicer alone: upstream {theirs_s:.2f}s, ours {ours_s:.2f}s, same cuts: {same}", flush=True)
    return theirs_s / ours_s, same


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
            path = encode(speech_like(per_file, i, rate=RATE), work / "input" / f"talk{i}.mp3", rate=RATE, channels=2)
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
        speedup, same_cuts = slicer_vs_upstream(converted, SliceAudioParams())

        result = {
            "audio_seconds": seconds,
            "convert_rtf": round(convert_s / seconds, 5),
            "slice_rtf": round(slice_s / seconds, 5),
            "slice_vs_decode": round(slice_s / decode_s, 3),
            "slicer_speedup_vs_upstream": round(speedup, 1),
            "slicer_same_cuts": same_cuts,
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
