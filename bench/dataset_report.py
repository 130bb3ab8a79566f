"""Dataset-report benchmark: what the report adds to asr_transcribe, against convert + slice.

Makes ``--minutes`` of espeak-ng speech (MP3 files, as an upload), converts and slices it with
the step code, then measures every slice (``sovits_steps.measure.measure_all``, which
asr_transcribe runs at its end) and builds the report (``sovits_core.dataset.report``)
from the measurements and a transcript line per slice. Prints progress, then one JSON
object on the last line; ``report_vs_prep`` is the report's time over convert + slice time
of the same run on the same data (aim <= 0.10), ``report_vs_prep_cpu`` the same for CPU time
(ffmpeg's and the measuring processes' included), which other jobs on a shared machine disturb
less. ``one_process_s`` is the same report measured in one process afterwards, the baseline
for ``processes_speedup``.

Usage: python bench/dataset_report.py [--minutes 60] [--files 6] [--processes N]
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
from typing import Any

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
    parser.add_argument("--processes", type=int, default=None, help="measuring processes (default: measure_all's)")
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

        lines = [Line(p.name, "bench", "EN", SENTENCES[i % len(SENTENCES)]) for i, p in enumerate(slices)]

        def report_of(processes: int | None) -> dict[str, Any]:
            audio = [clip.wire() for clip in measure_all(slices, SLICE_RATE, processes=processes).results]
            return dataset.report(audio, lines)

        start, cpu = time.perf_counter(), cpu_seconds()
        report = report_of(args.processes)
        report_s, report_cpu_s = time.perf_counter() - start, cpu_seconds() - cpu
        print(f"convert + slice {prep_s:.1f}s ({len(slices)} slices), report {report_s:.2f}s", flush=True)
        start = time.perf_counter()
        if report_of(1) != report:
            raise SystemExit("the report measured in one process differs")
        one_process_s = time.perf_counter() - start

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
            "one_process_s": round(one_process_s, 2),
            "processes_speedup": round(one_process_s / report_s, 2),
            "flagged_clips": summary["flagged_clips"],
            "flag_counts": summary["flag_counts"],
            "verdict": summary["verdict"],
        }
        print(json.dumps(result))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
