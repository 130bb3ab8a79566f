"""Audio measurements of the training clips, for the dataset report (``sovits_core.dataset``).

asr_transcribe calls ``measure_all`` on the denoised clips at its end and stores the result
as ``contract.DATASET_AUDIO_KEY``. Only what the audio says is measured here; flags, the
verdict and anything about the transcript are decided later from these numbers and the
current transcript, so a proofreading edit shows in the report at once.

Per clip: duration, peak and RMS level (dBFS), the clipping ratio, an SNR estimate,
leading and trailing silence, the speaker embedding (``speaker``), and a duplicate
fingerprint. Across clips: each clip's similarity to the data set's main voice, and which
earlier clip a clip duplicates.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from sovits_core import dataset

from . import speaker
from .audio import PCM16_SCALE, UNREADABLE, read_pcm16
from .parallel import Mapped, map_in_processes, usable_cores

FRAME_S = 0.02  # level frames for silence and SNR
SILENCE_BELOW_PEAK_DB = 40.0  # a frame this far below the loudest frame is silence
SILENCE_FLOOR_DBFS = -60.0  # and any frame quieter than this
NEAR_PEAK = 0.98  # samples within 2% of the peak: flat tops left by clipping, even after normalising
MAX_SNR_DB = 60.0
DUPLICATE_AGREEMENT = 0.9  # share of equal fingerprint bits
DUPLICATE_LENGTH_TOLERANCE = 0.02
MAIN_VOICE_SHARE = 0.8  # the main voice is the centroid of the 80% of clips closest to the first centroid
# Processes, not threads: a clip is some fifty numpy and scipy calls on arrays too small for their
# GIL-free work to dominate, so a second thread measured slower; a second process halves the time
# (README, "Dataset report"). Below this many clips per process a fork costs more than it saves.
CLIPS_PER_PROCESS = 16


@dataclass(frozen=True)
class SpeakerEmbeddings:
    """Each clip's embedding by another model than ``speaker.py`` (upstream/speaker_model.py)."""

    model: str  # a key of sovits_core.dataset.OTHER_SPEAKER_SIMILARITY
    by_clip: dict[str, list[float]]


@dataclass
class ClipAudio:
    clip: str
    duration_s: float
    peak_dbfs: float
    rms_dbfs: float
    clipping_ratio: float
    snr_db: float
    lead_silence_s: float
    trail_silence_s: float
    embedding: list[float]
    fingerprint: str  # hex of the sign bits of mel-band energy changes over time
    speaker_similarity: float = 1.0
    duplicate_of: str | None = None
    speaker_model: str = dataset.CEPSTRAL  # what ``embedding`` is (sovits_core.dataset's thresholds)

    def wire(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}  # shallow: asdict copies every list


def _db(power: float, floor: float = -120.0) -> float:
    return round(max(floor, 10 * math.log10(power)) if power > 0 else floor, 2)


def frame_powers(samples: npt.NDArray[np.int16], rate: int, frame_s: float = FRAME_S) -> npt.NDArray[np.float64]:
    """Mean power of each frame (full scale 1.0) of PCM16 samples; a trailing part frame is left out."""
    n = max(1, round(frame_s * rate))
    frames = samples[: len(samples) // n * n].reshape(-1, n) if len(samples) >= n else samples.reshape(1, -1)
    # float32 products summed per frame. A float32 copy first: einsum casting int16 as it multiplies
    # gives the same sums 25% slower (measured on the benchmark's slices, README).
    as_float = frames.astype(np.float32)
    sums = np.einsum("ij,ij->i", as_float, as_float)
    return sums.astype(np.float64) / (frames.shape[1] * PCM16_SCALE**2) if len(samples) else np.zeros(1)


def silent_edges(powers: npt.NDArray[np.float64]) -> tuple[int, int]:
    """Frames of silence before the first and after the last sounding frame."""
    threshold = max(
        float(powers.max(initial=0.0)) * 10 ** (-SILENCE_BELOW_PEAK_DB / 10), 10 ** (SILENCE_FLOOR_DBFS / 10)
    )
    loud = np.flatnonzero(powers > threshold)
    if len(loud) == 0:
        return len(powers), 0
    return int(loud[0]), int(len(powers) - 1 - loud[-1])


def snr_estimate(powers: npt.NDArray[np.float64]) -> float:
    """Speech-to-background ratio in dB: the loudest fifth of the frames against the quietest tenth,
    the background subtracted from the former. Digital silence between words reads as MAX_SNR_DB."""
    ordered = np.sort(powers)
    if len(ordered) < 10:
        return MAX_SNR_DB
    quiet, loudest = ordered[: max(1, len(ordered) // 10)], ordered[-max(1, len(ordered) // 5) :]
    noise, loud = float(quiet.sum()) / len(quiet), float(loudest.sum()) / len(loudest)  # no np.mean wrapper
    if noise <= 0 or loud <= noise:
        return MAX_SNR_DB if noise <= 0 else 0.0
    return round(min(MAX_SNR_DB, 10 * math.log10((loud - noise) / noise)), 2)


def fingerprint(mel: npt.NDArray[np.float32]) -> str:
    """Sign bits of the change of each mel band's energy from one frame to the next: the same
    recording at another gain keeps them; another take of the same sentence does not."""
    if len(mel) < 3:
        return ""
    bits = mel[1:] > mel[:-1]  # the sign of the change, which a log of the energies would keep
    return np.packbits(bits.ravel()).tobytes().hex()


def measure_path(path: Path, rate: int) -> ClipAudio:
    return measure(path.name, read_pcm16(path, rate, mapped=True), rate)


def _name(path: Path) -> str:
    return path.name


def near_peak_count(samples: npt.NDArray[np.int16], near: int) -> int:
    """Samples at or beyond +-``near`` (1..32768), in one comparison: shifted by near - 1 with
    16-bit wrap-around, the samples strictly inside land on 0..2 near - 2 and all others above."""
    shifted = samples.view(np.uint16) + np.uint16(near - 1)
    return int(np.count_nonzero(shifted >= np.uint16(2 * near - 1)))


def measure(clip: str, samples: npt.NDArray[np.int16], rate: int) -> ClipAudio:
    # Everything on the int16 samples themselves: no float copy, no absolute-value array.
    top = max(int(samples.max(initial=0)), -int(samples.min(initial=0)))
    at_peak = near_peak_count(samples, math.ceil(NEAR_PEAK * top)) if top else 0
    peak = top / PCM16_SCALE
    powers = frame_powers(samples, rate)
    n = len(samples)
    mel = speaker.mel_energies(samples, rate)
    lead, trail = silent_edges(powers)
    return ClipAudio(
        clip=clip,
        duration_s=round(n / rate, 3),
        peak_dbfs=_db(peak**2),
        rms_dbfs=_db(float(powers.sum()) / len(powers)),  # over the whole frames: at most 20 ms left out
        clipping_ratio=round(float(at_peak) / n, 5) if n else 0.0,
        snr_db=snr_estimate(powers),
        lead_silence_s=round(min(lead * FRAME_S, n / rate), 2),
        trail_silence_s=round(min(trail * FRAME_S, n / rate), 2),
        embedding=np.round(speaker.embed_mel(mel), 5).tolist(),
        fingerprint=fingerprint(speaker.on_grid(mel, n, rate)),  # one grid, so copies of any length compare
    )


def mark_duplicates(clips: list[ClipAudio]) -> None:
    """A clip whose length is within 2% of another's and whose fingerprint agrees in 90% of its bits
    (over their common length) duplicates it; the first by name is the original. Sorted by length,
    each clip is compared only with the few of nearly its length, all of them in one array
    operation on the fingerprints as 64-bit words, and a copy already found is not compared again."""
    ordered = sorted(clips, key=lambda c: (c.duration_s, c.clip))
    words, valid, lengths = _fingerprint_words(ordered)
    durations = np.array([c.duration_s for c in ordered])
    ends = np.searchsorted(durations, durations * (1 + DUPLICATE_LENGTH_TOLERANCE), side="right")
    for i, clip in enumerate(ordered):
        end, n = max(int(ends[i]), i + 1), -(-int(lengths[i]) // 8)
        if end == i + 1 or n == 0 or clip.duplicate_of is not None:
            continue
        # Bytes past either fingerprint's end are masked out, so the count is over the common length.
        differing = _popcount((words[i, :n] ^ words[i + 1 : end, :n]) & valid[i, :n] & valid[i + 1 : end, :n])
        common = 8 * np.minimum(lengths[i], lengths[i + 1 : end])
        same = (common > 0) & (differing.sum(axis=1) <= (1 - DUPLICATE_AGREEMENT) * common)
        for k in np.flatnonzero(same).tolist():
            other = ordered[i + 1 + k]
            if other.duplicate_of is None:
                first, second = sorted((clip, other), key=lambda c: c.clip)
                second.duplicate_of = first.clip
                if second is clip:
                    break  # a copy is not compared again


def _fingerprint_words(
    clips: list[ClipAudio],
) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64], npt.NDArray[np.int64]]:
    """The clips' fingerprints as rows of 64-bit words (zero-padded), a mask of each row's real
    bytes, and each fingerprint's length in bytes."""
    packed = [bytes.fromhex(c.fingerprint) for c in clips]
    lengths = np.array([len(b) for b in packed], dtype=np.int64)
    width = -(-int(lengths.max(initial=0)) // 8) * 8
    bits = np.zeros((len(packed), width), dtype=np.uint8)
    valid = np.zeros((len(packed), width), dtype=np.uint8)
    for row, b in enumerate(packed):
        bits[row, : len(b)] = np.frombuffer(b, dtype=np.uint8)
        valid[row, : len(b)] = 0xFF
    return bits.view(np.uint64), valid.view(np.uint64), lengths


_M1, _M2, _M4 = (np.uint64(0x5555555555555555), np.uint64(0x3333333333333333), np.uint64(0x0F0F0F0F0F0F0F0F))
_BYTES, _ONE, _TWO, _FOUR, _TOP = np.uint64(0x0101010101010101), np.uint64(1), np.uint64(2), np.uint64(4), np.uint64(56)


def _popcount(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """Set bits of each word (the SWAR sum; np.bitwise_count needs numpy 2, and upstream pins 1)."""
    x = x - ((x >> _ONE) & _M1)
    x = (x & _M2) + ((x >> _TWO) & _M2)
    x = (x + (x >> _FOUR)) & _M4
    return (x * _BYTES) >> _TOP


def mark_main_voice(clips: list[ClipAudio]) -> None:
    """Each clip's similarity to the main voice: the centroid of the clips nearest the overall centroid,
    so that a few clips of another speaker do not drag the reference towards themselves."""
    voiced = [c for c in clips if any(c.embedding)]
    if not voiced:
        return
    matrix = np.array([c.embedding for c in voiced])
    centroid = matrix.mean(axis=0)
    keep = max(1, math.ceil(MAIN_VOICE_SHARE * len(voiced)))
    nearest = np.argsort(-(matrix @ centroid))[:keep]
    main = matrix[nearest].mean(axis=0)
    for clip in clips:
        clip.speaker_similarity = round(speaker.similarity(clip.embedding, main), 4)


def measure_all(
    paths: Sequence[Path],
    rate: int,
    *,
    folder: str = "clips",
    on_done: Callable[[int, int], None] | None = None,
    processes: int | None = None,
    embed: Callable[[list[Path]], SpeakerEmbeddings | None] | None = None,
) -> Mapped[Path, ClipAudio]:
    """Every clip measured, then compared; a clip that cannot be read is left out with the
    reason (``folder`` names it in the log). ``processes``: measuring processes (None: one per
    usable core, one per CLIPS_PER_PROCESS clips at most). ``embed``: another model's speaker
    embeddings of the clips that could be read, compared instead of the cepstral ones (None:
    keep those; a clip it has none for counts as unvoiced)."""
    measured = map_in_processes(
        functools.partial(measure_path, rate=rate),
        paths,
        name=_name,
        bad=UNREADABLE,
        folder=folder,
        processes=processes or max(1, min(usable_cores(), len(paths) // CLIPS_PER_PROCESS)),
        on_done=on_done,
    )
    embeddings = embed([path for path, _ in measured.kept]) if embed is not None else None
    if embeddings is not None:
        silent = [0.0] * len(next(iter(embeddings.by_clip.values()), []))
        for clip in measured.results:
            clip.embedding = embeddings.by_clip.get(clip.clip, silent)
            clip.speaker_model = embeddings.model
    mark_duplicates(measured.results)
    mark_main_voice(measured.results)
    return measured
