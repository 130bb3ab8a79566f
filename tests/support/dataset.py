"""A small data set with one known problem per clip, for the dataset report and proofreading.

Clips are named like the slicer's slices (``<source>_<start>_<end>.wav``) and stored as
asr_transcribe finds them (``denoised/``), with an uploaded ``.list`` holding each clip's
text, so the step takes the uploaded list and needs no recogniser.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .audio import RATE, SENTENCES, Audio, silence, speech, white_noise, write_wav

OTHER_VOICE = "en+f3"
UPLOADED_LIST = "transcripts/upload.list"


@dataclass(frozen=True)
class Case:
    clip: str
    samples: Audio
    text: str
    expected: frozenset[str]  # the flags the report must raise, no more (a duplicate is the later name)


def _slice(source: str, index: int) -> str:
    return f"{source}_{index * 1_000_000:010d}_{index * 1_000_000 + 500_000:010d}.wav"


def _noisy(x: Audio) -> Audio:
    """White noise at the speech's own power: 0 dB SNR."""
    noise = white_noise(len(x) / RATE, std=float(np.sqrt(np.mean(x.astype(np.float64) ** 2))), seed=7)
    return (x + noise[: len(x)]).astype(np.float32) * np.float32(0.5)


@functools.cache
def cases() -> tuple[Case, ...]:
    clean = [speech(s) for s in SENTENCES[:4]]
    unbroken = " ".join(SENTENCES * 2)  # no punctuation: espeak-ng reads it without a pause
    long = speech(unbroken)
    assert len(long) > 31 * RATE, len(long) / RATE
    clipped = np.clip(clean[0] * 20, -1, 1).astype(np.float32) * np.float32(0.9)
    return (
        *(Case(_slice("clean.wav", i), x, SENTENCES[i], frozenset()) for i, x in enumerate(clean)),
        Case(_slice("loud.wav", 0), clipped, SENTENCES[0], frozenset({"clipping"})),
        Case(_slice("street.wav", 0), _noisy(clean[1]), SENTENCES[1], frozenset({"noisy"})),
        Case(_slice("lecture.wav", 0), long, unbroken, frozenset({"too_long"})),
        Case(
            _slice("guest.wav", 0), speech(SENTENCES[4], voice=OTHER_VOICE), SENTENCES[4], frozenset({"other_speaker"})
        ),
        Case(
            _slice("late.wav", 0), np.concatenate([silence(2.0), clean[2]]), SENTENCES[2], frozenset({"long_silence"})
        ),
        Case(_slice("blank.wav", 0), speech(SENTENCES[5]), "", frozenset({"empty_text"})),
        Case(_slice("rambling.wav", 0), speech(SENTENCES[6]), " ".join(SENTENCES), frozenset({"text_rate"})),
        Case(_slice("copy.wav", 0), clean[3] * np.float32(0.7), SENTENCES[3], frozenset({"duplicate"})),
    )


def write_cases(folder: Path) -> dict[str, Path]:
    """Each case's clip as a PCM16 WAV under ``folder``; clip name -> path."""
    return {case.clip: write_wav(folder / case.clip, case.samples) for case in cases()}


def uploaded_list(speaker: str = "alice") -> bytes:
    return "\n".join(f"{c.clip}|{speaker}|EN|{c.text}" for c in cases()).encode()
