"""The quality score of a test sentence: does it sound like the speaker, say the text, at a
plausible pace? Pure functions of audio and text (numpy only, no torch), so the score runs
where the test sentence is made, in upstream's environment, and tests check it on inputs with
known answers.

* ``speaker_similarity``: cosine of the lightweight speaker embeddings (``speaker.py``) of the
  reference clip and the sentence, in [-1, 1]. Takes of one voice score about 0.9 or more, other
  voices clearly less; it describes timbre and channel, not a verified identity. When upstream's
  speaker-verification model is here, its embeddings instead (``speaker_model`` says which;
  ``upstream/speaker_model.py``), the same as the dataset report's.
* ``error_rate``: edit distance between the target text and what the task's ASR backend heard,
  over the target's length: words for space-separated languages (WER), characters for Chinese,
  Cantonese and Japanese (CER). Case and punctuation are ignored; numbers written as digits in
  one and as words in the other count as errors. 0 is perfect; insertions can take it over 1.
* ``seconds_per_character``: the sentence's speech (leading and trailing silence cut) over the
  target's letters, against a band of plausible speaking rates per language; a GPT that never
  emits its end token talks far too long, a truncated one far too short.
"""

from __future__ import annotations

import unicodedata
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from sovits_core.dataset import CEPSTRAL

from . import speaker

Pace = Literal["ok", "too_fast", "too_slow"]
Metric = Literal["wer", "cer"]

# Plausible seconds per written character (letters, CJK characters, kana or Hangul syllables),
# wide enough for slow and fast speakers: English reads at about 12-15 letters a second,
# Mandarin at 4-5 characters, Japanese at 7-9 kana, Korean at 6-7 syllables.
PACE_BANDS: dict[str, tuple[float, float]] = {
    "en": (0.04, 0.15),
    "zh": (0.12, 0.45),
    "yue": (0.12, 0.45),
    "ja": (0.06, 0.30),
    "ko": (0.07, 0.30),
}
CHARACTER_LANGUAGES = frozenset({"zh", "yue", "ja"})
SPEECH_FLOOR_DB = 40.0  # samples this far below the peak are silence at the edges


@dataclass(frozen=True)
class Score:
    speaker_similarity: float
    speaker_model: str  # the embedding it was measured with
    error_rate: float | None  # None when no ASR backend was run
    error_metric: Metric
    transcript: str | None
    speech_seconds: float
    seconds_per_character: float
    pace: Pace
    pace_band: tuple[float, float]

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "pace_band": list(self.pace_band)}


def tokens(text: str, language: str) -> list[str]:
    """Words (or characters, for CER languages) of ``text``, lower case, punctuation dropped."""
    kept = "".join(" " if unicodedata.category(ch)[0] in "PSZC" else ch for ch in text.lower())
    if language in CHARACTER_LANGUAGES:
        return [ch for ch in kept if not ch.isspace()]
    return kept.split()


def edit_distance(reference: list[str], hypothesis: list[str]) -> int:
    """Levenshtein distance: substitutions, deletions and insertions, each costing one."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref in enumerate(reference, start=1):
        current = [i]
        for j, hyp in enumerate(hypothesis, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref != hyp)))
        previous = current
    return previous[-1]


def error_rate(target: str, heard: str, language: str) -> float:
    """WER or CER of ``heard`` against ``target``; 1.0 when nothing was heard."""
    reference = tokens(target, language)
    if not reference:
        raise ValueError("target text has no words to compare with")
    return edit_distance(reference, tokens(heard, language)) / len(reference)


def characters(text: str) -> int:
    """Written characters that are spoken: letters, digits, CJK, kana, Hangul."""
    return sum(1 for ch in text if unicodedata.category(ch)[0] in "LN")


def speech_seconds(samples: npt.NDArray[np.floating[Any]], rate: int) -> float:
    """Duration from the first to the last sample within ``SPEECH_FLOOR_DB`` of the peak."""
    magnitude = np.abs(np.asarray(samples, dtype=np.float64))
    peak = float(magnitude.max(initial=0.0))
    if peak <= 0:
        return 0.0
    loud = np.flatnonzero(magnitude >= peak * 10 ** (-SPEECH_FLOOR_DB / 20))
    return float(loud[-1] - loud[0] + 1) / rate


def pace(seconds_per_character: float, language: str) -> tuple[Pace, tuple[float, float]]:
    low, high = PACE_BANDS[language]
    if seconds_per_character < low:
        return "too_fast", (low, high)
    if seconds_per_character > high:
        return "too_slow", (low, high)
    return "ok", (low, high)


def score(
    reference: npt.NDArray[np.floating[Any]],
    reference_rate: int,
    sentence: npt.NDArray[np.floating[Any]],
    sentence_rate: int,
    target_text: str,
    language: str,
    heard: str | None,
    voices: tuple[str, float] | None = None,
) -> Score:
    """The score of ``sentence`` (meant to say ``target_text`` in ``language``, in the voice of
    ``reference``), given what the ASR backend ``heard`` in it (None: not transcribed).
    ``voices``: another model's name and its similarity of the two, instead of the cepstral one."""
    count = characters(target_text)
    if count == 0:
        raise ValueError("target text has no spoken characters")
    model, similarity = voices or (
        CEPSTRAL,
        speaker.similarity(speaker.embed(reference, reference_rate), speaker.embed(sentence, sentence_rate)),
    )
    seconds = speech_seconds(sentence, sentence_rate)
    per_character = seconds / count
    verdict, band = pace(per_character, language)
    return Score(
        speaker_similarity=round(similarity, 4),
        speaker_model=model,
        error_rate=None if heard is None else round(error_rate(target_text, heard, language), 4),
        error_metric="cer" if language in CHARACTER_LANGUAGES else "wer",
        transcript=heard,
        speech_seconds=round(seconds, 3),
        seconds_per_character=round(per_character, 4),
        pace=verdict,
        pace_band=band,
    )
