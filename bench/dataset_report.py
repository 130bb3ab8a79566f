"""Dataset-report benchmark: what the report adds to asr_transcribe, against convert + slice.

Makes ``--minutes`` of espeak-ng speech (MP3 files, as an upload), converts and slices it with
the step code, then measures every slice (``sovits_steps.measure.measure_all``, which
asr_transcribe runs at its end) and builds the report (``sovits_core.dataset.report``)
from the measurements and a transcript line per slice. Prints progress, then one JSON
object on the last line; ``report_vs_prep`` is the report's time over convert + slice time
of the same run on the same data (aim <= 0.10), ``report_vs_prep_cpu`` the same for CPU time
(ffmpeg's and the measuring processes' included), which other jobs on a shared machine disturb
less. Each phase runs ``--repeat`` times in alternation and its fastest round counts, as
``timeit`` advises: the slower rounds measure what else the machine was doing. ``one_process_s``
is the same report measured in one process afterwards, the baseline for ``processes_speedup``.

Usage: python bench/dataset_report.py [--minutes 60] [--files 6] [--processes N] [--repeat 5]
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
    parser.add_argument("--repeat", type=int, default=5, help="rounds of each phase; the fastest counts")
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

        def prepare(into: Path) -> list[Path]:
            convert_all(sources, into / "converted", SLICE_RATE)
            (into / "sliced").mkdir()
            slice_all(sorted((into / "converted").iterdir()), into / "sliced", Slicing.from_params(SliceAudioParams()))
            return sorted((into / "sliced").iterdir())

        def report_of(slices: list[Path], lines: list[Line], processes: int | None) -> dict[str, Any]:
            audio = [clip.wire() for clip in measure_all(slices, SLICE_RATE, processes=processes).results]
            return dataset.report(audio, lines)

        prep: list[tuple[float, float]] = []  # (wall, CPU) seconds of each round
        measured: list[tuple[float, float]] = []
        one_process: list[float] = []
        reports: list[dict[str, Any]] = []
        for n in range(args.repeat):
            shutil.rmtree(work / "round", ignore_errors=True)  # one round's audio on disk at a time
            start, cpu = time.perf_counter(), cpu_seconds()
            slices = prepare(work / "round")
            prep.append((time.perf_counter() - start, cpu_seconds() - cpu))
            lines = [Line(p.name, "bench", "EN", SENTENCES[i % len(SENTENCES)]) for i, p in enumerate(slices)]
            start, cpu = time.perf_counter(), cpu_seconds()
            reports.append(report_of(slices, lines, args.processes))
            measured.append((time.perf_counter() - start, cpu_seconds() - cpu))
            start = time.perf_counter()
            if report_of(slices, lines, 1) != reports[-1]:
                raise SystemExit("the report measured in one process differs")
            one_process.append(time.perf_counter() - start)
            print(
                f"round {n + 1}: convert + slice {prep[-1][0]:.2f}s ({len(slices)} slices), "
                f"report {measured[-1][0]:.3f}s",
                flush=True,
            )
        if any(r != reports[0] for r in reports):
            raise SystemExit("the rounds' reports differ")
        report = reports[0]
        (prep_s, _), (report_s, _) = min(prep), min(measured)
        prep_cpu_s, report_cpu_s = min(c for _, c in prep), min(c for _, c in measured)
        one_process_s = min(one_process)

        summary = report["summary"]
        result = {
            "audio_seconds": seconds,
            "slices": len(slices),
            "prep_s": round(prep_s, 2),
            "report_s": round(report_s, 3),
            "report_rtf": round(report_s / seconds, 5),
            "report_vs_prep": round(report_s / prep_s, 3),
            "prep_cpu_s": round(prep_cpu_s, 2),
            "report_cpu_s": round(report_cpu_s, 2),
            "report_vs_prep_cpu": round(report_cpu_s / prep_cpu_s, 3),
            "rounds": args.repeat,
            "report_vs_prep_rounds": [round(r / p, 3) for (p, _), (r, _) in zip(prep, measured, strict=True)],
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
