"""slice_audio: cuts exactly where upstream's Slicer (tools/slicer2.py) cuts, without its frame loop.

Parameters keep upstream's units (threshold in dB, lengths in ms at the 32 kHz analysis rate)
and outputs keep upstream's names, ``<source name incl. ext>_<start>_<end>.wav`` with 10-digit
sample offsets at 32 kHz, because later steps key items by that basename. The offsets are the
ones upstream reports, frame index times hop, so the last chunk's end may lie past the last
sample, as it does upstream.

The rule (ours, written from what upstream's code does; tests/steps/test_slicer_upstream.py
runs upstream's code beside this on the same signals and requires the same cuts):
- RMS is measured every hop over a window of ``min(min_interval, 4 hops)`` centred on the hop,
  with zeros beyond both ends, in float32 summed in the order numpy's pairwise sum uses, so the
  values are bit-equal to upstream's and so are threshold tests and quietest-frame choices.
- Runs of frames below the threshold are silences. A silence is judged at its first sounding
  frame ``i``: it is cut when it starts the file and is longer than ``max_sil_kept``, or when
  it is at least ``min_interval`` long and ``i`` is at least ``min_length`` past the end of
  the previous cut. Quietest-frame searches include frame ``i``.
- A silence up to ``max_sil_kept`` is cut at its quietest frame; one up to twice that keeps
  the stretch between its quietest frames near each end, widened to the quietest frame where
  the two ``max_sil_kept`` spans overlap; a longer one keeps ``max_sil_kept`` (to the quietest
  frame) on each side. A cut silence at the start keeps only its right side.
- Trailing silence of at least ``min_interval`` is cut at the quietest frame of its first
  ``max_sil_kept``, whatever the chunk's length. A file of at most ``min_length`` samples
  (upstream compares samples with frames there) is one chunk.
Only the loop over silences is Python; RMS, run detection and normalisation are numpy.

Each chunk is written as upstream's tools/slice_audio.py writes it: the float32 samples blended
with their peak-normalised copy, ``x / peak * (max_amp * alpha) + (1 - alpha) * x``, scaled by
32767 and truncated to int16. Unlike upstream, a chunk of digital silence (upstream divides by
a zero peak) or of no samples (upstream's loader raises and drops the rest of the file) is
skipped.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

from sovits_core import contract
from sovits_core.contract import SLICE_NAME
from sovits_core.errors import InvalidInput
from sovits_core.params import SliceAudioParams

from .audio import PCM16_SCALE, SLICE_RATE, UNREADABLE, read_pcm16, write_pcm16
from .context import StepContext, StepResult
from .parallel import Mapped, map_items

log = logging.getLogger(__name__)

INPUT = contract.CONVERTED_WAV
OUTPUT = contract.SLICED
_BLOCK_SAMPLES = 1 << 16  # samples per block when measuring RMS: small enough to stay in cache
# numpy's pairwise summation (numpy/_core/src/umath/loops_utils.h.src): runs of up to 128
# floats are summed directly, longer ones split in halves rounded down to a multiple of 8.
_PAIRWISE_LEAF = 128
_PAIRWISE_UNROLL = 8

Floats = npt.NDArray[np.float32]
Tag = tuple[int, int]  # frames [left, right) removed; left == right is a plain cut
Tree: TypeAlias = "int | tuple[Tree, Tree]"


@dataclass(frozen=True)
class Slicing:
    """Slicer settings in samples and analysis frames (hops), derived as upstream derives them."""

    hop: int
    win: int
    threshold: float  # RMS amplitude, full scale 1.0
    min_length: int
    min_interval: int
    max_sil_kept: int
    max_amp: float
    alpha: float

    @classmethod
    def from_params(cls, p: SliceAudioParams, rate: int = SLICE_RATE) -> Slicing:
        hop = round(rate * p.hop_size / 1000)
        min_interval = rate * p.min_interval / 1000
        return cls(
            hop=hop,
            win=min(round(min_interval), 4 * hop),
            threshold=10 ** (p.threshold / 20.0),
            min_length=round(rate * p.min_length / 1000 / hop),
            min_interval=round(min_interval / hop),
            max_sil_kept=round(rate * p.max_sil_kept / 1000 / hop),
            max_amp=p.max_amp,
            alpha=p.alpha,
        )


def as_float(x: npt.NDArray[np.int16]) -> Floats:
    """PCM16 as the float32 samples ffmpeg's f32le output (upstream's loader) gives for it."""
    return np.multiply(x, np.float32(1 / PCM16_SCALE), dtype=np.float32)


def _hop_tree(n: int, hop: int, first: int = 0) -> Tree | None:
    """How numpy's pairwise sum of ``n`` floats splits into whole hops: nested pairs of hop
    indices, or None when a split falls inside a hop."""
    if n == hop:
        return first
    if n <= _PAIRWISE_LEAF or n % hop:
        return None
    half = n // 2 - (n // 2) % _PAIRWISE_UNROLL
    if half % hop:
        return None
    left, right = _hop_tree(half, hop, first), _hop_tree(n - half, hop, first + half // hop)
    return None if left is None or right is None else (left, right)


def _sum_tree(tree: Tree, sums: Floats, frames: int) -> Floats:
    """Each frame's sum from the whole-hop sums, added in the tree's order."""
    if isinstance(tree, int):
        return sums[tree : tree + frames]
    return _sum_tree(tree[0], sums, frames) + _sum_tree(tree[1], sums, frames)


@functools.lru_cache
def _shared_hop_tree(win: int, hop: int) -> Tree | None:
    """``_hop_tree``, kept only if this numpy sums a window that way: checked once per size on
    samples whose sums differ with the order of addition."""
    tree = _hop_tree(win, hop)
    if tree is None:
        return None
    frames = 8
    x = np.random.default_rng(0).normal(size=(frames - 1) * hop + win).astype(np.float32)
    x *= np.float32(10) ** (np.arange(len(x), dtype=np.float32) % 7)
    direct = np.lib.stride_tricks.sliding_window_view(x, win)[::hop].sum(axis=1)
    by_hop = _sum_tree(tree, x[: (frames + win // hop - 1) * hop].reshape(-1, hop).sum(axis=1), frames)
    return tree if np.array_equal(direct, by_hop) else None


def _padded(x: Floats | npt.NDArray[np.int16], start: int, stop: int) -> Floats:
    """Samples ``start:stop`` of ``x`` as float32, zeros where the range lies outside it."""
    out = np.zeros(stop - start, dtype=np.float32)
    lo, hi = max(start, 0), min(stop, len(x))
    if hi > lo:
        out[lo - start : hi - start] = x[lo:hi]
    return out


def _hop_sums(x: Floats | npt.NDArray[np.int16], hop: int, offset: int, runs: int) -> Floats:
    """float32 sums of squares of the ``runs`` hop-long runs starting at sample ``-offset``
    (zeros outside ``x``), each summed by numpy in one pairwise reduction."""
    sums = np.empty(runs, dtype=np.float32)
    inner_start = min(runs, -(-offset // hop))  # runs wholly inside x need no zero padding
    inner_stop = max(inner_start, min(runs, (len(x) + offset) // hop))
    step = max(1, _BLOCK_SAMPLES // hop)
    for lo, hi in [(0, inner_start), (inner_stop, runs)]:
        if hi > lo:
            block = _padded(x, lo * hop - offset, hi * hop - offset)
            sums[lo:hi] = np.square(block, out=block).reshape(-1, hop).sum(axis=1)
    for lo in range(inner_start, inner_stop, step):
        hi = min(inner_stop, lo + step)
        block = x[lo * hop - offset : hi * hop - offset].astype(np.float32)
        sums[lo:hi] = np.square(block, out=block).reshape(-1, hop).sum(axis=1)
    return sums


def frame_rms(x: Floats | npt.NDArray[np.int16], hop: int, win: int) -> Floats:
    """RMS of the ``win`` samples centred on each hop (zeros beyond the ends), bit-equal to
    upstream's get_rms on the float32 samples: the same float32 sums in the same order.

    PCM16 is measured in integer units and scaled at the end: scaling by powers of two commutes
    with float32 rounding here, so the result is the same and one pass over the samples cheaper."""
    half = win // 2
    frames = (len(x) + 2 * half - win) // hop + 1
    tree = _shared_hop_tree(win, hop)
    if tree is not None:
        # Every frame's sum is a fixed tree over whole-hop sums that neighbouring frames share.
        energy = _sum_tree(tree, _hop_sums(x, hop, half, frames + win // hop - 1), frames)
    else:
        energy = np.empty(frames, dtype=np.float32)
        step = max(1, _BLOCK_SAMPLES // win)
        for f in range(0, frames, step):
            stop = min(frames, f + step)
            block = _padded(x, f * hop - half, (stop - 1) * hop - half + win)
            view = np.lib.stride_tricks.sliding_window_view(block, win)[::hop]
            energy[f:stop] = np.square(view).sum(axis=1)
    rms: Floats = np.sqrt(energy / np.float32(win))
    if x.dtype == np.int16:
        rms *= np.float32(1 / PCM16_SCALE)
    return rms


def silences(silent: npt.NDArray[np.bool_]) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Start and end (exclusive) frames of every run of silent frames."""
    edges = np.diff(np.concatenate([[0], silent.view(np.int8), [0]]))
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)


def below(rms: Floats, threshold: float) -> npt.NDArray[np.bool_]:
    """``rms < threshold`` per frame as upstream's loop compares one float32 scalar with a Python
    float: in float64 under numpy 1.x (the step image's), in float32 under numpy 2."""
    common = np.result_type(np.float32(0), threshold)
    silent: npt.NDArray[np.bool_] = rms.astype(common, copy=False) < common.type(threshold)
    return silent


def silence_tags(rms: Floats, s: Slicing) -> list[Tag]:
    """The frame ranges upstream's Slicer removes, in order."""
    frames = len(rms)
    keep_max = s.max_sil_kept

    def quietest(lo: int, hi: int) -> int:
        return lo + int(np.argmin(rms[lo:hi]))

    starts, ends = silences(below(rms, s.threshold))
    trailing = int(starts[-1]) if len(ends) and ends[-1] == frames else None
    if trailing is not None:
        starts, ends = starts[:-1], ends[:-1]
    # Only these can be cut at all; which of them are depends on the cuts before them.
    maybe = (ends - starts >= s.min_interval) | ((starts == 0) & (ends > keep_max))
    tags: list[Tag] = []
    clip_start = 0
    for start, i in zip(starts[maybe].tolist(), ends[maybe].tolist(), strict=True):
        leading = start == 0 and i > keep_max
        if not leading and not (i - start >= s.min_interval and i - clip_start >= s.min_length):
            continue
        if i - start <= keep_max:
            pos = quietest(start, i + 1)
            tags.append((0, pos) if start == 0 else (pos, pos))
            clip_start = pos
            continue
        left, right = quietest(start, start + keep_max + 1), quietest(i - keep_max, i + 1)
        if start == 0:
            tags.append((0, right))
        elif i - start <= 2 * keep_max:
            overlap = quietest(i - keep_max, start + keep_max + 1)
            right = max(right, overlap)
            tags.append((min(left, overlap), right))
        else:
            tags.append((left, right))
        clip_start = right
    if trailing is not None and frames - trailing >= s.min_interval:
        tags.append((quietest(trailing, min(frames, trailing + keep_max) + 1), frames + 1))
    return tags


def chunk_bounds(tags: list[Tag], frames: int, hop: int) -> list[tuple[int, int]]:
    """Sample offsets of the chunks between the removed ranges, as upstream reports them."""
    if not tags:
        return [(0, frames * hop)]
    edges = [0, *(x for tag in tags for x in tag), frames]
    pairs = zip(edges[::2], edges[1::2], strict=True)
    return [(left * hop, right * hop) for left, right in pairs if left < right and left < frames]


def find_chunks(x: npt.NDArray[np.int16], s: Slicing) -> list[tuple[int, int]]:
    """Chunk offsets for PCM16 samples, mono or (channels, samples) mixed down as upstream does."""
    mono: Floats | npt.NDArray[np.int16] = as_float(x).mean(axis=0) if x.ndim > 1 else x
    if len(mono) <= s.min_length:
        return [(0, len(mono))]
    rms = frame_rms(mono, s.hop, s.win)
    return chunk_bounds(silence_tags(rms, s), len(rms), s.hop)


def normalise(chunk: npt.NDArray[np.int16], max_amp: float, alpha: float) -> npt.NDArray[np.int16] | None:
    """The chunk blended with its peak-normalised copy, as upstream writes it; None for
    digital silence. Done in cache-sized blocks, each float32 operation in upstream's order."""
    if not len(chunk) or not (top := max(-int(chunk.min()), int(chunk.max()))):
        return None
    peak = np.float32(top / PCM16_SCALE)  # exact: upstream's np.abs(x).max()
    normalised_share, own_share = np.float32(max_amp * alpha), np.float32(1 - alpha)
    out = np.empty(len(chunk), dtype=np.int16)
    for lo in range(0, len(chunk), _BLOCK_SAMPLES):
        x = as_float(chunk[lo : lo + _BLOCK_SAMPLES])
        mixed = np.divide(x, peak)
        mixed *= normalised_share
        x *= own_share
        mixed += x
        mixed *= np.float32(32767)
        out[lo : lo + len(mixed)] = mixed  # truncates toward zero, as upstream's astype does
    return out


def slice_file(src: Path, name: str, out_dir: Path, s: Slicing) -> list[Path]:
    """Slice one file; outputs named after ``name`` (the source's basename incl. extension)."""
    x = read_pcm16(src, SLICE_RATE)
    written = []
    for start, end in find_chunks(x, s):
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
) -> Mapped[Path, list[Path]]:
    """Slice every source: its slices, and the sources that cannot be read, with the reason."""
    return map_items(
        lambda src: slice_file(src, src.name, out_dir, s),
        sources,
        name=lambda src: src.name,
        bad=UNREADABLE,
        folder=INPUT,
        workers=workers,
        on_done=on_done,
    )


def run(ctx: StepContext) -> StepResult:
    params = ctx.params
    assert isinstance(params, SliceAudioParams)
    names = [info.key[len(INPUT) + 1 :] for info in ctx.store.iter_objects(f"{INPUT}/")]
    mine = set(ctx.my_share([n for n in names if "/" not in n]))
    sources = ctx.stage_in(INPUT, select=lambda name: name in mine)
    sliced = slice_all(
        sources,
        ctx.folder(OUTPUT),
        Slicing.from_params(params),
        on_done=lambda n, total: ctx.progress.update(n / total, f"sliced {n}/{total} files"),
    )
    outputs = [path for paths in sliced.results for path in paths]
    if ctx.shard_count == 1 and not outputs:
        if not sources:
            raise InvalidInput(f"{INPUT}: nothing to slice; run convert_audio first", field=INPUT)
        raise InvalidInput(
            f"threshold: no sound above {params.threshold} dB in any of {len(sources)} files", field="threshold"
        )

    def owns(name: str) -> bool:
        match = SLICE_NAME.match(name)
        return ctx.shard_count == 1 or (match is not None and match["source"] in mine)

    summary = f"{len(outputs)} slices from {len(sources)} files{sliced.note()}"
    return StepResult({OUTPUT: outputs}, owns=owns, summary=summary)
