"""What every model step derives from its context: the task's version and experiment, the
GPUs and precision, the run tree, and the bookkeeping of its outputs."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sovits_core.contract import EXPERIMENTS
from sovits_core.errors import InvalidInput
from sovits_core.model import ModelVersion, TrainingTaskSpec
from sovits_steps.context import StepContext
from sovits_steps.parallel import usable_cores
from sovits_steps.staging import Stamp, stamp

from . import environment, numba_cache, pretrained, runtree
from . import versions as v

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TaskFacts:
    """The task facts a model step runs with."""

    spec: TrainingTaskSpec
    exp: str
    version: ModelVersion
    devices: tuple[str, ...]
    is_half: bool
    checkout: Path
    numba_seed: Path | None = None  # settings.paths.numba_cache


def task_facts(ctx: StepContext, is_half: bool | None, *needed: str) -> TaskFacts:
    if ctx.spec is None:
        raise InvalidInput(f"{ctx.step} needs the task spec (expName, modelVersion)", field="spec")
    base_dir = ctx.settings.paths.base_dir if ctx.settings is not None else None
    numba_seed = ctx.settings.paths.numba_cache if ctx.settings is not None else None
    checkout = runtree.check_checkout(base_dir, *needed)
    devices = tuple(environment.device_ids(os.environ, ctx.spec.gpu.count))
    return TaskFacts(
        spec=ctx.spec,
        exp=ctx.spec.exp_name,
        version=ctx.spec.model_version,
        devices=devices,
        is_half=bool(devices) if is_half is None else is_half,
        checkout=checkout,
        numba_seed=numba_seed,
    )


def experiments(ctx: StepContext) -> Path:
    return ctx.folder(EXPERIMENTS)


def build_tree(ctx: StepContext, facts: TaskFacts, *, output: Path | None = None) -> runtree.RunTree:
    return runtree.build(
        facts.checkout,
        ctx.work / "upstream",
        exp=facts.exp,
        version=facts.version,
        experiments=experiments(ctx),
        models=ctx.models.cache,
        output=output,
    )


def fetch_models(ctx: StepContext, facts: TaskFacts, languages: Iterable[str]) -> dict[str, Path]:
    ctx.progress.update(0.0, "fetching pretrained models")
    return pretrained.fetch(ctx.models, pretrained.requirements(ctx.step, facts.version, languages))


def base_env(tree: runtree.RunTree, facts: TaskFacts, models: dict[str, Path]) -> dict[str, str]:
    """Upstream's environment for one run, its numba cache seeded (``numba_cache``)."""
    nltk = models.get(v.NLTK_DATA)
    return environment.base(
        os.environ,
        tree,
        version=facts.version,
        is_half=facts.is_half,
        nltk_data=str(nltk) if nltk else None,
        numba_cache_dir=str(numba_cache.folder(facts.numba_seed, tree.temp / "numba")),
        cores=usable_cores(),
    )


def snapshot(root: Path) -> dict[Path, Stamp]:
    return {p: stamp(p) for p in root.rglob("*") if p.is_file()}


def changed_since(root: Path, before: dict[Path, Stamp]) -> list[Path]:
    """Non-empty files under ``root`` that are new or changed since ``before``."""
    return sorted(p for p in root.rglob("*") if p.is_file() and p.stat().st_size > 0 and before.get(p) != stamp(p))


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.stat().st_size > 0) if root.is_dir() else []


def manifest(ctx: StepContext, facts: TaskFacts, record: dict[str, Any]) -> Path:
    """``experiments/<exp>/steps/<step>[.<shard>].json``: what this run did, for people and for
    the runner's rule that a step produces at least one file (a recorded no-op included)."""
    name = ctx.step if ctx.shard_count == 1 else f"{ctx.step}.{ctx.shard_index}"
    path = experiments(ctx) / facts.exp / "steps" / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {
        "step": ctx.step,
        "shard": ctx.shard_index,
        "shards": ctx.shard_count,
        "version": facts.version,
        "is_half": facts.is_half,
        "devices": list(facts.devices),
        "finished_at": datetime.now(UTC).isoformat(),
        **record,
    }
    path.write_text(json.dumps(body, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def owner(names: set[str], prefixes: Iterable[str] = ()) -> Callable[[str], bool]:
    """The runner's ``owns``: exactly ``names``, and everything under ``prefixes`` (mirrored deletes)."""
    heads = tuple(prefixes)
    return lambda name: name in names or name.startswith(heads)


def rel_names(root: Path, files: Iterable[Path]) -> set[str]:
    return {p.relative_to(root).as_posix() for p in files}


def missing_message(what: str, names: list[str], hint: str) -> str:
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    return f"{what} for {len(names)} item(s): {shown} ({hint})"
