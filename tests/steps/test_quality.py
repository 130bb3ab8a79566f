"""The quality score on inputs with known answers: espeak-ng sentences heard by pocketsphinx,
scored against their own text and voice and against another's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sovits_steps import asr, quality
from tests.support.audio import RATE, silence, speech, tone, write_wav

VOICE = "en-us+m3"
OTHER_VOICE = "en+f3"
SENTENCE = "one two three four five six seven"
OTHER_TEXT = "good morning everyone"


def heard(samples: np.ndarray, tmp_path: Path) -> str:
    transcribe = asr.pocketsphinx_backend(None, "en", None)  # type: ignore[arg-type]  # needs neither
    return transcribe(write_wav(tmp_path / "sentence.wav", samples))


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    return speech("the weather is lovely today and we are going for a walk", voice=VOICE)


def test_word_error_rate_ignores_case_and_punctuation_and_counts_each_edit() -> None:
    assert quality.error_rate("How are you, today?", "how are you today", "en") == 0.0
    assert quality.error_rate("how are you today", "how were you", "en") == 0.5  # one substitution, one deletion
    assert quality.error_rate("hello", "hello there my friend", "en") == 3.0  # insertions can pass 1
    assert quality.error_rate("hello world", "", "en") == 1.0


def test_chinese_and_japanese_are_scored_by_characters() -> None:
    assert quality.error_rate("这是一个测试。", "这是一个考试", "zh") == pytest.approx(1 / 6)
    assert quality.score(silence(0.1), RATE, tone(220, 1.0), RATE, "这是测试", "zh", None).error_metric == "cer"
    assert quality.tokens("Hello, World!", "en") == ["hello", "world"]


def test_edit_distance_is_levenshtein() -> None:
    assert quality.edit_distance(list("kitten"), list("sitting")) == 3
    assert quality.edit_distance([], list("abc")) == 3


def test_speech_seconds_leave_out_leading_and_trailing_silence() -> None:
    samples = np.concatenate([silence(1.0), tone(220, 2.0), silence(1.5)])
    assert quality.speech_seconds(samples, RATE) == pytest.approx(2.0, abs=0.001)
    assert quality.speech_seconds(silence(1.0), RATE) == 0.0


def test_pace_is_judged_against_the_languages_band() -> None:
    assert quality.pace(0.07, "en") == ("ok", (0.04, 0.15))
    assert quality.pace(0.02, "en")[0] == "too_fast"
    assert quality.pace(0.5, "zh")[0] == "too_slow"


def test_a_sentence_scored_against_its_own_text_and_voice_beats_another_text_and_voice(
    reference: np.ndarray, tmp_path: Path
) -> None:
    sentence = speech(SENTENCE, voice=VOICE)
    words = heard(sentence, tmp_path)

    own = quality.score(reference, RATE, sentence, RATE, SENTENCE, "en", words)
    other_text = quality.score(reference, RATE, sentence, RATE, OTHER_TEXT, "en", words)
    other_voice = quality.score(reference, RATE, speech(SENTENCE, voice=OTHER_VOICE), RATE, SENTENCE, "en", None)

    assert own.transcript == words and own.error_metric == "wer"
    assert own.error_rate is not None and own.error_rate < 0.5
    assert other_text.error_rate is not None and other_text.error_rate >= 1.0
    assert own.speaker_similarity > 0.85
    assert other_voice.speaker_similarity < own.speaker_similarity - 0.1
    assert own.pace == "ok"


def test_another_models_similarity_replaces_the_cepstral_one_and_is_named(reference: np.ndarray) -> None:
    sentence = speech(SENTENCE, voice=VOICE)
    by_model = quality.score(reference, RATE, sentence, RATE, SENTENCE, "en", None, ("eres2netv2", 0.31234))
    cepstral = quality.score(reference, RATE, sentence, RATE, SENTENCE, "en", None)

    assert (by_model.speaker_model, by_model.speaker_similarity) == ("eres2netv2", 0.3123)
    assert cepstral.speaker_model == "cepstral" and cepstral.speaker_similarity > 0.85


def test_a_sentence_that_goes_on_after_its_text_is_too_slow(reference: np.ndarray) -> None:
    """What a GPT that never emits its end token does: the text, then babble."""
    babble = np.concatenate([speech(SENTENCE, voice=VOICE)] * 6)

    found = quality.score(reference, RATE, babble, RATE, SENTENCE, "en", None)

    assert found.pace == "too_slow" and found.error_rate is None
    assert found.seconds_per_character > 0.15


def test_a_target_without_spoken_characters_cannot_be_scored(reference: np.ndarray) -> None:
    with pytest.raises(ValueError, match="no spoken characters"):
        quality.score(reference, RATE, reference, RATE, "...!", "en", None)
