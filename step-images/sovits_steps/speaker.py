"""A lightweight speaker embedding: statistics of log-mel cepstra, numpy and scipy only.

What it is: the clip is cut into 25 ms frames every 100 ms at its own sample rate (every 50 ms
in a clip under about 3 s, too short for MIN_FRAMES of them), and each frame becomes 20
cepstral coefficients of a 40-band log-mel spectrum from 60 Hz to 7.6 kHz (the MFCCs of speech
recognition, computed here; the bands are in Hz, so any rate from 16 kHz up gives the same
numbers, and no resampling pass is needed). Frames more than 35 dB below the loudest are
dropped, so pauses do not count. The embedding is the per-coefficient mean and standard
deviation of c1..c19 over the remaining frames (c0, the loudness, is left out so a louder take
of the same voice is not "another speaker"), each coefficient scaled by a fixed typical spread
so no single one dominates, and the whole vector normalised to unit length. ``similarity`` is
the cosine of two embeddings, in [-1, 1].

What it is good for: telling apart clearly different voices in one data set (another
person, another gender, a strongly different recording chain), which is the
``other_speaker`` flag of the dataset report and the speaker similarity of the quality
score. Its limits: it describes the average vocal-tract shape and recording channel, not a
trained identity, so two similar voices recorded the same way score close; a heavy change
of channel (noise, clipping, a telephone band) moves a clip as much as a change of speaker
does; and clips under about half a second of speech give noisy statistics. Absolute values
are not comparable with other embeddings; compare a clip with the same data set's clips.

The dataset report and the quality score use upstream's v2Pro speaker-verification model
instead when the model store and the upstream checkout have it (``upstream/speaker_model.py``;
the report only on a GPU unless asked); this module is the fallback for both.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import sparse
from scipy.fft import dct, next_fast_len, rfft

FRAME_S = 0.025
# The embedding is a mean and a spread over frames, so it needs enough frames, not adjacent ones:
# 100 ms hops (a tenth of the usual 10 ms work) in a clip long enough for MIN_FRAMES of them, else
# 50 ms hops, so a clip of 1-3 s still gives 20-60 frames. Each hop's frames start on the 100 ms
# grid's frames and halfway between them, so ``on_grid`` of either spectrum is the same frames.
HOP_S = 0.1
MIN_FRAMES = 30
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


def _grid(rate: int) -> int:
    return 2 * round(HOP_S * rate / 2)  # even, so that the fine hop is exactly half of it


def coarse_from(rate: int) -> int:
    """The fewest samples framed at the coarse hop: room for MIN_FRAMES frames of it."""
    return round(FRAME_S * rate) + (MIN_FRAMES - 1) * _grid(rate)


def hop_of(samples: int, rate: int) -> int:
    """The hop, in samples, of a clip of ``samples`` samples (see HOP_S)."""
    coarse = _grid(rate)
    return coarse if samples >= coarse_from(rate) else coarse // 2


def on_grid(mel: npt.NDArray[np.float32], samples: int, rate: int) -> npt.NDArray[np.float32]:
    """The frames of ``mel_energies(x, rate)`` (``x`` of ``samples`` samples) that start on the
    HOP_S grid: the same frames whatever hop the clip's length chose."""
    return mel if hop_of(samples, rate) == _grid(rate) else mel[::2]


def mel_energies(samples: npt.NDArray[np.generic], rate: int) -> npt.NDArray[np.float32]:
    """Frames x BANDS mel-band powers (pre-emphasis included) of ``samples`` (any numeric dtype;
    integers are read on the 1/32768 scale of PCM16), one frame per ``hop_of`` samples."""
    x = np.asarray(samples)
    scale = 1 / 32768 if np.issubdtype(x.dtype, np.integer) else 1.0
    frame, hop = round(FRAME_S * rate), hop_of(len(x), rate)
    if len(x) < frame:
        return np.zeros((0, BANDS), dtype=np.float32)
    # The frames as float32 in one copy (casting inside the multiply is three times slower), windowed
    # in place with the PCM16 scale folded into the window. as_strided, not sliding_window_view,
    # whose checks cost more than a short clip's frames do.
    step = x.strides[0]
    view = np.lib.stride_tricks.as_strided(x, ((len(x) - frame) // hop + 1, frame), (hop * step, step), writeable=False)
    frames = view.astype(np.float32)
    frames *= _window(frame, scale)
    n_fft = next_fast_len(frame, real=True)
    low, bank = _band_rows(n_fft, rate)
    spectrum = rfft(frames, n_fft, axis=1, overwrite_x=True)[:, low : low + bank.shape[1]]
    power = np.square(spectrum.real)
    power += np.square(spectrum.imag)
    # Each bin feeds at most two bands: a sparse product, on this thread (OpenBLAS's dense one
    # spreads over threads that spin on a busy machine, and the step's other work uses the cores).
    return np.asarray((bank @ power.T).T, dtype=np.float32)


@functools.cache
def _band_rows(n_fft: int, rate: int) -> tuple[int, Any]:
    """The filterbank as a sparse BANDS x bins matrix over the bins from the first any band uses
    to the last, and that first bin."""
    bank = _filterbank(n_fft, rate)
    if not bank.any(axis=1).all():
        raise ValueError(f"a mel band holds no FFT bin at n_fft={n_fft}, rate={rate}")
    used = np.flatnonzero(bank.any(axis=0))
    low, high = int(used[0]), int(used[-1]) + 1
    return low, sparse.csr_matrix(bank[:, low:high])


def cepstra_of(mel: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    """Frames x CEPSTRA log-mel cepstra of the speech frames among ``mel``'s."""
    energy = mel.sum(axis=1)
    loud = energy > energy.max(initial=0.0) * 10 ** (-FLOOR_DB / 10)
    if not loud.any():
        return np.zeros((0, CEPSTRA))
    logmel = np.log(mel[loud] + np.float32(1e-10))
    # The DCT's first CEPSTRA outputs as a product with its basis, a few rows at a time: each
    # product stays under OpenBLAS's threading threshold (4 x 65536 multiply-adds), so no BLAS
    # threads wake up to spin beside the report's own.
    basis = _dct_basis()
    parts = [logmel[i : i + _PRODUCT_ROWS] @ basis for i in range(0, len(logmel), _PRODUCT_ROWS)]
    return np.concatenate(parts).astype(np.float64)


_PRODUCT_ROWS = 256


@functools.cache
def _dct_basis() -> npt.NDArray[np.float32]:
    """BANDS x CEPSTRA: the orthonormal DCT-II's first CEPSTRA basis vectors, as columns."""
    return np.asarray(dct(np.eye(BANDS), type=2, norm="ortho", axis=1)[:, :CEPSTRA], dtype=np.float32)


def cepstra(samples: npt.NDArray[np.generic], rate: int) -> npt.NDArray[np.float64]:
    return cepstra_of(mel_energies(samples, rate))


@functools.cache
def _window(frame: int, scale: float = 1.0) -> npt.NDArray[np.float32]:
    return (np.hamming(frame) * scale).astype(np.float32)


def embed(samples: npt.NDArray[np.generic], rate: int) -> Embedding:
    """A unit vector of DIM numbers describing the voice in ``samples``; all zeros when there
    is no sound (its similarity with anything is then 0)."""
    return embed_mel(mel_energies(samples, rate))


def embed_mel(mel: npt.NDArray[np.float32]) -> Embedding:
    """``embed`` from ``mel_energies``, for a caller that uses them for more than this."""
    c = cepstra_of(mel)[:, 1:]
    if len(c) < 2:
        return np.zeros(DIM)
    # Sums over the frames, not np.mean and np.std, whose Python wrappers cost more than a clip's math.
    mean = c.sum(axis=0) / len(c)
    spread = np.sqrt(np.square(c - mean).sum(axis=0) / len(c))
    v = np.concatenate([mean, spread]) / _SCALE
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 0 else np.zeros(DIM)


def similarity(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    """Cosine similarity of two embeddings; 0.0 when either is all zeros."""
    va, vb = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    denominator = float(np.linalg.norm(va) * np.linalg.norm(vb))
    return float(va @ vb / denominator) if denominator > 0 else 0.0
