"""The s2 JSON and s1 YAML configs: upstream's templates, read from the checkout at run time,
with the keys webui rewrites set from our parameters (reference §9, §10)."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sovits_core.errors import InvalidInput
from sovits_core.model import ModelVersion

from . import versions as v
from .runtree import BASE_DIR_FIELD


@dataclass(frozen=True)
class TrainSettings:
    """What both trainers take from us; ``devices`` are GPU ids ([] on the CPU)."""

    exp: str
    version: ModelVersion
    epochs: int
    save_every: int
    batch_size: int
    is_half: bool
    devices: tuple[str, ...]
    if_save_latest: bool
    if_save_every_weights: bool


def effective_save_every(epochs: int, requested: int) -> int:
    """The largest interval <= ``requested`` that divides ``epochs``.

    Upstream exports weights only on epochs divisible by the interval (trap 8), so an interval
    that does not divide the run would lose the final epoch; we save more often instead.
    """
    requested = max(1, min(requested, epochs))
    return next(d for d in range(requested, 0, -1) if epochs % d == 0)


def halved(batch_size: int, is_half: bool) -> int:
    """webui halves the per-GPU batch when training in fp32."""
    return batch_size if is_half else max(1, batch_size // 2)


def read_template(checkout: Path, name: str) -> dict[str, Any]:
    path = checkout / v.CONFIGS / name
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInput(f"{BASE_DIR_FIELD}: the checkout has no {v.CONFIGS}/{name}", field=BASE_DIR_FIELD) from None
    data = json.loads(text) if name.endswith(".json") else yaml.safe_load(text)
    if not isinstance(data, dict):
        raise InvalidInput(f"{BASE_DIR_FIELD}: {v.CONFIGS}/{name} is not a mapping", field=BASE_DIR_FIELD)
    return data


def s2_config(
    template: dict[str, Any], s: TrainSettings, *, text_low_lr_rate: float, lora_rank: str, grad_ckpt: bool
) -> dict[str, Any]:
    info = v.info(s.version)
    data = copy.deepcopy(template)
    train = data.setdefault("train", {})
    if not s.is_half:
        train["fp16_run"] = False
    train["batch_size"] = halved(s.batch_size, s.is_half)
    train["epochs"] = s.epochs
    train["text_low_lr_rate"] = text_low_lr_rate
    train["pretrained_s2G"] = v.pretrained(info.sovits_g)
    train["pretrained_s2D"] = v.pretrained(info.sovits_d) if info.sovits_d else ""
    train["if_save_latest"] = s.if_save_latest
    train["if_save_every_weights"] = s.if_save_every_weights
    train["save_every_epoch"] = s.save_every
    # A string: s2_train calls .replace("-", ",") on it (an int would crash).
    train["gpu_numbers"] = "-".join(s.devices)
    train["grad_ckpt"] = grad_ckpt
    train["lora_rank"] = lora_rank
    data.setdefault("model", {})["version"] = s.version
    exp_dir = f"logs/{s.exp}"
    data.setdefault("data", {})["exp_dir"] = exp_dir
    data["s2_ckpt_dir"] = exp_dir
    data["save_weight_dir"] = v.sovits_weight_dir(s.version)
    data["name"] = s.exp
    data["version"] = s.version
    return data


def s1_config(template: dict[str, Any], s: TrainSettings, *, if_dpo: bool) -> dict[str, Any]:
    info = v.info(s.version)
    data = copy.deepcopy(template)
    train = data.setdefault("train", {})
    if not s.is_half:
        train["precision"] = "32"
    train["batch_size"] = halved(s.batch_size, s.is_half)
    train["epochs"] = s.epochs
    train["save_every_n_epoch"] = s.save_every
    train["if_save_every_weights"] = s.if_save_every_weights
    train["if_save_latest"] = s.if_save_latest
    train["if_dpo"] = if_dpo
    train["half_weights_save_dir"] = v.gpt_weight_dir(s.version)
    train["exp_name"] = s.exp
    data["pretrained_s1"] = v.pretrained(info.gpt)
    data["train_semantic_path"] = f"logs/{s.exp}/6-name2semantic.tsv"
    data["train_phoneme_path"] = f"logs/{s.exp}/2-name2text.txt"
    data["output_dir"] = f"logs/{s.exp}/{v.s1_output_dir(s.version)}"
    return data


def write_json(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
    return path


def write_yaml(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data, default_flow_style=False, allow_unicode=True), encoding="utf-8")
    return path
