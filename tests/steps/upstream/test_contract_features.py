"""Contract tests of steps 5-8 against the stand-in upstream (tests/support/fake_upstream.py).

The stand-in scripts refuse what upstream would choke on (env, CWD, PYTHONPATH, -s, model
paths, part files) and write upstream's formats; these tests check what the adapter makes
of that: shards, merged tables, per-item verification, and bad input where upstream would
have exited 0 having done nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sovits_core import contract as c
from tests.steps.conftest import LocalTask
from tests.steps.upstream.conftest import EXP, NAMES, experiment, run_features, spec
from tests.support.audio import speech, write_wav
from tests.support.fake_upstream import FakeUpstream

FEATURE_STEPS = ("extract_text_features", "extract_audio_features", "extract_speaker_vectors",
                 "extract_semantic_features")  # fmt: skip


def table(task: LocalTask, name: str) -> str:
    return task.store.get_bytes(f"experiments/{EXP}/{name}").decode("utf-8")


def test_contract_features_of_every_item_after_steps_5_to_8(prepared: LocalTask, fake: FakeUpstream) -> None:
    run_features(prepared)

    files = experiment(prepared)
    for name in NAMES:
        assert f"4-cnhubert/{name}.pt" in files
        assert f"5-wav32k/{name}" in files
        assert f"7-sv_cn/{name}.pt" in files
    # BERT features exist for the Chinese line only (reference §5).
    assert [f for f in files if f.startswith("3-bert/")] == [f"3-bert/{NAMES[0]}.pt"]
    assert not [f for f in files if f.startswith(".parts/")]


def test_contract_shards_run_with_upstream_env_and_merge_in_index_order(
    prepared: LocalTask, fake: FakeUpstream
) -> None:
    run_features(prepared, shards=2, gpus=1)

    calls = fake.calls("1-get-text")
    assert [(e["env"]["i_part"], e["env"]["all_parts"]) for e in calls] == [("0", "2"), ("1", "2")]
    for e in calls:
        env = e["env"]
        assert env["is_half"] == "True"  # a GPU task defaults to fp16, as the Python literal upstream evals
        assert env["_CUDA_VISIBLE_DEVICES"] == "0"
        assert env["version"] == "v2Pro"
        assert env["opt_dir"] == f"logs/{EXP}"
        assert (
            env["bert_pretrained_dir"]
            == env["bert_path"]
            == "GPT_SoVITS/pretrained_models/chinese-roberta-wwm-ext-large"
        )
        assert not any(k.startswith("SOVITS_") for k in env), "our settings and credentials stay out of upstream"
    hubert = fake.calls("2-get-hubert-wav32k")[0]["env"]
    assert hubert["cnhubert_base_dir"] == "GPT_SoVITS/pretrained_models/chinese-hubert-base"

    # Shard 0 took lines 0 and 2, shard 1 line 1: the merge keeps the index order of the parts.
    rows = [line.split("\t")[0] for line in table(prepared, "2-name2text.txt").strip("\n").split("\n")]
    assert rows == [NAMES[0], NAMES[2], NAMES[1]]
    assert table(prepared, "2-name2text.txt").endswith("\n")


def test_contract_merged_semantic_table_has_the_header_and_a_trailing_newline(
    prepared: LocalTask, fake: FakeUpstream
) -> None:
    run_features(prepared, shards=2)

    text = table(prepared, "6-name2semantic.tsv")
    lines = text.split("\n")
    assert lines[0] == "item_name\tsemantic_audio"
    assert sorted(line.split("\t")[0] for line in lines[1:] if line) == NAMES
    assert text.endswith("\n") and not text.endswith("\n\n")
    assert not [f for f in experiment(prepared) if f.startswith(".parts/")], "part files are deleted after merging"


def test_contract_a_shard_that_is_not_last_leaves_the_merge_to_the_last(
    prepared: LocalTask, fake: FakeUpstream
) -> None:
    assert prepared.run("extract_text_features", {}, spec=spec(), shard=(1, 2)) == c.EXIT_OK
    assert "2-name2text.txt" not in experiment(prepared)
    assert [f for f in experiment(prepared) if f.startswith(".parts/2-name2text/")]

    assert prepared.run("extract_text_features", {}, spec=spec(), shard=(0, 2)) == c.EXIT_OK
    assert len(table(prepared, "2-name2text.txt").strip("\n").split("\n")) == len(NAMES)


def test_contract_a_re_run_runs_upstream_again_despite_earlier_part_files(
    prepared: LocalTask, fake: FakeUpstream
) -> None:
    """Upstream does nothing when its part file exists (trap 5): a re-run must still redo the shard."""
    run_features(prepared)
    prepared.put(f"experiments/{EXP}/2-name2text-0.txt", b"stale\tx\tNone\tstale\n")
    fake.behave("1-get-text", fail_items=[NAMES[1]])
    assert prepared.run("extract_text_features", {}, spec=spec()) == c.EXIT_BAD_INPUT
    assert NAMES[1] in prepared.reason


def test_contract_upstream_exiting_0_having_written_nothing_fails_the_step(
    prepared: LocalTask, fake: FakeUpstream
) -> None:
    fake.behave("1-get-text", write_nothing=True)
    assert prepared.run("extract_text_features", {}, spec=spec()) == c.EXIT_BAD_INPUT
    assert "exited 0 but wrote no 2-name2text-0.txt" in prepared.reason
    assert "2-name2text.txt" not in experiment(prepared)


@pytest.mark.parametrize("step", ["extract_audio_features", "extract_speaker_vectors"])
def test_contract_missing_feature_files_after_exit_0_fail_the_step(
    prepared: LocalTask, fake: FakeUpstream, step: str
) -> None:
    if step == "extract_speaker_vectors":
        assert prepared.run("extract_audio_features", {}, spec=spec()) == c.EXIT_OK
    fake.behave({"extract_audio_features": "2-get-hubert-wav32k", "extract_speaker_vectors": "2-get-sv"}[step],
                write_nothing=True)  # fmt: skip
    assert prepared.run(step, {}, spec=spec()) == c.EXIT_BAD_INPUT
    assert "for 3 item(s)" in prepared.reason


def test_contract_an_item_failing_inside_upstream_is_named(prepared: LocalTask, fake: FakeUpstream) -> None:
    fake.behave("1-get-text", fail_items=[NAMES[2]])
    assert prepared.run("extract_text_features", {}, spec=spec()) == c.EXIT_BAD_INPUT
    assert f"produced no row for 1 item(s): {NAMES[2]}" in prepared.reason
    assert "ValueError: cannot clean this text" in prepared.log("extract_text_features")


def test_contract_clips_upstream_filters_for_loudness_are_reported(prepared: LocalTask, fake: FakeUpstream) -> None:
    fake.behave("2-get-hubert-wav32k", filter_items=[NAMES[0]])
    assert prepared.run("extract_audio_features", {}, spec=spec()) == c.EXIT_BAD_INPUT
    assert f"louder than 2.2 full scale for 1 item(s): {NAMES[0]} (peak 2.5)" in prepared.reason


def test_contract_a_crash_inside_upstream_is_retryable_with_its_error(prepared: LocalTask, fake: FakeUpstream) -> None:
    fake.behave("1-get-text", crash="CUDA error: an illegal memory access was encountered")
    assert prepared.run("extract_text_features", {}, spec=spec()) == c.EXIT_RETRYABLE
    assert "RuntimeError: CUDA error: an illegal memory access was encountered" in prepared.reason


def test_contract_cuda_out_of_memory_in_a_crash_is_reported_as_such(prepared: LocalTask, fake: FakeUpstream) -> None:
    fake.behave("1-get-text", crash="CUDA error: out of memory")
    assert prepared.run("extract_text_features", {}, spec=spec()) == c.EXIT_OUT_OF_MEMORY
    assert prepared.reason == "out of memory: upstream 1-get-text.py: RuntimeError: CUDA error: out of memory"


def test_contract_speaker_vectors_are_a_recorded_no_op_below_v2pro(prepared: LocalTask, fake: FakeUpstream) -> None:
    assert prepared.run("extract_speaker_vectors", {}, spec=spec("v2")) == c.EXIT_OK

    assert fake.calls("2-get-sv") == []
    record = json.loads(prepared.store.get_bytes(f"experiments/{EXP}/steps/extract_speaker_vectors.json"))
    assert record["skipped"] == "model version v2 uses no speaker vectors; nothing to do"
    assert prepared.progress("extract_speaker_vectors")["message"].startswith("skipped: model version v2")


def test_contract_semantic_step_gets_the_version_s_checkpoint_and_matching_config(
    prepared: LocalTask, fake: FakeUpstream
) -> None:
    run_features(prepared, version="v2ProPlus")
    env = fake.calls("3-get-semantic")[0]["env"]
    assert env["pretrained_s2G"] == "GPT_SoVITS/pretrained_models/v2Pro/s2Gv2ProPlus.pth"
    assert env["s2config_path"] == "GPT_SoVITS/configs/s2v2ProPlus.json"


def test_contract_a_missing_model_is_bad_input_naming_the_key(prepared: LocalTask, fake: FakeUpstream) -> None:
    prepared.store.store.delete_prefix("models/chinese-hubert-base/")
    assert prepared.run("extract_audio_features", {}, spec=spec()) == c.EXIT_BAD_INPUT
    assert "models/chinese-hubert-base/" in prepared.reason
    assert fake.calls("2-get-hubert-wav32k") == []


def test_contract_chinese_text_needs_g2pw_from_the_store(prepared: LocalTask, fake: FakeUpstream) -> None:
    prepared.store.store.delete_prefix("models/G2PWModel/")
    assert prepared.run("extract_text_features", {}, spec=spec()) == c.EXIT_BAD_INPUT
    assert "models/G2PWModel/" in prepared.reason


def test_contract_step_5_before_asr_is_bad_input(task: LocalTask, fake: FakeUpstream) -> None:
    assert task.run("extract_text_features", {}, spec=spec()) == c.EXIT_BAD_INPUT
    assert "transcripts: no .list; run asr_transcribe first" in task.reason


def test_contract_without_a_checkout_the_setting_is_named(prepared: LocalTask, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SOVITS_PATHS__BASE_DIR")
    assert prepared.run("extract_text_features", {}, spec=spec()) == c.EXIT_BAD_INPUT
    assert "paths.base_dir" in prepared.reason


def test_contract_re_running_a_step_with_fewer_items_removes_their_features(
    prepared: LocalTask, fake: FakeUpstream
) -> None:
    run_features(prepared)
    lines = prepared.store.get_bytes("transcripts/denoised.list").decode().split("\n")
    prepared.put("transcripts/denoised.list", "\n".join(lines[:2]).encode())
    assert prepared.run("extract_audio_features", {}, spec=spec()) == c.EXIT_OK
    assert f"4-cnhubert/{NAMES[2]}.pt" not in experiment(prepared)
    assert f"4-cnhubert/{NAMES[0]}.pt" in experiment(prepared)


def test_contract_a_line_no_longer_chinese_loses_its_bert_features(prepared: LocalTask, fake: FakeUpstream) -> None:
    assert prepared.run("extract_text_features", {}, spec=spec()) == c.EXIT_OK
    assert f"3-bert/{NAMES[0]}.pt" in experiment(prepared)
    lines = prepared.store.get_bytes("transcripts/denoised.list").decode().replace("|ZH|你好", "|EN|hello")
    prepared.put("transcripts/denoised.list", lines.encode())

    assert prepared.run("extract_text_features", {}, spec=spec()) == c.EXIT_OK
    assert not [f for f in experiment(prepared) if f.startswith("3-bert/")]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        # FunASR's `-l auto` writes AUTO, which upstream's text step drops without failing (trap 11).
        ("denoised/{a}|alice|AUTO|hello", "language 'AUTO' is not one of zh, ja, en, ko, yue"),
        # Items are keyed by basename: the same clip from two folders would collide (trap 15).
        ("denoised/{a}|alice|EN|hi\nother/{a}|alice|EN|hi", "is listed twice"),
    ],
)
def test_contract_lines_upstream_would_drop_or_confuse_are_bad_input(
    prepared: LocalTask, fake: FakeUpstream, line: str, reason: str
) -> None:
    prepared.put("transcripts/denoised.list", line.format(a=NAMES[0]).encode())
    assert prepared.run("extract_text_features", {}, spec=spec()) == c.EXIT_BAD_INPUT
    assert reason in prepared.reason
    assert fake.calls("1-get-text") == []


BLANK = "talk.wav_0000288000_0000352000.wav"


@pytest.fixture
def with_blank_line(prepared: LocalTask, tmp_path: Path) -> LocalTask:
    """A fourth clip whose transcript line is empty, as an uploaded list may leave it."""
    prepared.put(f"denoised/{BLANK}", write_wav(tmp_path / BLANK, speech("open the door")))
    listed = prepared.store.get_bytes(c.ASR_TRANSCRIPT_KEY) + f"\ndenoised/{BLANK}|{EXP}|EN|".encode()
    prepared.put(c.ASR_TRANSCRIPT_KEY, listed)
    return prepared


def test_contract_clips_flagged_by_exclude_flags_are_left_out_of_every_feature_step(
    with_blank_line: LocalTask, fake: FakeUpstream
) -> None:
    run_features(with_blank_line)

    record = json.loads(with_blank_line.store.get_bytes(c.DATASET_EXCLUDED_KEY))
    assert record["exclude_flags"] == ["empty_text", "too_long"] and record["clips"] == {BLANK: ["empty_text"]}
    for name in ("2-name2text.txt", "6-name2semantic.tsv"):
        assert BLANK not in table(with_blank_line, name)
    assert not [f for f in experiment(with_blank_line) if BLANK in f]


def test_contract_an_empty_line_kept_by_exclude_flags_is_bad_input_naming_it(with_blank_line: LocalTask) -> None:
    code = with_blank_line.run("extract_text_features", {"exclude_flags": []}, spec=spec())
    assert code == c.EXIT_BAD_INPUT
    assert f"no text for {BLANK}" in with_blank_line.reason and "exclude_flags" in with_blank_line.reason
