"""Loss values from what upstream's trainers print, as (series, epoch, value) points.

s2 (SoVITS) logs `Train Epoch: E [P%]` every `log_interval` steps and, on the next line, its
losses followed by the global step and the learning rate: `[disc, gen, fm, mel, kl_ssl, kl,
step, lr]` (the v3/v4 LoRA trainer: `[cfm, step, lr]`). s1 (GPT, Lightning) shows its logged
values beside the progress bar: `Epoch 9/9 ━━ 7/7 ... total_loss_step: 235.766 ...
top_3_acc_step: 0.842` (rich; the tqdm bar writes `total_loss_step=235.766`). The x of every
point is in epochs from the start of training (fractional within an epoch), for both trainers.
"""

from __future__ import annotations

import math
import re

Point = tuple[str, float, float]

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_S2_AT = re.compile(r"Train Epoch: (\d+) \[(\d+)%\]")
_S2_LIST = re.compile(r"\[(-?[0-9.eE+-]+|nan|inf)((?:, (?:-?[0-9.eE+-]+|nan|inf))+)\]\s*$")
_S2_NAMES = {6: ("loss_disc", "loss_gen", "loss_fm", "loss_mel", "kl_ssl", "loss_kl"), 1: ("loss_cfm",)}
_S1_RICH = re.compile(r"Epoch (\d+)/\d+\D+?(\d+)/(\d+)")
_S1_TQDM = re.compile(r"Epoch (\d+):\s+(\d+)%")
_S1_VALUE = re.compile(r"\b(total_loss|top_3_acc)_step[:=]\s*(-?[0-9.]+(?:e[-+]?\d+)?)")


class S2Losses:
    """s2_train.py's loss lists, placed at the epoch of the `Train Epoch` line before them."""

    def __init__(self) -> None:
        self.at: float | None = None

    def __call__(self, line: str) -> list[Point]:
        line = _ANSI.sub("", line)
        if m := _S2_AT.search(line):
            self.at = int(m[1]) - 1 + int(m[2]) / 100
            return []
        if self.at is None or not (m := _S2_LIST.search(line)):
            return []
        values = [float(v) for v in (m[1] + m[2]).split(", ")]
        losses = values[:-2]  # the global step and the learning rate close the list
        names = _S2_NAMES.get(len(losses)) or tuple(f"loss_{i}" for i in range(len(losses)))
        at, self.at = self.at, None
        return [(name, at, value) for name, value in zip(names, losses, strict=True) if math.isfinite(value)]


def s1_losses(line: str) -> list[Point]:
    """Lightning's per-step values at the bar's position (0-based epoch + batch share)."""
    line = _ANSI.sub("", line)
    if (m := _S1_RICH.search(line)) and int(m[3]) > 0:
        at = int(m[1]) + int(m[2]) / int(m[3])
    elif m := _S1_TQDM.search(line):
        at = int(m[1]) + int(m[2]) / 100
    else:
        return []
    return [(name, at, float(value)) for name, value in _S1_VALUE.findall(line) if math.isfinite(float(value))]
