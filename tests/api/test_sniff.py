"""Sniffing real files made by ffmpeg and espeak-ng: the content decides, not the name."""

from __future__ import annotations

from pathlib import Path

import pytest

from sovits_api import sniff
from sovits_api.sniff import HEAD_BYTES, detect


@pytest.mark.parametrize(("name", "fmt"), [
    ("speech.wav", "wav"), ("speech.mp3", "mp3"), ("speech.m4a", "m4a"),
    ("speech.aac", "aac"), ("speech.flac", "flac"),
])  # fmt: skip
def test_the_seeds_formats_are_accepted(audio_dir: Path, name: str, fmt: str) -> None:
    detected = detect((audio_dir / name).read_bytes()[:HEAD_BYTES])
    assert detected.accepted
    assert detected.format == fmt


def test_ogg_is_refused_and_named(audio_dir: Path) -> None:
    detected = detect((audio_dir / "speech.ogg").read_bytes()[:HEAD_BYTES])
    assert not detected.accepted
    assert detected.format == "ogg"


def test_text_is_refused_as_text() -> None:
    detected = detect("这不是音频\n".encode())
    assert (detected.accepted, detected.format) == (False, "text")


def test_unknown_bytes_are_refused_with_ffprobes_word_or_as_binary() -> None:
    detected = detect(bytes(range(1, 200)) * 10)
    assert not detected.accepted
    assert detected.format


def test_the_audio_streams_of_a_whole_mp4_are_counted_wherever_its_moov_box_is(audio_dir: Path) -> None:
    def chunks(path: Path) -> list[bytes]:
        data = path.read_bytes()
        return [data[i : i + 4096] for i in range(0, len(data), 4096)]

    assert sniff.audio_streams(chunks(audio_dir / "speech.m4a")) == 1
    assert sniff.audio_streams(chunks(audio_dir / "video.m4a")) == 0
    assert sniff.audio_streams([b"\x00" * 1000]) is None
