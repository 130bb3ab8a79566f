"""The s2/s1 configs: template values kept, webui's rewrites applied, the final epoch exported."""

from __future__ import annotations

import pytest

from sovits_steps.upstream import configs
from sovits_steps.upstream.configs import TrainSettings


@pytest.mark.parametrize(("epochs", "requested", "used"), [(8, 4, 4), (10, 4, 2), (7, 4, 1), (3, 5, 3), (12, 5, 4)])
def test_the_save_interval_divides_the_epochs_and_never_exceeds_the_request(
    epochs: int, requested: int, used: int
) -> None:
    assert configs.effective_save_every(epochs, requested) == used


def settings(is_half: bool, devices: tuple[str, ...] = ()) -> TrainSettings:
    return TrainSettings("bob", "v2", 10, 5, 7, is_half, devices, True, True)


def test_fp32_halves_the_batch_and_never_reaches_zero() -> None:
    assert configs.halved(7, is_half=False) == 3
    assert configs.halved(1, is_half=False) == 1
    assert configs.halved(7, is_half=True) == 7


def test_s2_config_keeps_the_template_and_sets_webuis_keys() -> None:
    template = {"train": {"fp16_run": True, "seed": 1}, "model": {"gin_channels": 512}, "data": {}}
    data = configs.s2_config(
        template, settings(False, ("0", "2")), text_low_lr_rate=0.4, lora_rank="32", grad_ckpt=False
    )
    assert data["train"]["seed"] == 1 and data["model"]["gin_channels"] == 512
    assert data["train"]["fp16_run"] is False
    assert data["train"]["gpu_numbers"] == "0-2"
    assert data["train"]["pretrained_s2D"] == "GPT_SoVITS/pretrained_models/gsv-v2final-pretrained/s2D2333k.pth"
    assert template["train"]["fp16_run"] is True, "the template is not modified"


def test_s1_config_switches_to_fp32_precision_without_half() -> None:
    data = configs.s1_config({"train": {"precision": "16-mixed"}}, settings(False), if_dpo=False)
    assert data["train"]["precision"] == "32"
    assert data["output_dir"] == "logs/bob/logs_s1_v2"
    assert (
        configs.s1_config({"train": {"precision": "16-mixed"}}, settings(True), if_dpo=False)["train"]["precision"]
        == "16-mixed"
    )
