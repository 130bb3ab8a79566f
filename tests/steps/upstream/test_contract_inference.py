"""Contract tests of step 11 against the stand-in ``inference_cli.py``.

Like upstream, the stand-in takes --ref_text/--target_text as files, accepts only the
Chinese UI labels, ignores --sovits_model (it refuses to run unless env sovits_path names
the same file), refuses a reference outside 3-10 s, and writes output.wav at the version's
rate.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import soundfile as sf

from sovits_core import contract as c
from sovits_core.errors import InvalidInput
from sovits_core.reconcile import quality_of
from sovits_core.transcripts import Line
from sovits_steps import quality
from sovits_steps.upstream import inference, training
from tests.steps.conftest import LocalTask
from tests.steps.upstream.conftest import CLIPS, EXP, NAMES, run_features, serve_locally, spec
from tests.support.audio import speech, write_wav
from tests.support.fake_upstream import FakeUpstream

REFERENCE = NAMES[1]  # the ~5 s English clip
SPOKEN = "one two three four five six seven"


@pytest.fixture
def trained(prepared: LocalTask, fake: FakeUpstream, monkeypatch: pytest.MonkeyPatch) -> LocalTask:
    monkeypatch.setattr(training, "POLL_S", 0.1)
    run_features(prepared)
    assert prepared.run("train_sovits", {"epochs": 4, "save_every_epoch": 2}, spec=spec()) == c.EXIT_OK
    assert prepared.run("train_gpt", {"epochs": 4, "save_every_n_epoch": 2}, spec=spec()) == c.EXIT_OK
    return prepared


def report(task: LocalTask) -> dict[str, object]:
    return dict(json.loads(task.store.get_bytes("output/test_inference.json")))


def test_contract_inference_speaks_the_target_with_the_newest_weights(trained: LocalTask, fake: FakeUpstream) -> None:
    params = {"target_text": "hello from the cluster"}
    assert trained.run("test_inference", params, spec=spec()) == c.EXIT_OK

    wav = trained.fetch("output/output.wav")
    assert sf.info(str(wav)).samplerate == 32000 and sf.info(str(wav)).frames > 0
    call = fake.calls("inference_cli")[0]
    argv = dict(zip(call["argv"][::2], call["argv"][1::2], strict=True))
    assert argv["--ref_language"] == "英文" and argv["--target_language"] == "英文"
    assert argv["--sovits_model"] == call["env"]["sovits_path"]
    assert argv["--sovits_model"].endswith("SoVITS_weights_v2Pro/alice_e4_s12.pth")
    assert argv["--gpt_model"].endswith("GPT_weights_v2Pro/alice-e4.ckpt")
    texts = fake.calls("inference_cli.texts")[0]
    assert texts["ref_text"] == CLIPS[REFERENCE][1], "the picked clip's own transcript is the reference text"
    assert texts["target_text"] == "hello from the cluster"
    got = report(trained)
    assert got["ref_audio"] == f"experiments/{EXP}/5-wav32k/{REFERENCE}"
    assert got["sovits_model"] == f"experiments/{EXP}/SoVITS_weights_v2Pro/alice_e4_s12.pth"


def test_contract_the_sentence_is_scored_against_the_reference_and_the_target_text(
    trained: LocalTask, fake: FakeUpstream, tmp_path: Path
) -> None:
    """The stand-in speaks a real espeak-ng sentence; pocketsphinx hears it."""
    fake.behave("inference_cli", speak=str(write_wav(tmp_path / "spoken.wav", speech(SPOKEN, voice="en-us+m3"))))
    params = {"target_text": SPOKEN, "asr_backend": "pocketsphinx"}
    assert trained.run("test_inference", params, spec=spec()) == c.EXIT_OK

    score = json.loads(trained.store.get_bytes("output/quality.json"))
    sentence, _ = sf.read(str(trained.fetch("output/output.wav")), dtype="float32")
    ref, _ = sf.read(str(trained.fetch(f"experiments/{EXP}/5-wav32k/{REFERENCE}")), dtype="float32")
    expected = quality.score(ref, 32000, sentence, 32000, SPOKEN, "en", score["transcript"])
    assert score == {"language": "en", "asr_backend": "pocketsphinx", **expected.as_dict()}
    assert score["error_metric"] == "wer" and score["error_rate"] < 0.5 and score["pace"] == "ok"
    assert score["transcript"].split()[1:5] == ["two", "three", "four", "five"]
    status = quality_of(trained.reason)  # what the operator reads from the termination message
    assert status is not None
    assert status.model_dump() == {k: score[k] for k in type(status).model_fields}
    summary = r"^\d+\.\d s of speech in output/output.wav; speaker similarity -?\d\.\d\d, WER \d\.\d\d, pace ok \| "
    assert re.match(summary, trained.reason), trained.reason


def test_sovits_local_shows_the_score_in_the_rest_task_view_and_the_report(
    trained: LocalTask, fake: FakeUpstream, tmp_path: Path
) -> None:
    fake.behave("inference_cli", speak=str(write_wav(tmp_path / "spoken.wav", speech(SPOKEN, voice="en-us+m3"))))
    service, task_id = serve_locally(tmp_path, fake, {}, done=10)
    try:
        client = service.client()
        client.execute_step(task_id, "test_inference", {"target_text": SPOKEN, "asr_backend": "pocketsphinx"})
        final = client.wait_for_completion(task_id, timeout=180, interval=0.5)
        report = client.download(task_id, "output/quality.json", tmp_path / "quality.json")
    finally:
        service.stop()

    assert final["status"] == "completed", final
    score = json.loads(report.read_text(encoding="utf-8"))
    expected = {
        "speakerSimilarity": score["speaker_similarity"],
        "speakerModel": "cepstral",  # the fake checkout has no speaker-verification model
        "errorRate": score["error_rate"],
        "errorMetric": "wer",
        "asrBackend": "pocketsphinx",
        "secondsPerCharacter": score["seconds_per_character"],
        "pace": "ok",
    }
    assert final["quality"] == expected
    assert score["error_rate"] < 0.5


def test_contract_an_asr_that_cannot_run_leaves_out_the_error_rate_and_says_why(trained: LocalTask) -> None:
    assert trained.run("test_inference", {"target_text": "hello there"}, spec=spec()) == c.EXIT_OK

    score = json.loads(trained.store.get_bytes("output/quality.json"))
    assert (score["asr_backend"], score["error_rate"], score["transcript"]) == ("faster-whisper", None, None)
    assert "model not found" in score["asr_error"]
    assert isinstance(score["speaker_similarity"], float) and score["pace_band"] == [0.04, 0.15]


def test_contract_inference_on_a_gpu_sets_both_device_variables(
    trained: LocalTask, fake: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")  # the local runtime's pick of a device
    assert trained.run("test_inference", {}, spec=spec(gpus=1)) == c.EXIT_OK
    env = fake.calls("inference_cli")[0]["env"]
    assert (env["_CUDA_VISIBLE_DEVICES"], env["CUDA_VISIBLE_DEVICES"], env["is_half"]) == ("3", "3", "True")


def test_contract_chosen_weights_and_labels_are_passed_through(trained: LocalTask, fake: FakeUpstream) -> None:
    params = {"gpt_model": "alice-e2.ckpt", "ref_language": "zh", "target_language": "中英混合",
              "ref_audio": REFERENCE, "ref_text": "参考"}  # fmt: skip
    assert trained.run("test_inference", params, spec=spec()) == c.EXIT_OK
    argv = fake.calls("inference_cli")[0]["argv"]
    assert argv[argv.index("--gpt_model") + 1].endswith("alice-e2.ckpt")
    assert argv[argv.index("--ref_language") + 1] == "中文"
    assert argv[argv.index("--target_language") + 1] == "中英混合"
    assert fake.calls("inference_cli.texts")[0]["ref_text"] == "参考"


def test_contract_a_reference_outside_3_to_10_seconds_is_bad_input(trained: LocalTask, fake: FakeUpstream) -> None:
    assert trained.run("test_inference", {"ref_audio": NAMES[0]}, spec=spec()) == c.EXIT_BAD_INPUT
    assert "ref_audio" in trained.reason and "upstream takes 3.05-9.95 s" in trained.reason
    assert fake.calls("inference_cli") == []


def test_contract_unknown_weights_are_bad_input_naming_the_field(trained: LocalTask) -> None:
    assert trained.run("test_inference", {"sovits_model": "nope.pth"}, spec=spec()) == c.EXIT_BAD_INPUT
    assert trained.reason.startswith("bad input: sovits_model:")


def test_contract_inference_exiting_0_without_output_fails(trained: LocalTask, fake: FakeUpstream) -> None:
    fake.behave("inference_cli", write_nothing=True)
    assert trained.run("test_inference", {}, spec=spec()) == c.EXIT_BAD_INPUT
    assert "exited 0 but wrote no output/output.wav" in trained.reason


def test_contract_output_at_another_versions_rate_is_refused(trained: LocalTask, fake: FakeUpstream) -> None:
    fake.behave("inference_cli", rate_of="v3")
    assert trained.run("test_inference", {}, spec=spec()) == c.EXIT_BAD_INPUT
    assert "24000 Hz; v2Pro speaks at 32000 Hz" in trained.reason


def test_contract_inference_before_training_names_the_step(prepared: LocalTask, fake: FakeUpstream) -> None:
    assert prepared.run("test_inference", {}, spec=spec()) == c.EXIT_BAD_INPUT
    assert "run train_sovits first" in prepared.reason


def test_the_reference_is_the_clip_nearest_six_seconds_in_a_reference_language() -> None:
    lines = [Line("a.wav", "s", "EN", "a"), Line("b.wav", "s", "KO", "b"), Line("c.wav", "s", "ZH", "c"),
             Line("d.wav", "s", "EN", "d")]  # fmt: skip
    sizes = {"a.wav": 44 + 64000 * 9, "b.wav": 44 + 64000 * 6, "c.wav": 44 + 64000 * 5, "d.wav": 44 + 64000 * 12}
    chosen = inference.pick_reference(lines, sizes)
    assert chosen is not None and chosen.clip == "c.wav"  # b is Korean, d is too long, a is further from 6 s


def test_language_codes_become_the_cli_s_chinese_labels() -> None:
    assert inference.label(None, "ja", inference.REF_CHOICES, "ref_language") == "日文"
    assert inference.label("中英混合", "en", inference.TARGET_CHOICES, "target_language") == "中英混合"
    assert inference.label(None, "ko", inference.TARGET_CHOICES, "target_language") == "多语种混合"
    with pytest.raises(InvalidInput, match="ref_language: '中英混合' is not one of 中文, 英文, 日文"):
        inference.label("中英混合", "en", inference.REF_CHOICES, "ref_language")
