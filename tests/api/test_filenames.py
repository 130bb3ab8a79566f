from __future__ import annotations

import unicodedata

import pytest

from sovits_api.filenames import MAX_NAME_BYTES, numbered, sanitize, with_extension
from sovits_core.errors import InvalidInput


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("voice.wav", "voice.wav"),
        ("dir/sub/voice.wav", "voice.wav"),
        ("C:\\Users\\me\\voice.wav", "voice.wav"),
        ("/etc/passwd", "passwd"),
        ("../../voice.wav", "voice.wav"),
        (".hidden.wav", "hidden.wav"),
        ("a|b.wav", "a_b.wav"),
    ],
)
def test_directories_and_hidden_prefixes_are_stripped(raw: str, expected: str) -> None:
    assert sanitize(raw) == expected


def test_names_are_nfc_normalised() -> None:
    decomposed = unicodedata.normalize("NFD", "café.wav")
    assert sanitize(decomposed) == unicodedata.normalize("NFC", "café.wav")


@pytest.mark.parametrize("raw", ["a\x00.wav", "a\nb.wav", "a\x1b.wav", "", None, "..", "dir/", "  "])
def test_unusable_names_are_refused_naming_the_field(raw: str | None) -> None:
    with pytest.raises(InvalidInput) as exc:
        sanitize(raw)
    assert exc.value.field == "file.filename"


def test_long_names_are_cut_keeping_the_extension() -> None:
    name = sanitize("语" * 200 + ".wav")
    assert len(name.encode()) <= MAX_NAME_BYTES
    assert name.endswith(".wav")


def test_taken_names_get_the_next_free_number() -> None:
    taken = {"a.wav", "a-1.wav"}
    assert numbered("a.wav", taken.__contains__) == "a-2.wav"
    assert numbered("b.wav", taken.__contains__) == "b.wav"
    assert numbered("noext", {"noext"}.__contains__) == "noext-1"


def test_a_name_without_extension_gets_the_detected_one() -> None:
    assert with_extension("recording", "flac") == "recording.flac"
    assert with_extension("recording.wav", "flac") == "recording.wav"
