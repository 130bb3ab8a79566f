"""convert_audio with real ffmpeg on real encoded audio."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sovits_core import contract as c
from sovits_steps.convert import convert_all, output_names
from tests.steps.conftest import LocalTask
from tests.support.audio import ENCODERS, encode, speech

SENTENCE = "voices in the machine speak clearly today"


@pytest.fixture(scope="module")
def voice() -> np.ndarray:
    return speech(SENTENCE, rate=44100)


def half_of(src: Path, dst: Path) -> Path:
    dst.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    return dst


@pytest.mark.parametrize("ext", sorted(ENCODERS))
def test_every_common_format_decodes_to_mono_pcm16_at_32k(ext: str, voice: np.ndarray, tmp_path: Path) -> None:
    src = encode(voice, tmp_path / f"talk.{ext}", rate=44100, channels=2)
    result = convert_all({src.name: src}, tmp_path / "out", 32000)

    assert [c.path.name for c in result.results] == ["talk.wav"]
    info = sf.info(str(result.results[0].path))
    assert (info.channels, info.samplerate, info.subtype) == (1, 32000, "PCM_16")
    assert info.duration == pytest.approx(len(voice) / 44100, abs=0.08)  # encoder padding at most
    assert result.dropped == []


def test_files_that_are_not_whole_audio_are_skipped_and_named(
    voice: np.ndarray, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    good = encode(voice, inputs / "good.flac", rate=44100)
    bad = {
        "random.wav": (inputs / "random.wav").write_bytes(os.urandom(50_000)),
        "notes.wav": (inputs / "notes.wav").write_text("this is a text file, not audio\n"),
        "empty.wav": (inputs / "empty.wav").write_bytes(b""),
    }
    for ext in ("wav", "mp3", "flac", "ogg", "m4a"):
        half_of(encode(voice, tmp_path / f"whole.{ext}", rate=44100), inputs / f"cut.{ext}")
        bad[f"cut.{ext}"] = 1
    sources = {p.name: p for p in inputs.iterdir()}

    with caplog.at_level(logging.WARNING):
        result = convert_all(sources, tmp_path / "out", 32000)

    assert [c.path.name for c in result.results] == [good.with_suffix(".wav").name]
    assert sorted(name for name, _ in result.dropped) == sorted(bad)
    for name in bad:
        assert f"input_audio/{name}" in caplog.text


def test_nothing_usable_fails_as_bad_input_naming_the_files(task: LocalTask) -> None:
    task.put("input_audio/noise.mp3", os.urandom(20_000))
    task.put("input_audio/empty.wav", b"")

    assert task.run("convert_audio") == c.EXIT_BAD_INPUT
    assert task.reason.startswith("bad input: input_audio: no usable audio")
    assert "noise.mp3" in task.reason and "empty.wav" in task.reason
    assert "skipped input_audio/noise.mp3" in task.log("convert_audio")
    assert task.names("converted_wav") == []


def test_inputs_sharing_a_basename_stay_distinct(task: LocalTask, voice: np.ndarray, tmp_path: Path) -> None:
    for rel in ("a.mp3", "a.wav", "x/a.flac", "a-2.ogg"):
        task.put(f"input_audio/{rel}", encode(voice, tmp_path / rel, rate=44100))
    task.put("input_audio/transcript.list", b"not audio, for asr_transcribe")

    assert task.run("convert_audio") == c.EXIT_OK
    names = task.names("converted_wav")
    assert len(names) == len(set(names)) == 4
    assert set(names) == set(output_names(["a.mp3", "a.wav", "x/a.flac", "a-2.ogg"]).values())
    assert task.progress("convert_audio")["progress"] == 100


def test_output_names_are_unique_and_safe_for_list_files() -> None:
    names = output_names(["b/a.wav", "a.mp3", "a.wav", "a-2.wav", "pipe|name.ogg"])
    assert len(set(names.values())) == 5
    assert names["a-2.wav"] == "a-2.wav"
    assert names["pipe|name.ogg"] == "pipe_name.wav"


def test_sample_rate_is_configurable(task: LocalTask, voice: np.ndarray, tmp_path: Path) -> None:
    task.put("input_audio/v.m4a", encode(voice, tmp_path / "v.m4a", rate=44100))
    assert task.run("convert_audio", {"sample_rate": 16000}) == c.EXIT_OK
    assert sf.info(str(task.fetch("converted_wav/v.wav"))).samplerate == 16000


def test_a_rerun_leaves_no_outputs_of_removed_inputs(task: LocalTask, voice: np.ndarray, tmp_path: Path) -> None:
    for name in ("one.wav", "two.wav"):
        task.put(f"input_audio/{name}", encode(voice, tmp_path / name))
    assert task.run("convert_audio") == c.EXIT_OK
    task.store.delete("input_audio/two.wav")
    assert task.run("convert_audio") == c.EXIT_OK
    assert task.names("converted_wav") == ["one.wav"]
