"""A lightweight speaker embedding: statistics of log-mel cepstra, numpy and scipy only.

What it is: the clip is resampled to 16 kHz, cut into 25 ms frames every 10 ms, and each
frame becomes 20 cepstral coefficients of a 40-band log-mel spectrum (the MFCCs of speech
recognition, computed here). Frames more than 35 dB below the loudest are dropped, so
pauses do not count. The embedding is the per-coefficient mean and standard deviation of
c1..c19 over the remaining frames (c0, the loudness, is left out so a louder take of the
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
from math import gcd

import numpy as np
import numpy.typing as npt
from scipy.fft import dct, rfft
from scipy.signal import resample_poly

RATE = 16000
FRAME = 400  # 25 ms
HOP = 160  # 10 ms
N_FFT = 512
BANDS = 40
CEPSTRA = 20
FLOOR_DB = 35.0  # frames this far below the loudest frame are pauses
DIM = 2 * (CEPSTRA - 1)

Embedding = npt.NDArray[np.float64]


def _mel(hz: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return 2595.0 * np.log10(1.0 + hz / 700.0)


@functools.cache
def _filterbank() -> npt.NDArray[np.float64]:
    """Triangular mel filters from 60 Hz to 7.6 kHz over the bins of an N_FFT spectrum."""
    edges_mel = np.linspace(_mel(np.array(60.0)), _mel(np.array(7600.0)), BANDS + 2)
    edges = 700.0 * (10 ** (edges_mel / 2595.0) - 1.0)
    bins = np.fft.rfftfreq(N_FFT, 1.0 / RATE)
    bank = np.zeros((BANDS, len(bins)))
    for i in range(BANDS):
        lo, mid, hi = edges[i], edges[i + 1], edges[i + 2]
        bank[i] = np.clip(np.minimum((bins - lo) / (mid - lo), (hi - bins) / (hi - mid)), 0.0, None)
    return bank


# Typical spread of each cepstral coefficient in speech (falls roughly as 1/k); dividing by it
# keeps the low coefficients from outvoting the rest in the cosine.
_SCALE = np.concatenate([1.0 / np.arange(1, CEPSTRA)] * 2) * 40.0


def cepstra(samples: npt.NDArray[np.generic], rate: int) -> npt.NDArray[np.float64]:
    """Frames x CEPSTRA log-mel cepstra of the speech frames of ``samples`` (any numeric dtype)."""
    x = np.asarray(samples, dtype=np.float64)
    if np.issubdtype(np.asarray(samples).dtype, np.integer):
        x = x / 32768.0
    if rate != RATE:
        g = gcd(rate, RATE)
        x = resample_poly(x, RATE // g, rate // g)
    if len(x) < FRAME:
        return np.zeros((0, CEPSTRA))
    x = np.append(x[0], x[1:] - 0.97 * x[:-1])  # pre-emphasis, as speech front ends do
    count = 1 + (len(x) - FRAME) // HOP
    frames = np.lib.stride_tricks.as_strided(x, (count, FRAME), (x.strides[0] * HOP, x.strides[0]))
    power = np.abs(rfft(frames * np.hamming(FRAME), N_FFT, axis=1)) ** 2
    energy = power.sum(axis=1)
    loud = energy > energy.max(initial=0.0) * 10 ** (-FLOOR_DB / 10)
    if not loud.any():
        return np.zeros((0, CEPSTRA))
    logmel = np.log(power[loud] @ _filterbank().T + 1e-10)
    return np.asarray(dct(logmel, type=2, norm="ortho", axis=1)[:, :CEPSTRA], dtype=np.float64)


def embed(samples: npt.NDArray[np.generic], rate: int) -> Embedding:
    """A unit vector of DIM numbers describing the voice in ``samples``; all zeros when there
    is no sound (its similarity with anything is then 0)."""
    c = cepstra(samples, rate)[:, 1:]
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
