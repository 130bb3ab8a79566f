"""asr_transcribe's clip measurements, judged by the dataset report: each problem clip is
flagged for its reason, and nothing clean is flagged."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sovits_core import contract as c
from sovits_core import dataset
from sovits_core.transcripts import parse_list
from sovits_steps import measure, speaker
from sovits_steps.audio import to_pcm16
from tests.steps.conftest import LocalTask
from tests.support.audio import RATE, SENTENCES, speech, tone, write_wav
from tests.support.dataset import UPLOADED_LIST, cases, uploaded_list, write_cases

SPEC = {"expName": "alice", "language": "en"}


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_cases(tmp_path_factory.mktemp("clips"))


@pytest.fixture
def transcribed(task: LocalTask, stored: dict[str, Path]) -> LocalTask:
    for name, path in stored.items():
        task.put(f"denoised/{name}", path)
    task.put(UPLOADED_LIST, uploaded_list())
    assert task.run("asr_transcribe", {"backend": "pocketsphinx"}, spec=SPEC) == c.EXIT_OK, task.reason
    return task


def stored_report(task: LocalTask) -> dict[str, Any]:
    audio = json.loads(task.store.get_bytes(c.DATASET_AUDIO_KEY))["clips"]
    clips = {case.clip for case in cases()}
    lines = parse_list(task.store.get_bytes(c.ASR_TRANSCRIPT_KEY), "list", clips, allow_empty=True)
    return dataset.report(audio, lines)


def test_each_problem_clip_is_flagged_for_its_reason_and_clean_clips_are_not(transcribed: LocalTask) -> None:
    report = stored_report(transcribed)
    flagged = {clip["clip"]: {f["flag"] for f in clip["flags"]} for clip in report["clips"]}
    assert flagged == {case.clip: set(case.expected) for case in cases()}


def test_the_report_names_sources_and_leaves_out_what_breaks_training(transcribed: LocalTask) -> None:
    summary = stored_report(transcribed)["summary"]
    by_flag = {case.clip: case.expected for case in cases()}
    assert summary["excluded"] == sorted(clip for clip, e in by_flag.items() if e & {"empty_text", "too_long"})
    assert summary["excluded_by"] == "default"
    assert summary["flag_counts"] == {next(iter(e)): 1 for e in by_flag.values() if e}
    assert summary["verdict"] == "insufficient"  # well under a usable minute
    assert {a["flag"] for a in summary["advice"]} == set(summary["flag_counts"])
    sources = {clip["source"] for clip in stored_report(transcribed)["clips"]}
    assert {"clean.wav", "lecture.wav", "guest.wav"} <= sources


def test_an_empty_line_of_an_uploaded_list_is_kept_for_proofreading(transcribed: LocalTask) -> None:
    blank = next(case.clip for case in cases() if case.text == "")
    assert f"denoised/{blank}|alice|EN|" in transcribed.store.get_bytes(c.ASR_TRANSCRIPT_KEY).decode().split("\n")


def test_another_models_embeddings_replace_the_cepstral_ones_and_decide_the_main_voice(tmp_path: Path) -> None:
    paths = [write_wav(tmp_path / f"{n}.wav", speech(text)) for n, text in (("a", "good morning"), ("b", "thank you"))]
    paths.append(write_wav(tmp_path / "c.wav", speech("open the door", voice="en-us")))
    model = {"a.wav": [1.0, 0.0], "b.wav": [0.9, 0.1], "c.wav": [0.0, 1.0]}  # c: the odd voice out, by this model

    asked: list[list[str]] = []

    def embed(readable: list[Path]) -> measure.SpeakerEmbeddings:
        asked.append([p.name for p in readable])
        return measure.SpeakerEmbeddings("eres2netv2", model)

    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt ")
    measured = measure.measure_all([*paths, broken], RATE, embed=embed).results

    assert asked == [["a.wav", "b.wav", "c.wav"]]  # the model is given only the clips that could be read

    assert [(m.clip, m.embedding, m.speaker_model) for m in measured] == [
        (k, v, "eres2netv2") for k, v in model.items()
    ]
    similarity = {m.clip: m.speaker_similarity for m in measured}
    assert min(similarity["a.wav"], similarity["b.wav"]) > 0.85 and similarity["c.wav"] < 0.55
    assert {m.speaker_model for m in measure.measure_all(paths, RATE).results} == {"cepstral"}


def test_measurements_match_what_the_signal_is() -> None:
    x = tone(440, 2.0, amp=0.5)
    got = measure.measure("t.wav", to_pcm16(np.concatenate([np.zeros(RATE, np.float32), x])), RATE)
    assert got.duration_s == 3.0
    assert abs(got.peak_dbfs - 20 * np.log10(0.5)) < 0.1
    assert abs(got.rms_dbfs - 20 * np.log10(0.5 / np.sqrt(2)) + 10 * np.log10(3 / 2)) < 0.1
    assert abs(got.lead_silence_s - 1.0) < 0.03 and got.trail_silence_s == 0.0


def test_a_different_take_of_the_same_sentence_is_not_a_duplicate() -> None:
    take = to_pcm16(speech("a long time ago people wrote letters by hand"))
    slower = to_pcm16(speech("a long time ago people wrote letters by hand", voice="en-us"))
    clips = [measure.measure(name, x, RATE) for name, x in (("a.wav", take), ("b.wav", slower), ("c.wav", take))]
    measure.mark_duplicates(clips)
    assert [clip.duplicate_of for clip in clips] == [None, None, "a.wav"]


def test_a_copy_cut_a_little_shorter_is_a_duplicate_even_where_its_hop_is_finer() -> None:
    take = to_pcm16(speech(" ".join(SENTENCES[:3])))
    boundary = speaker.coarse_from(RATE)
    longer, shorter = take[: boundary + RATE // 20], take[: boundary - 1]  # 2% apart, either side of it
    assert speaker.hop_of(len(longer), RATE) == 2 * speaker.hop_of(len(shorter), RATE)
    clips = [measure.measure("a.wav", longer, RATE), measure.measure("b.wav", shorter, RATE)]
    measure.mark_duplicates(clips)
    assert [clip.duplicate_of for clip in clips] == [None, "a.wav"]


def test_a_clip_that_cannot_be_read_fails_the_step_as_bad_input_naming_it(task: LocalTask, tmp_path: Path) -> None:
    good = cases()[0]
    task.put(f"denoised/{good.clip}", write_wav(tmp_path / good.clip, good.samples))
    task.put("denoised/broken.wav", b"RIFF\x00\x00\x00\x00WAVEfmt ")
    task.put(UPLOADED_LIST, f"{good.clip}|alice|EN|{good.text}".encode())

    assert task.run("asr_transcribe", {"backend": "pocketsphinx"}, spec=SPEC) == c.EXIT_BAD_INPUT
    assert "denoised: unreadable clips (broken.wav: " in task.reason
    assert task.names(c.DATASET_AUDIO_KEY.split("/")[0]) == []


def test_clips_measured_in_two_processes_measure_as_in_one(stored: dict[str, Path], tmp_path: Path) -> None:
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt ")
    paths = [*sorted(stored.values()), broken]

    one, two = (measure.measure_all(paths, RATE, processes=n) for n in (1, 2))

    assert [m.wire() for m in two.results] == [m.wire() for m in one.results]
    assert len(one.results) == len(stored) and [name for name, _ in two.dropped] == ["broken.wav"]


def clip_with(name: str, duration_s: float, fingerprint: bytes) -> measure.ClipAudio:
    return measure.ClipAudio(name, duration_s, -3.0, -20.0, 0.0, 40.0, 0.0, 0.0, [], fingerprint.hex())


def flipped(bits: bytes, share: float, rng: np.random.Generator) -> bytes:
    array = np.unpackbits(np.frombuffer(bits, dtype=np.uint8))
    array[rng.choice(len(array), round(share * len(array)), replace=False)] ^= 1
    return np.packbits(array).tobytes()


def test_fingerprints_are_compared_over_their_common_length_against_the_90_percent_agreement() -> None:
    rng = np.random.default_rng(7)
    original = rng.integers(0, 256, 203, dtype=np.uint8).tobytes()  # not a whole number of 64-bit words
    clips = [
        clip_with("a.wav", 5.00, original),
        clip_with("b.wav", 5.05, original[:61]),  # longer by its length, shorter by its fingerprint
        clip_with("c.wav", 5.06, rng.integers(0, 256, 203, dtype=np.uint8).tobytes()),
        clip_with("d.wav", 5.07, flipped(original, 0.05, rng)),
        clip_with("e.wav", 5.08, flipped(original, 0.2, rng)),
        clip_with("f.wav", 5.20, original),  # the same bits, but 4% longer
    ]
    measure.mark_duplicates(clips)
    assert [c.duplicate_of for c in clips] == [None, "a.wav", None, "a.wav", None, None]


@pytest.mark.parametrize("near", [1, 2, 3, 100, 16384, 32112, 32767, 32768])
def test_the_near_peak_count_agrees_with_both_comparisons_over_every_16_bit_value(near: int) -> None:
    every = np.arange(-32768, 32768, dtype=np.int16)
    assert measure.near_peak_count(every, near) == np.count_nonzero(every >= near) + np.count_nonzero(every <= -near)
