"""Loss curves from the lines upstream's trainers print (copied from real runs' step logs)."""

from __future__ import annotations

import pytest

from sovits_steps.progress import add_point
from sovits_steps.upstream.losses import S2Losses, s1_losses

# s2_train.py of the v2 run: the epoch line sits behind the tqdm bar, the list on the next line.
S2_AT = "  33%|███▎      | 1/3 [03:02<06:05, 182.82s/it]INFO:tiny:Train Epoch: 2 [33%]"
S2_LIST = (
    "INFO:tiny:[5.380776405334473, 3.8250722885131836, 0.7535800337791443, 245.61138916015625, 0.0, "
    "18.196575164794922, 4, 9.996250468730469e-05]"
)
# s1_train.py's rich bar, redrawn in a pipe with colours off.
S1_RICH = (
    "\x1b[2K\x1b[1A\x1b[2KEpoch 9/9  ━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━ 7/7 \x1b[2m0:00:06 • 0:00:00\x1b[0m "
    "\x1b[2;4m1.18it/s\x1b[0m \x1b[3mv_num: 0.000 total_loss_step: 235.766 lr_step: 0.002 "
    "top_3_acc_step: 0.842   \x1b[0m"
)
S1_EPOCH_SUMMARY = "   \x1b[3mtotal_loss_epoch: 1598.982 lr_epoch: 0.002 top_3_acc_epoch: 0.766            \x1b[0m"


def test_s2_losses_are_named_as_upstream_names_them_and_placed_at_their_epoch() -> None:
    losses = S2Losses()
    assert losses(S2_AT) == []
    points = dict((name, (at, value)) for name, at, value in losses(S2_LIST))
    assert points["loss_mel"] == pytest.approx((1.33, 245.61138916015625))
    assert points["loss_gen"] == pytest.approx((1.33, 3.8250722885131836))
    assert set(points) == {"loss_disc", "loss_gen", "loss_fm", "loss_mel", "kl_ssl", "loss_kl"}


def test_s2_lists_without_an_epoch_line_before_them_are_not_losses() -> None:
    losses = S2Losses()
    assert losses(S2_LIST) == []
    assert losses(S2_AT) == [] and len(losses(S2_LIST)) == 6
    assert losses(S2_LIST) == [], "one list per epoch line"


def test_the_lora_trainers_single_loss_is_its_cfm_loss() -> None:
    losses = S2Losses()
    losses("INFO:tiny:Train Epoch: 1 [50%]")
    assert losses("INFO:tiny:[0.25, 12, 0.0001]") == [("loss_cfm", 0.5, 0.25)]


def test_s1_losses_come_from_lightnings_bar_at_its_position() -> None:
    assert s1_losses(S1_RICH) == [("total_loss", 10.0, 235.766), ("top_3_acc", 10.0, 0.842)]
    assert s1_losses("Epoch 2:  50%|#####     | 5/10 [00:01<00:01, v_num=0, total_loss_step=3.2]") == [
        ("total_loss", 2.5, 3.2)
    ]


def test_s1_lines_without_a_bar_position_give_nothing() -> None:
    assert s1_losses(S1_EPOCH_SUMMARY) == []
    assert s1_losses("ckpt_path: None") == []


def test_a_full_series_keeps_every_other_point_and_its_ends() -> None:
    series: list[list[float]] = []
    for x in range(9):
        add_point(series, x, 10.0 - x, limit=8)
    assert series == [[0, 10.0], [2, 8.0], [4, 6.0], [6, 4.0], [8, 2.0]]
    add_point(series, 8, 1.5, limit=8)
    assert series[-1] == [8, 1.5], "a redrawn bar replaces its point"
