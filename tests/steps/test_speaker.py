"""The lightweight speaker embedding on espeak-ng voices: same voice close, another voice far."""

from __future__ import annotations

import numpy as np
import pytest

from sovits_steps import speaker
from sovits_steps.audio import to_pcm16
from tests.support.audio import RATE, SENTENCES, silence, speech

OTHER_VOICE = "en+f3"  # espeak-ng's third female variant of the same English voice


@pytest.fixture(scope="module")
def same_voice() -> list[np.ndarray]:
    return [speaker.embed(speech(text), RATE) for text in SENTENCES[:3]]


def test_two_voices_are_further_apart_than_two_sentences_of_one_voice(same_voice: list[np.ndarray]) -> None:
    other = speaker.embed(speech(SENTENCES[0], voice=OTHER_VOICE), RATE)
    within = min(speaker.similarity(a, b) for i, a in enumerate(same_voice) for b in same_voice[i + 1 :])
    across = max(speaker.similarity(other, e) for e in same_voice)
    assert within > 0.9
    assert across < within - 0.15


def test_loudness_and_pauses_do_not_change_the_voice(same_voice: list[np.ndarray]) -> None:
    x = speech(SENTENCES[0])
    quieter_with_pauses = np.concatenate([silence(1.0), 0.2 * x, silence(1.0)])
    assert speaker.similarity(speaker.embed(quieter_with_pauses, RATE), same_voice[0]) > 0.99


def test_sample_rate_and_integer_samples_give_the_same_embedding(same_voice: list[np.ndarray]) -> None:
    at_16k = speaker.embed(to_pcm16(speech(SENTENCES[0], rate=16000)), 16000)
    assert at_16k.shape == (speaker.DIM,)
    assert speaker.similarity(at_16k, same_voice[0]) > 0.98


def test_silence_embeds_to_zeros_that_resemble_nothing(same_voice: list[np.ndarray]) -> None:
    quiet = speaker.embed(silence(1.0), RATE)
    assert not quiet.any()
    assert speaker.similarity(quiet, same_voice[0]) == 0.0


def test_embeddings_are_unit_vectors(same_voice: list[np.ndarray]) -> None:
    assert all(abs(float(np.linalg.norm(e)) - 1.0) < 1e-9 for e in same_voice)


def test_a_clip_too_short_for_min_frames_at_the_coarse_hop_is_framed_at_half_of_it() -> None:
    x = speech(" ".join(SENTENCES[:3]))
    at, under = speaker.coarse_from(RATE), speaker.coarse_from(RATE) - 1
    assert len(x) > at
    assert len(speaker.mel_energies(x[:at], RATE)) == speaker.MIN_FRAMES
    assert len(speaker.mel_energies(x[:under], RATE)) == 2 * speaker.MIN_FRAMES - 2


def test_on_the_grid_both_hops_give_the_same_frames() -> None:
    x = speech(" ".join(SENTENCES[:3]))
    at, under = speaker.coarse_from(RATE), speaker.coarse_from(RATE) - 1
    coarse = speaker.on_grid(speaker.mel_energies(x[:at], RATE), at, RATE)
    fine = speaker.on_grid(speaker.mel_energies(x[:under], RATE), under, RATE)
    assert len(fine) == speaker.MIN_FRAMES - 1
    np.testing.assert_allclose(fine, coarse[: len(fine)], rtol=1e-5, atol=1e-12)
