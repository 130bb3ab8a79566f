"""A per-run working tree that upstream takes for its repo root.

Upstream resolves almost every path against the CWD (``logs/<exp>``, ``TEMP/``, the weight
folders, ``GPT_SoVITS/pretrained_models``, ``GPT_SoVITS/text/G2PWModel``) and its save
helpers write temporary files into the CWD. Running inside the installed checkout would
make it writable shared state, so each run gets its own root instead:

    <root>/
      GPT_SoVITS/               real folder; every entry a symlink into the checkout except
        pretrained_models  ->   the model cache (fetched from the model store)
        text/                   real folder; entries symlinked, plus G2PWModel -> the cache
      tools, config.py, ... ->  the checkout (every other top-level entry)
      logs               ->     the staged experiments folder, so logs/<exp> is what we upload
      TEMP/                     upstream's scratch (configs, jieba cache)
      SoVITS_weights*/, GPT_weights*/
                                created beforehand, as webui does; the task's version's two
                                are symlinks to experiments/<exp>/<same name>/
      output             ->     the step's output folder (inference)

Paths handed to upstream stay the relative spellings webui uses, so version detection that
compares paths with upstream's own table keeps working.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sovits_core.errors import InvalidInput

from . import versions as v

BASE_DIR_FIELD = "paths.base_dir"  # SOVITS_PATHS__BASE_DIR
_OURS = ("logs", "TEMP", "output", "weight.json", *v.ALL_WEIGHT_DIRS)


@dataclass(frozen=True)
class RunTree:
    root: Path
    exp: str

    @property
    def temp(self) -> Path:
        return self.root / "TEMP"

    @property
    def exp_dir(self) -> Path:
        return self.root / "logs" / self.exp

    def rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()


def check_checkout(checkout: Path | None, *needed: str) -> Path:
    """The upstream checkout, or InvalidInput saying which setting or file is wrong."""
    if checkout is None:
        raise InvalidInput(
            f"{BASE_DIR_FIELD}: not set; point SOVITS_PATHS__BASE_DIR at the upstream GPT-SoVITS checkout",
            field=BASE_DIR_FIELD,
        )
    for rel in ("GPT_SoVITS", *needed):
        if not (checkout / rel).exists():
            raise InvalidInput(
                f"{BASE_DIR_FIELD}: {checkout} is not an upstream GPT-SoVITS checkout (no {rel})",
                field=BASE_DIR_FIELD,
            )
    return checkout.resolve()


def overlay(src: Path, dst: Path, replace: Mapping[str, Path], skip: tuple[str, ...] = ()) -> None:
    """Mirror ``src`` into ``dst`` with symlinks, descending only where ``replace`` swaps an entry."""
    dst.mkdir(parents=True, exist_ok=True)
    here = {rel.split("/", 1)[0]: rel for rel in replace}
    names = {p.name for p in src.iterdir()} if src.is_dir() else set()
    names |= set(here)
    for name in sorted(names):
        if name in skip:
            continue
        target = dst / name
        if name in replace:
            target.symlink_to(replace[name], target_is_directory=replace[name].is_dir())
        elif name in here:
            nested = {rel.split("/", 1)[1]: p for rel, p in replace.items() if rel.startswith(name + "/")}
            overlay(src / name, target, nested)
        else:
            target.symlink_to(src / name, target_is_directory=(src / name).is_dir())


def build(
    checkout: Path,
    root: Path,
    *,
    exp: str,
    version: str,
    experiments: Path,
    models: Path,
    output: Path | None = None,
) -> RunTree:
    """Lay out ``root`` over ``checkout``; ``experiments/<exp>`` becomes ``logs/<exp>``."""
    replace = {"GPT_SoVITS/pretrained_models": models}
    if (models / v.G2PW).is_dir():
        replace[v.G2PW_DIR] = models / v.G2PW
    models.mkdir(parents=True, exist_ok=True)
    overlay(checkout, root, replace, skip=_OURS)
    (root / "TEMP").mkdir()
    (experiments / exp).mkdir(parents=True, exist_ok=True)
    (root / "logs").symlink_to(experiments, target_is_directory=True)
    mine = {v.sovits_weight_dir(version), v.gpt_weight_dir(version)}
    for name in v.ALL_WEIGHT_DIRS:
        if name in mine:
            (experiments / exp / name).mkdir(exist_ok=True)
            (root / name).symlink_to(experiments / exp / name, target_is_directory=True)
        else:
            (root / name).mkdir()
    if output is not None:
        output.mkdir(parents=True, exist_ok=True)
        (root / "output").symlink_to(output, target_is_directory=True)
    return RunTree(root, exp)
