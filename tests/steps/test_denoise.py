"""denoise_audio: spectral gating on real noise; FRCRN's missing-model path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from sovits_core import contract as c
from sovits_steps.denoise import denoise_all, spectral_file
from tests.steps.conftest import LocalTask
from tests.support.audio import RATE, silence, snr_db, speech, tone, white_noise, write_wav


def test_spectral_gating_gains_at_least_6_db_on_a_tone_in_white_noise(tmp_path: Path) -> None:
    # A sliced clip: half a second of pause on each side of the sound, noise throughout.
    clean = np.concatenate([silence(0.5), tone(440, 3.0, amp=0.3), silence(0.5)])
    noisy = clean + white_noise(len(clean) / RATE, std=0.1, seed=7)
    src = write_wav(tmp_path / "in" / "clip.wav", noisy)
    (tmp_path / "out").mkdir()

    (out,) = denoise_all([src], tmp_path / "out", spectral_file).results

    denoised, rate = sf.read(str(out), dtype="float32")
    assert rate == RATE and len(denoised) == len(clean)
    assert snr_db(clean, denoised) >= snr_db(clean, noisy) + 6


def test_spectral_gating_keeps_speech_recognisably_loud(tmp_path: Path) -> None:
    clean = np.concatenate([silence(0.5), speech("hello there how are you today"), silence(0.5)])
    noisy = clean + white_noise(len(clean) / RATE, std=0.02, seed=3)
    src = write_wav(tmp_path / "in" / "clip.wav", noisy)
    (tmp_path / "out").mkdir()

    (out,) = denoise_all([src], tmp_path / "out", spectral_file).results

    denoised, _ = sf.read(str(out), dtype="float32")
    assert snr_db(clean, denoised) > snr_db(clean, noisy)
    assert np.sqrt(np.mean(denoised**2)) > 0.5 * np.sqrt(np.mean(clean**2))


def test_step_keeps_clip_names(task: LocalTask, tmp_path: Path) -> None:
    for name in ("a.wav_0000000000_0000096000.wav", "b.wav_0000000000_0000096000.wav"):
        task.put(f"sliced/{name}", write_wav(tmp_path / name, tone(300, 3.0) + white_noise(3.0, std=0.05)))
    assert task.run("denoise_audio") == c.EXIT_OK
    assert task.names("denoised") == task.names("sliced")


def test_frcrn_without_its_model_fails_as_bad_input_naming_the_path(task: LocalTask, tmp_path: Path) -> None:
    task.put("sliced/a.wav", write_wav(tmp_path / "a.wav", tone(300, 1.0)))
    assert task.run("denoise_audio", {"backend": "frcrn"}) == c.EXIT_BAD_INPUT
    assert "models/denoise/speech_frcrn_ans_cirm_16k/" in task.reason
    assert task.names("denoised") == []


def test_no_clips_fails_as_bad_input(task: LocalTask) -> None:
    assert task.run("denoise_audio") == c.EXIT_BAD_INPUT
    assert "run slice_audio first" in task.reason


def test_a_clip_that_cannot_be_read_is_skipped_and_named(task: LocalTask, tmp_path: Path) -> None:
    task.put("sliced/a.wav_0000000000_0000096000.wav", write_wav(tmp_path / "a.wav", tone(300, 3.0)))
    task.put("sliced/b.wav_0000000000_0000096000.wav", b"RIFF\x00\x00\x00\x00WAVEfmt ")
    assert task.run("denoise_audio") == c.EXIT_OK
    assert task.names("denoised") == ["a.wav_0000000000_0000096000.wav"]
    assert task.reason.endswith("denoised 1 clips with spectral, skipped 1: b.wav_0000000000_0000096000.wav")
    assert "skipped sliced/b.wav_0000000000_0000096000.wav" in task.log("denoise_audio")


def test_no_readable_clip_fails_as_bad_input_with_the_reason(task: LocalTask) -> None:
    task.put("sliced/b.wav", b"not audio at all")
    assert task.run("denoise_audio") == c.EXIT_BAD_INPUT
    assert "sliced: no clip could be read (b.wav: " in task.reason
    assert task.names("denoised") == []
