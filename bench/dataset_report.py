"""Dataset-report benchmark: what the report adds to asr_transcribe, against convert + slice.

Makes ``--minutes`` of espeak-ng speech (MP3 files, as an upload), converts and slices it with
the step code, then measures every slice (``sovits_steps.measure.measure_all``, which
asr_transcribe runs at its end) and builds the report (``sovits_core.dataset.report``)
from the measurements and a transcript line per slice. Prints progress, then one JSON
object on the last line; ``report_vs_prep`` is the report's time over convert + slice time
of the same run on the same data (aim <= 0.10), ``report_vs_prep_cpu`` the same for CPU time
(ffmpeg's included), which other jobs on a shared machine disturb less.

Usage: python bench/dataset_report.py [--minutes 60] [--files 6] [--workers N]
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.audio import SENTENCES, encode, speech_like

from sovits_core import dataset
from sovits_core.params import SliceAudioParams
from sovits_core.transcripts import Line
from sovits_steps.audio import SLICE_RATE
from sovits_steps.convert import convert_all
from sovits_steps.measure import measure_all
from sovits_steps.slicer import Slicing, slice_all

RATE = 44100


def cpu_seconds() -> float:
    """CPU time of this process's threads and its finished children (ffmpeg): what a phase costs,
    less disturbed than wall time by other work on a shared machine."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--files", type=int, default=6)
    parser.add_argument("--workers", type=int, default=None, help="measuring threads (default: measure_all's)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    work = Path(tempfile.mkdtemp(prefix="sovits-bench-"))
    try:
        seconds = args.minutes * 60
        sources = {}
        for i in range(args.files):
            path = encode(speech_like(seconds / args.files, i, rate=RATE), work / "in" / f"talk{i}.mp3", rate=RATE)
            sources[path.name] = path
        print(f"generated {args.minutes:g} min in {args.files} mp3 files", flush=True)

        start, cpu = time.perf_counter(), cpu_seconds()
        convert_all(sources, work / "converted", SLICE_RATE)
        (work / "sliced").mkdir()
        slice_all(sorted((work / "converted").iterdir()), work / "sliced", Slicing.from_params(SliceAudioParams()))
        prep_s, prep_cpu_s = time.perf_counter() - start, cpu_seconds() - cpu
        slices = sorted((work / "sliced").iterdir())

        start, cpu = time.perf_counter(), cpu_seconds()
        threads = {} if args.workers is None else {"workers": args.workers}
        audio = [clip.wire() for clip in measure_all(slices, SLICE_RATE, **threads).results]
        lines = [Line(p.name, "bench", "EN", SENTENCES[i % len(SENTENCES)]) for i, p in enumerate(slices)]
        report = dataset.report(audio, lines)
        report_s, report_cpu_s = time.perf_counter() - start, cpu_seconds() - cpu
        print(f"convert + slice {prep_s:.1f}s ({len(slices)} slices), report {report_s:.1f}s", flush=True)

        summary = report["summary"]
        result = {
            "audio_seconds": seconds,
            "slices": len(slices),
            "prep_s": round(prep_s, 2),
            "report_s": round(report_s, 2),
            "report_rtf": round(report_s / seconds, 5),
            "report_vs_prep": round(report_s / prep_s, 3),
            "prep_cpu_s": round(prep_cpu_s, 2),
            "report_cpu_s": round(report_cpu_s, 2),
            "report_vs_prep_cpu": round(report_cpu_s / prep_cpu_s, 3),
            "flagged_clips": summary["flagged_clips"],
            "flag_counts": summary["flag_counts"],
            "verdict": summary["verdict"],
        }
        print(json.dumps(result))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
