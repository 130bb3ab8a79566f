"""Contract tests of steps 9 and 10 against the stand-in trainers (tests/support/fake_upstream.py).

The stand-ins check the configs and env the way upstream's trainers consume them, resume
from the newest checkpoint they find, save and export only on epochs divisible by the save
interval, and can crash or wait mid-run; the tests check the adapter's half: configs from
the templates with our settings, the final epoch exported, checkpoints in the store while
training runs and after a crash, the resume, and failures upstream would have hidden.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from sovits_core import contract as c
from sovits_steps.upstream import training
from tests.steps.conftest import TASK_ID, LocalTask
from tests.steps.upstream.conftest import EXP, experiment, run_features, spec
from tests.support.fake_upstream import FakeUpstream

S2_CKPT = "logs_s2_v2Pro/G_233333333333.pth"


@pytest.fixture
def featured(prepared: LocalTask, fake: FakeUpstream, monkeypatch: pytest.MonkeyPatch) -> LocalTask:
    monkeypatch.setattr(training, "POLL_S", 0.1)
    run_features(prepared)
    return prepared


def s2_config(task: LocalTask) -> dict[str, Any]:
    return dict(json.loads(task.store.get_bytes("config_s2.json")))


def test_contract_s2_config_is_the_template_with_our_settings_on_cpu(featured: LocalTask, fake: FakeUpstream) -> None:
    assert featured.run("train_sovits", {"epochs": 6, "save_every_epoch": 4}, spec=spec(batchSize=16)) == c.EXIT_OK

    config = s2_config(featured)
    train = config["train"]
    assert config["template"] == "s2v2Pro.json"
    assert train["seed"] == 1234, "template values we do not set survive"
    assert (train["batch_size"], train["fp16_run"]) == (8, False), "fp32 halves the batch and turns fp16 off"
    assert train["gpu_numbers"] == ""
    assert train["epochs"] == 6
    assert train["save_every_epoch"] == 3, "lowered to a divisor of 6 so that epoch 6 is exported"
    assert train["pretrained_s2G"] == "GPT_SoVITS/pretrained_models/v2Pro/s2Gv2Pro.pth"
    assert train["pretrained_s2D"] == "GPT_SoVITS/pretrained_models/v2Pro/s2Dv2Pro.pth"
    assert (config["data"]["exp_dir"], config["s2_ckpt_dir"], config["name"]) == (f"logs/{EXP}", f"logs/{EXP}", EXP)
    assert config["save_weight_dir"] == "SoVITS_weights_v2Pro"
    assert (config["version"], config["model"]["version"]) == ("v2Pro", "v2Pro")
    exports = sorted(f for f in experiment(featured) if f.startswith("SoVITS_weights_v2Pro/"))
    assert exports == ["SoVITS_weights_v2Pro/alice_e3_s9.pth", "SoVITS_weights_v2Pro/alice_e6_s18.pth"]
    assert S2_CKPT in experiment(featured)
    call = fake.calls("s2_train")[0]
    assert call["argv"] == ["--config", "TEMP/tmp_s2.json"]
    assert featured.progress("train_sovits")["progress"] == 100
    mel = featured.progress("train_sovits")["metrics"]["loss_mel"]
    assert mel == [[e, 40.0 / (e + 1)] for e in range(6)], "one point per logged step, at its epoch"


def test_contract_s2_on_two_gpus_keeps_fp16_and_joins_ids_with_dashes(featured: LocalTask) -> None:
    assert featured.run("train_sovits", {"epochs": 2, "save_every_epoch": 1}, spec=spec(gpus=2, batchSize=16)) == 0

    train = s2_config(featured)["train"]
    assert (train["batch_size"], train["fp16_run"], train["gpu_numbers"]) == (16, True, "0-1")


def test_contract_checkpoints_reach_the_store_while_training_runs(
    featured: LocalTask, fake: FakeUpstream, tmp_path: Path
) -> None:
    """The stand-in blocks after saving epoch 2 until the checkpoint is in the store."""
    stored = tmp_path / "store" / "tasks" / TASK_ID / "experiments" / EXP / S2_CKPT
    fake.behave("s2_train", wait_for_upload={"epoch": 2, "path": str(stored)})
    assert featured.run("train_sovits", {"epochs": 4, "save_every_epoch": 2}, spec=spec()) == c.EXIT_OK


def test_contract_a_crashed_run_keeps_its_checkpoints_and_the_retry_resumes(
    featured: LocalTask, fake: FakeUpstream
) -> None:
    fake.behave("s2_train", crash_after_epoch=3)  # it says CUDA ran out of memory
    assert featured.run("train_sovits", {"epochs": 6, "save_every_epoch": 3}, spec=spec()) == c.EXIT_OUT_OF_MEMORY
    assert "torch.OutOfMemoryError: CUDA out of memory." in featured.reason
    assert S2_CKPT in experiment(featured), "the epoch-3 checkpoint was uploaded before the crash"

    fake.reset()
    assert featured.run("train_sovits", {"epochs": 6, "save_every_epoch": 3}, spec=spec()) == c.EXIT_OK
    assert "start training from epoch 4" in featured.log("train_sovits")
    assert "SoVITS_weights_v2Pro/alice_e6_s18.pth" in experiment(featured)


def test_contract_s2_exiting_0_without_the_final_export_fails(featured: LocalTask, fake: FakeUpstream) -> None:
    fake.behave("s2_train", write_nothing=True)
    assert featured.run("train_sovits", {"epochs": 2, "save_every_epoch": 1}, spec=spec()) == c.EXIT_BAD_INPUT
    assert "exited 0 but exported no weights for epoch 2" in featured.reason


def test_contract_training_before_features_names_the_missing_step(prepared: LocalTask, fake: FakeUpstream) -> None:
    assert prepared.run("train_sovits", {}, spec=spec()) == c.EXIT_BAD_INPUT
    assert "2-name2text.txt is missing; run extract_text_features first" in prepared.reason


def test_contract_s1_config_and_env_on_cpu(featured: LocalTask, fake: FakeUpstream) -> None:
    assert featured.run("train_gpt", {"epochs": 4, "save_every_n_epoch": 3}, spec=spec(batchSize=10)) == c.EXIT_OK

    config = yaml.safe_load(featured.store.get_bytes("config_s1.yaml"))
    train = config["train"]
    assert config["template"] == "s1longer-v2.yaml"
    assert (train["precision"], train["batch_size"], train["save_every_n_epoch"]) == ("32", 5, 2)
    assert train["half_weights_save_dir"] == "GPT_weights_v2Pro"
    assert config["pretrained_s1"] == "GPT_SoVITS/pretrained_models/s1v3.ckpt"
    assert config["train_semantic_path"] == f"logs/{EXP}/6-name2semantic.tsv"
    env = fake.calls("s1_train")[0]["env"]
    assert (env["_CUDA_VISIBLE_DEVICES"], env["hz"], env["version"]) == ("", "25hz", "v2Pro")
    files = experiment(featured)
    assert {"GPT_weights_v2Pro/alice-e2.ckpt", "GPT_weights_v2Pro/alice-e4.ckpt"} <= set(files)
    # if_save_latest: upstream deletes older Lightning checkpoints, and the store follows.
    assert [f for f in files if f.startswith("logs_s1_v2Pro/ckpt/")] == ["logs_s1_v2Pro/ckpt/epoch=3-step=6.ckpt"]
    loss = featured.progress("train_gpt")["metrics"]["total_loss"]
    assert [x for x, _ in loss] == [0, 1, 2, 3, 4] and loss[-1][1] == 2.25, "the bar's value at each position"


def test_contract_s1_on_gpus_gets_comma_separated_ids(featured: LocalTask, fake: FakeUpstream) -> None:
    assert featured.run("train_gpt", {"epochs": 1}, spec=spec(gpus=2)) == c.EXIT_OK
    assert fake.calls("s1_train")[0]["env"]["_CUDA_VISIBLE_DEVICES"] == "0,1"


def test_contract_s1_resumes_from_the_lightning_checkpoint_in_the_store(
    featured: LocalTask, fake: FakeUpstream
) -> None:
    fake.behave("s1_train", crash_after_epoch=2)
    assert featured.run("train_gpt", {"epochs": 4, "save_every_n_epoch": 1}, spec=spec()) == c.EXIT_RETRYABLE
    fake.reset()
    assert featured.run("train_gpt", {"epochs": 4, "save_every_n_epoch": 1}, spec=spec()) == c.EXIT_OK
    assert "ckpt_path:" in featured.log("train_gpt") and "epoch=1-step=2.ckpt" in featured.log("train_gpt")


def test_contract_gpt_training_merges_a_complete_part_set_left_by_a_dead_shard(
    featured: LocalTask, fake: FakeUpstream
) -> None:
    merged = featured.store.get_bytes(f"experiments/{EXP}/6-name2semantic.tsv").decode()
    rows = merged.split("\n")[1:-1]
    featured.store.delete(f"experiments/{EXP}/6-name2semantic.tsv")
    featured.put(f"experiments/{EXP}/.parts/6-name2semantic/abc/0-of-2.tsv", "\n".join(rows[:2]).encode())
    featured.put(f"experiments/{EXP}/.parts/6-name2semantic/abc/1-of-2.tsv", rows[2].encode())

    assert featured.run("train_gpt", {"epochs": 1}, spec=spec()) == c.EXIT_OK
    assert featured.store.get_bytes(f"experiments/{EXP}/6-name2semantic.tsv").decode() == merged
    assert not [f for f in experiment(featured) if f.startswith(".parts/")]


def test_contract_s1_exiting_0_without_the_final_export_fails(featured: LocalTask, fake: FakeUpstream) -> None:
    fake.behave("s1_train", write_nothing=True)
    assert featured.run("train_gpt", {"epochs": 2}, spec=spec()) == c.EXIT_BAD_INPUT
    assert "exported no GPT_weights_v2Pro/alice-e2.ckpt" in featured.reason


@pytest.mark.parametrize(
    ("line", "done"),
    [("====> Epoch: 3", 0.5), ("Train Epoch: 4 [50%]", 0.5833), ("start training from epoch 4", 0.5)],
)
def test_s2_progress_follows_its_epoch_lines(line: str, done: float) -> None:
    assert training.S2Progress(6)(line) == pytest.approx(done, abs=1e-3)


def test_s2_progress_moves_within_an_epoch_with_the_tqdm_bar_over_its_batches() -> None:
    progress = training.S2Progress(4)
    assert progress("100%|██████████| 99/99 [00:00<00:00, 1981.25it/s]") is None  # the dataset's own bar
    assert progress("start training from epoch 1") == 0
    assert progress("====> Epoch: 1") == 0.25
    # the bar of epoch 2, halfway through its 98 batches
    assert progress(" 50%|█████     | 49/98 [00:20<00:20,  2.40it/s]") == pytest.approx(0.375)
    assert progress("INFO:tiny:[2.1, 3.4, 0.5, 41.2, 1.0, 2.2, 300, 0.0001]") is None


def test_s1_progress_follows_lightnings_rich_bar_as_printed_in_a_pipe() -> None:
    progress = training.S1Progress(5)
    line = "Epoch 1/4 ━━━━━━━━━━━━━━━━━━━━ 99/99 0:01:40 • 0:00:00 1.05it/s v_num: 0.000"
    assert progress(line) == pytest.approx(0.4)
    assert progress("\x1b[2KEpoch 2/4 ━━━━━━━━━━╸━━━━━━━━━ 33/66 0:00:20 • 0:00:20 1.60it/s") == pytest.approx(0.5)


def test_s1_progress_follows_lightnings_tqdm_bar_with_zero_based_epochs() -> None:
    progress = training.S1Progress(5)
    assert progress("Epoch 2:  50%|#####     | 5/10 [00:01<00:01, total_loss=3.2]") == 0.5
    assert progress("ckpt_path: None") is None


def test_exports_of_the_final_epoch_are_recognised_by_name() -> None:
    names = ["alice_e8_s80.pth", "alice_e10_s100.pth", "alice_e10_s100_l32.pth", "bob_e10_s100.pth"]
    assert training.s2_exports(names, "alice", 10, None) == ["alice_e10_s100.pth"]
    assert training.s2_exports(names, "alice", 10, "32") == ["alice_e10_s100_l32.pth"]
