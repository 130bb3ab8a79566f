"""slice_audio: our own RMS silence slicer, vectorised, with upstream's parameters and naming.

Parameters keep upstream's units (threshold in dB, lengths in ms at a 32 kHz analysis rate)
and outputs keep upstream's names, ``<source name incl. ext>_<start>_<end>.wav`` with
10-digit sample offsets at 32 kHz, because later steps key items by that basename.

How it cuts (the code is ours; the behaviour follows upstream's description):
RMS is measured every hop over a window of up to four hops centred on the hop (shorter
when ``min_interval`` is). Runs of frames below the threshold are silences. A silence at
least ``min_interval`` long becomes a cut once the chunk since the previous cut is at
least ``min_length`` long; a silence up to ``max_sil_kept`` is cut at its quietest frame,
a longer one loses its middle so that at most ``max_sil_kept`` stays on each side (edges
at the quietest frames). Leading silence longer than ``max_sil_kept`` is trimmed to it,
trailing silence of ``min_interval`` or more is trimmed at its quietest frame near the
start. There is no maximum chunk length. Only the frame loop over silences is Python; RMS,
run detection and normalisation are numpy over the whole file.

Each chunk is written as a blend of itself and its peak-normalised copy:
``out = (1 - alpha) * x + alpha * max_amp * x / peak``, which is one gain per chunk.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from sovits_operator.errors import InvalidInput
from sovits_operator.params import SliceAudioParams

from .audio import PCM16_SCALE, SLICE_RATE, DecodeError, read_pcm16, write_pcm16
from .context import StepContext, StepResult

log = logging.getLogger(__name__)

INPUT = "converted_wav"
OUTPUT = "sliced"
SLICE_NAME = re.compile(r"^(?P<source>.+)_(?P<start>\d{10})_(?P<end>\d{10})\.wav$")
_BLOCK_HOPS = 1 << 14  # hops per block when measuring energy, to bound temporary memory

Frames = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Slicing:
    """Slicer settings in analysis frames (hops) and samples at 32 kHz."""

    hop: int
    window_hops: int
    energy_threshold: float  # window energy (int16 units squared) below which a frame is silent
    min_length: int
    min_interval: int
    max_sil_kept: int
    max_amp: float
    alpha: float

    @classmethod
    def from_params(cls, p: SliceAudioParams, rate: int = SLICE_RATE) -> Slicing:
        hop = round(rate * p.hop_size / 1000)
        window_hops = max(1, min(round(p.min_interval / p.hop_size), 4))
        amplitude = 10 ** (p.threshold / 20) * PCM16_SCALE
        return cls(
            hop=hop,
            window_hops=window_hops,
            energy_threshold=amplitude**2 * window_hops * hop,
            min_length=round(p.min_length / p.hop_size),
            min_interval=round(p.min_interval / p.hop_size),
            max_sil_kept=round(p.max_sil_kept / p.hop_size),
            max_amp=p.max_amp,
            alpha=p.alpha,
        )


def window_energy(x: npt.NDArray[np.int16], hop: int, window_hops: int) -> Frames:
    """Energy of the window centred on each hop; ``len(x) // hop + 1`` frames."""
    full = len(x) // hop
    per_hop = np.empty(full + 1, dtype=np.float64)
    for start in range(0, full, _BLOCK_HOPS):
        stop = min(full, start + _BLOCK_HOPS)
        block = x[start * hop : stop * hop].astype(np.float32).reshape(-1, hop)
        per_hop[start:stop] = np.einsum("ij,ij->i", block, block)
    tail = x[full * hop :].astype(np.float64)
    per_hop[full] = float(tail @ tail)
    half = window_hops // 2
    padded = np.concatenate([np.zeros(half), per_hop, np.zeros(window_hops - half - 1)])
    return np.convolve(padded, np.ones(window_hops), mode="valid")


def silences(silent: npt.NDArray[np.bool_]) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Start and end (exclusive) frames of every run of silent frames."""
    edges = np.diff(np.concatenate([[0], silent.view(np.int8), [0]]))
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)


def _quietest(energy: Frames, lo: int, hi: int) -> int:
    return lo + int(np.argmin(energy[lo:hi]))


def plan_cuts(energy: Frames, s: Slicing) -> list[tuple[int, int]]:
    """Frame ranges ``[left, right)`` to remove; a range with left == right is a plain cut."""
    n = len(energy)
    starts, ends = silences(energy < s.energy_threshold)
    lengths = ends - starts
    keep = (lengths >= s.min_interval) | ((starts == 0) & (lengths > s.max_sil_kept))
    cuts: list[tuple[int, int]] = []
    clip_start = 0
    for start, end in zip(starts[keep].tolist(), ends[keep].tolist(), strict=True):
        if start == 0:
            if end == n:
                return [(0, n)]  # nothing but silence
            right = _quietest(energy, max(start, end - s.max_sil_kept), end)
            cuts.append((0, right))
            clip_start = right
            continue
        if end == n:
            cuts.append((_quietest(energy, start, min(end, start + s.max_sil_kept)), n))
            break
        if end - start <= s.max_sil_kept:
            left = right = _quietest(energy, start, end)
        else:
            left = _quietest(energy, start, start + s.max_sil_kept)
            right = max(left, _quietest(energy, end - s.max_sil_kept, end))
        if left - clip_start >= s.min_length:
            cuts.append((left, right))
            clip_start = right
    return cuts


def chunk_bounds(cuts: list[tuple[int, int]], n_frames: int, hop: int, n_samples: int) -> list[tuple[int, int]]:
    """Sample ranges of the chunks between the removed ranges."""
    bounds: list[tuple[int, int]] = []
    pos = 0
    for left, right in [*cuts, (n_frames, n_frames)]:
        start, end = pos * hop, min(n_samples, left * hop)
        if end > start:
            bounds.append((start, end))
        pos = right
    return bounds


def normalise(chunk: npt.NDArray[np.int16], max_amp: float, alpha: float) -> npt.NDArray[np.int16] | None:
    """The chunk blended with its peak-normalised copy; None for digital silence."""
    peak = max(abs(int(chunk.max())), abs(int(chunk.min()))) / PCM16_SCALE
    if peak == 0:
        return None
    gain = max_amp * alpha / peak + (1 - alpha)
    if gain == 1:
        return chunk
    scaled = np.rint(chunk.astype(np.float32) * np.float32(gain))
    return np.asarray(np.clip(scaled, -32768, 32767), dtype=np.int16)


def slice_file(src: Path, name: str, out_dir: Path, s: Slicing) -> list[Path]:
    """Slice one file; outputs named after ``name`` (the source's basename incl. extension)."""
    x = read_pcm16(src, SLICE_RATE)
    energy = window_energy(x, s.hop, s.window_hops)
    written = []
    for start, end in chunk_bounds(plan_cuts(energy, s), len(energy), s.hop, len(x)):
        chunk = normalise(x[start:end], s.max_amp, s.alpha)
        if chunk is None:
            continue
        path = out_dir / f"{name}_{start:010d}_{end:010d}.wav"
        write_pcm16(path, chunk, SLICE_RATE)
        written.append(path)
    log.info("sliced %s into %d chunks", name, len(written))
    return written


def slice_all(
    sources: list[Path],
    out_dir: Path,
    s: Slicing,
    *,
    workers: int | None = None,
    on_done: Callable[[int, int], None] | None = None,
) -> tuple[list[Path], list[tuple[str, str]]]:
    """Slice every source; a file that cannot be read is named in the log and skipped."""
    done = 0

    def one(src: Path) -> tuple[Path, list[Path] | str]:
        try:
            return src, slice_file(src, src.name, out_dir, s)
        except (DecodeError, RuntimeError, ValueError) as exc:  # soundfile raises RuntimeError
            return src, str(exc)

    outputs: list[Path] = []
    failed: list[tuple[str, str]] = []
    with ThreadPoolExecutor(workers or min(len(sources), os.cpu_count() or 1) or 1) as pool:
        for src, got in pool.map(one, sources):
            done += 1
            if isinstance(got, str):
                log.warning("skipped %s/%s: %s", INPUT, src.name, got)
                failed.append((src.name, got))
            else:
                outputs.extend(got)
            if on_done:
                on_done(done, len(sources))
    return outputs, failed


def run(ctx: StepContext) -> StepResult:
    params = ctx.params
    assert isinstance(params, SliceAudioParams)
    names = [info.key[len(INPUT) + 1 :] for info in ctx.store.iter_objects(f"{INPUT}/")]
    mine = set(ctx.my_share([n for n in names if "/" not in n]))
    sources = ctx.stage_in(INPUT, select=lambda name: name in mine)
    outputs, failed = slice_all(
        sources,
        ctx.folder(OUTPUT),
        Slicing.from_params(params),
        on_done=lambda n, total: ctx.progress.update(n / total, f"sliced {n}/{total} files"),
    )
    if ctx.shard_count == 1 and not outputs:
        if not sources:
            raise InvalidInput(f"{INPUT}: nothing to slice; run convert_audio first", field=INPUT)
        raise InvalidInput(
            f"threshold: no sound above {params.threshold} dB in any of {len(sources)} files", field="threshold"
        )

    def owns(name: str) -> bool:
        match = SLICE_NAME.match(name)
        return ctx.shard_count == 1 or (match is not None and match["source"] in mine)

    note = f", {len(failed)} unreadable" if failed else ""
    return StepResult({OUTPUT: outputs}, owns=owns, summary=f"{len(outputs)} slices from {len(sources)} files{note}")
