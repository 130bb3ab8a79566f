"""Real audio for tests and benchmarks: espeak-ng speech, tones, silence, noise, real encoders.

Samples are float32 in [-1, 1) at ``RATE`` unless asked otherwise. Nothing is downloaded.
"""

from __future__ import annotations

import functools
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import numpy.typing as npt
import soundfile as sf

RATE = 32000
Audio = npt.NDArray[np.float32]

# ffmpeg arguments per container we hand the converter.
ENCODERS: dict[str, list[str]] = {
    "wav": ["-c:a", "pcm_s16le"],
    "mp3": ["-c:a", "libmp3lame", "-b:a", "128k"],
    "m4a": ["-c:a", "aac", "-b:a", "128k"],
    "aac": ["-c:a", "aac", "-b:a", "128k", "-f", "adts"],
    "flac": ["-c:a", "flac"],
    "ogg": ["-c:a", "libvorbis", "-q:a", "4"],
}


def decode(path: Path, rate: int = RATE) -> Audio:
    """Any file ffmpeg reads, as mono float32 at ``rate``."""
    raw = subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-ac", "1", "-ar", str(rate), "-f", "f32le", "-"],
        capture_output=True,
        check=True,
    ).stdout
    return np.frombuffer(raw, dtype=np.float32).copy()


@functools.lru_cache(maxsize=64)
def _spoken(text: str, voice: str, rate: int) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "speech.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-w", str(wav), text], check=True, capture_output=True)
        return decode(wav, rate).tobytes()


def speech(text: str, *, voice: str = "en", rate: int = RATE, trim: bool = True) -> Audio:
    """``text`` spoken by espeak-ng; ``trim`` drops its leading and trailing silence, so that the
    only long pauses in a test signal are the ones the test puts there."""
    x = np.frombuffer(_spoken(text, voice, rate), dtype=np.float32).copy()
    if trim:
        loud = np.flatnonzero(np.abs(x) > 0.01)
        x = x[loud[0] : loud[-1] + 1]
    return x


def tone(freq: float, seconds: float, *, rate: int = RATE, amp: float = 0.3) -> Audio:
    t = np.arange(round(seconds * rate)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def silence(seconds: float, *, rate: int = RATE) -> Audio:
    return np.zeros(round(seconds * rate), dtype=np.float32)


def white_noise(seconds: float, *, rate: int = RATE, std: float = 0.1, seed: int = 0) -> Audio:
    return np.random.default_rng(seed).normal(0, std, round(seconds * rate)).astype(np.float32)


def join_with_pauses(
    parts: list[Audio], pauses: list[float], *, rate: int = RATE
) -> tuple[Audio, list[tuple[int, int]]]:
    """``parts`` separated by silences of ``pauses`` seconds; also the pauses' sample ranges."""
    assert len(pauses) == len(parts) - 1
    pieces: list[Audio] = [parts[0]]
    ranges: list[tuple[int, int]] = []
    position = len(parts[0])
    for part, pause in zip(parts[1:], pauses, strict=True):
        gap = silence(pause, rate=rate)
        ranges.append((position, position + len(gap)))
        pieces += [gap, part]
        position += len(gap) + len(part)
    return np.concatenate(pieces), ranges


SENTENCES = [
    "the quick brown fox jumps over the lazy dog",
    "many voices sing together in the morning light",
    "a long time ago people wrote letters by hand",
    "the train leaves the station at noon every day",
    "please remember to close the window before you leave",
    "numbers like seven hundred and twelve are easy to say",
    "she sells sea shells by the sea shore",
    "water flows downhill and finds the shortest path",
]


def speech_like(
    seconds: float,
    seed: int,
    *,
    rate: int = RATE,
    pauses: tuple[float, float] = (0.15, 1.5),
    gains: tuple[float, float] = (1.0, 1.0),
    noise: float = 0.0,
) -> Audio:
    """``seconds`` of espeak-ng sentences in random order, each at a random gain in ``gains``,
    separated by pauses drawn uniformly from ``pauses`` (seconds), over white noise of standard
    deviation ``noise`` (0: digital silence between sentences)."""
    rng = np.random.default_rng(seed)
    voices = [speech(s, rate=rate) for s in SENTENCES]
    parts: list[Audio] = []
    total = 0
    while total < seconds * rate:
        voice = voices[rng.integers(len(voices))] * np.float32(rng.uniform(*gains))
        for piece in (voice, silence(float(rng.uniform(*pauses)), rate=rate)):
            parts.append(piece)
            total += len(piece)
    x = np.concatenate(parts)[: int(seconds * rate)]
    if noise:
        x += rng.normal(0, noise, len(x)).astype(np.float32)
    return x


def write_wav(path: Path, samples: Audio, rate: int = RATE) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), samples, rate, subtype="PCM_16")
    return path


def encode(samples: Audio, path: Path, *, rate: int = RATE, channels: int = 1) -> Path:
    """Encode with real ffmpeg into the container ``path``'s extension names."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        src = write_wav(Path(tmp) / "src.wav", samples, rate)
        subprocess.run(
            ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(src), "-ac", str(channels),
             *ENCODERS[path.suffix.lstrip(".")], str(path)],
            check=True, capture_output=True,
        )  # fmt: skip
    return path


def snr_db(clean: Audio, noisy: Audio) -> float:
    n = min(len(clean), len(noisy))
    residual = noisy[:n].astype(np.float64) - clean[:n]
    return float(10 * np.log10(np.sum(clean[:n].astype(np.float64) ** 2) / np.sum(residual**2)))
