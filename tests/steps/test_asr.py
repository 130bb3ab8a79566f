"""asr_transcribe: pocketsphinx on espeak-ng speech, model-store paths, uploaded .list files."""

from __future__ import annotations

from pathlib import Path

import pytest

from sovits_core import contract as c
from sovits_core.errors import InvalidInput
from sovits_core.transcripts import parse_list
from tests.steps.conftest import LocalTask
from tests.support.audio import silence, speech, write_wav

SPEC = {"expName": "alice", "language": "en"}
CLIPS = {
    "talk.wav_0000000000_0000120000.wav": "the weather is nice today",
    "talk.wav_0000130000_0000250000.wav": "please open the window",
    "talk.wav_0000260000_0000380000.wav": "seven green apples on the table",
}


@pytest.fixture
def denoised(task: LocalTask, tmp_path: Path) -> LocalTask:
    for name, text in CLIPS.items():
        task.put(f"denoised/{name}", write_wav(tmp_path / name, speech(text)))
    return task


def transcript(task: LocalTask) -> list[list[str]]:
    return [line.split("|") for line in task.store.get_bytes("transcripts/denoised.list").decode().split("\n")]


def test_pocketsphinx_gives_one_nonempty_line_per_espeak_clip(denoised: LocalTask) -> None:
    assert denoised.run("asr_transcribe", {"backend": "pocketsphinx"}, spec=SPEC) == c.EXIT_OK

    lines = transcript(denoised)
    assert sorted(path for path, *_ in lines) == sorted(f"denoised/{name}" for name in CLIPS)
    for _, speaker, language, text in lines:
        assert (speaker, language) == ("alice", "EN")
        assert text.strip()


def test_a_clip_without_speech_is_left_out(denoised: LocalTask, tmp_path: Path) -> None:
    denoised.put("denoised/quiet.wav", write_wav(tmp_path / "quiet.wav", silence(2.0)))
    assert denoised.run("asr_transcribe", {"backend": "pocketsphinx", "language": "en"}) == c.EXIT_OK
    assert len(transcript(denoised)) == len(CLIPS)
    assert "no speech recognised in quiet.wav" in denoised.log("asr_transcribe")


def test_an_uploaded_list_is_used_instead_of_recognition(denoised: LocalTask) -> None:
    first, second, _ = CLIPS
    denoised.put("input_audio/mine.list", f"D:\\data\\{first}|bob|zh|你好\n/x/{second}|bob|JP|こんにちは\n".encode())
    # pocketsphinx would refuse Chinese: success proves recognition did not run.
    assert denoised.run("asr_transcribe", {"backend": "pocketsphinx"}, spec={**SPEC, "language": "zh"}) == c.EXIT_OK
    assert transcript(denoised) == [
        [f"denoised/{first}", "bob", "ZH", "你好"],
        [f"denoised/{second}", "bob", "JA", "こんにちは"],
    ]


def test_uploaded_list_errors_name_each_line_and_reason() -> None:
    clips = {"a.wav", "b.wav"}
    data = b"a.wav|s|AUTO|hi\nmissing.wav|s|en|hi\nb.wav|s|en\nb.wav|s|en|  \n"
    with pytest.raises(InvalidInput) as err:
        parse_list(data, "input_audio/x.list", clips)
    message = err.value.message
    assert err.value.field == "input_audio/x.list"
    assert "line 1: language 'AUTO'" in message
    assert "line 2: clip 'missing.wav' is not among the denoised clips" in message
    assert "line 3: expected 4 '|'-separated fields, found 3" in message
    assert "line 4: empty text" in message


def test_an_invalid_uploaded_list_fails_the_step_as_bad_input(denoised: LocalTask) -> None:
    denoised.put("transcripts/fixed.list", b"nope.wav|s|en|hello")
    assert denoised.run("asr_transcribe", {"backend": "pocketsphinx"}, spec=SPEC) == c.EXIT_BAD_INPUT
    assert "transcripts/fixed.list: line 1: clip 'nope.wav'" in denoised.reason
    assert denoised.names("transcripts") == ["fixed.list"]


def test_two_uploaded_lists_are_refused_as_ambiguous(denoised: LocalTask) -> None:
    denoised.put("input_audio/a.list", b"x")
    denoised.put("transcripts/b.list", b"y")
    assert denoised.run("asr_transcribe", spec=SPEC) == c.EXIT_BAD_INPUT
    assert "more than one uploaded .list" in denoised.reason


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"backend": "faster-whisper", "model_size": "medium"}, "models/asr/faster-whisper-medium/"),
        ({"backend": "auto", "language": "en"}, "models/asr/faster-whisper-large-v3/"),
        ({"backend": "funasr", "language": "zh"}, "models/asr/Fun-ASR-Nano-2512/"),
        ({"backend": "auto", "language": "yue"}, "models/asr/speech_UniASR_asr_2pass-cantonese"),
    ],
)
def test_a_missing_model_fails_as_bad_input_naming_the_expected_path(
    denoised: LocalTask, params: dict[str, str], expected: str
) -> None:
    assert denoised.run("asr_transcribe", params, spec=SPEC) == c.EXIT_BAD_INPUT
    assert expected in denoised.reason


def test_pocketsphinx_refuses_languages_it_has_no_model_for(denoised: LocalTask) -> None:
    assert denoised.run("asr_transcribe", {"backend": "pocketsphinx", "language": "ja"}) == c.EXIT_BAD_INPUT
    assert "pocketsphinx has only an English model" in denoised.reason
