"""A lightweight speaker embedding: statistics of log-mel cepstra, numpy and scipy only.

What it is: the clip is cut into 25 ms frames every 50 ms at its own sample rate, and each
frame becomes 20 cepstral coefficients of a 40-band log-mel spectrum from 60 Hz to 7.6 kHz
(the MFCCs of speech recognition, computed here; the bands are in Hz, so any rate from
16 kHz up gives the same numbers, and no resampling pass is needed). Frames more than 35 dB
below the loudest are dropped, so pauses do not count. The embedding is the per-coefficient
mean and standard deviation of c1..c19 over the remaining frames (c0, the loudness, is left out so a louder take of the
same voice is not "another speaker"), each coefficient scaled by a fixed typical spread so
no single one dominates, and the whole vector normalised to unit length. ``similarity`` is
the cosine of two embeddings, in [-1, 1].

What it is good for: telling apart clearly different voices in one data set (another
person, another gender, a strongly different recording chain), which is the
``other_speaker`` flag of the dataset report and the speaker similarity of the quality
score. Its limits: it describes the average vocal-tract shape and recording channel, not a
trained identity, so two similar voices recorded the same way score close; a heavy change
of channel (noise, clipping, a telephone band) moves a clip as much as a change of speaker
does; and clips under about half a second of speech give noisy statistics. Absolute values
are not comparable with other embeddings; compare a clip with the same data set's clips.

Upstream's v2Pro speaker-verification model (ERes2NetV2) is not used here: this module is
the only embedding, in the cluster and in ``sovits local`` alike, so reports do not change
with what happens to be in the model store. Using that model would be a later change
behind the same two functions.
"""

from __future__ import annotations

import functools

import numpy as np
import numpy.typing as npt
from scipy.fft import dct, next_fast_len, rfft

FRAME_S = 0.025
HOP_S = 0.05  # statistics need no finer hop than this (a fifth of the usual 10 ms work)
BANDS = 40
CEPSTRA = 20
FLOOR_DB = 35.0  # frames this far below the loudest frame are pauses
DIM = 2 * (CEPSTRA - 1)

Embedding = npt.NDArray[np.float64]


def _mel(hz: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return 2595.0 * np.log10(1.0 + hz / 700.0)


@functools.cache
def _filterbank(n_fft: int, rate: int) -> npt.NDArray[np.float32]:
    """Triangular mel filters from 60 Hz to 7.6 kHz (or the Nyquist frequency) over the bins of an
    n_fft spectrum at ``rate``, pre-emphasis included."""
    top = min(7600.0, rate / 2)
    edges_mel = np.linspace(_mel(np.array(60.0)), _mel(np.array(top)), BANDS + 2)
    edges = 700.0 * (10 ** (edges_mel / 2595.0) - 1.0)
    bins = np.fft.rfftfreq(n_fft, 1.0 / rate)
    bank = np.zeros((BANDS, len(bins)))
    for i in range(BANDS):
        lo, mid, hi = edges[i], edges[i + 1], edges[i + 2]
        bank[i] = np.clip(np.minimum((bins - lo) / (mid - lo), (hi - bins) / (hi - mid)), 0.0, None)
    # Pre-emphasis (1 - 0.97 z^-1), as speech front ends apply it, as a gain on each bin's power.
    emphasis = 1.0 + 0.97**2 - 2 * 0.97 * np.cos(2 * np.pi * bins / rate)
    return (bank * emphasis).astype(np.float32)


# Typical spread of each cepstral coefficient in speech (falls roughly as 1/k); dividing by it
# keeps the low coefficients from outvoting the rest in the cosine.
_SCALE = np.concatenate([1.0 / np.arange(1, CEPSTRA)] * 2) * 40.0


def mel_energies(samples: npt.NDArray[np.generic], rate: int) -> npt.NDArray[np.float32]:
    """Frames x BANDS mel-band powers (pre-emphasis included) of ``samples`` (any numeric dtype)."""
    x = np.asarray(samples, dtype=np.float32)
    if np.issubdtype(np.asarray(samples).dtype, np.integer):
        x = x / np.float32(32768.0)
    frame, hop = round(FRAME_S * rate), round(HOP_S * rate)
    if len(x) < frame:
        return np.zeros((0, BANDS), dtype=np.float32)
    count = 1 + (len(x) - frame) // hop
    frames = np.lib.stride_tricks.as_strided(x, (count, frame), (x.strides[0] * hop, x.strides[0]))
    n_fft = next_fast_len(frame, real=True)
    spectrum = rfft(frames * _window(frame), n_fft, axis=1)
    power = spectrum.real**2 + spectrum.imag**2
    bins, weights, starts = _sparse_filterbank(n_fft, rate)
    # Each bin feeds at most two bands: a sparse sum, not a matrix product (OpenBLAS's threads
    # spin on a busy machine, which made the product the slowest part of the whole report).
    return np.asarray(np.add.reduceat(power[:, bins] * weights, starts, axis=1), dtype=np.float32)


@functools.cache
def _sparse_filterbank(
    n_fft: int, rate: int
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float32], npt.NDArray[np.intp]]:
    """The filterbank's non-zero weights grouped by band: bin indices, weights, each band's start."""
    bank = _filterbank(n_fft, rate)
    band_of, bin_of = np.nonzero(bank)
    starts = np.searchsorted(band_of, np.arange(BANDS))
    if len(np.unique(band_of)) != BANDS:
        raise ValueError(f"a mel band holds no FFT bin at n_fft={n_fft}, rate={rate}")
    return bin_of, bank[band_of, bin_of], starts


def cepstra_of(mel: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    """Frames x CEPSTRA log-mel cepstra of the speech frames among ``mel``'s."""
    energy = mel.sum(axis=1)
    loud = energy > energy.max(initial=0.0) * 10 ** (-FLOOR_DB / 10)
    if not loud.any():
        return np.zeros((0, CEPSTRA))
    logmel = np.log(mel[loud].astype(np.float64) + 1e-10)
    return np.asarray(dct(logmel, type=2, norm="ortho", axis=1)[:, :CEPSTRA], dtype=np.float64)


def cepstra(samples: npt.NDArray[np.generic], rate: int) -> npt.NDArray[np.float64]:
    return cepstra_of(mel_energies(samples, rate))


@functools.cache
def _window(frame: int) -> npt.NDArray[np.float32]:
    return np.hamming(frame).astype(np.float32)


def embed(samples: npt.NDArray[np.generic], rate: int) -> Embedding:
    """A unit vector of DIM numbers describing the voice in ``samples``; all zeros when there
    is no sound (its similarity with anything is then 0)."""
    return embed_mel(mel_energies(samples, rate))


def embed_mel(mel: npt.NDArray[np.float32]) -> Embedding:
    """``embed`` from ``mel_energies``, for a caller that uses them for more than this."""
    c = cepstra_of(mel)[:, 1:]
    if len(c) < 2:
        return np.zeros(DIM)
    v = np.concatenate([c.mean(axis=0), c.std(axis=0)]) / _SCALE
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 0 else np.zeros(DIM)


def similarity(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    """Cosine similarity of two embeddings; 0.0 when either is all zeros."""
    va, vb = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    denominator = float(np.linalg.norm(va) * np.linalg.norm(vb))
    return float(va @ vb / denominator) if denominator > 0 else 0.0
