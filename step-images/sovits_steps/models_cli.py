"""``sovits models upload DIR`` and ``sovits models check``: the model store, from a shell.

``upload`` copies a folder laid out like upstream's ``GPT_SoVITS/pretrained_models/`` to the
store's models prefix, unchanged files skipped (same size); ``--to`` puts it under a
sub-folder (``--to G2PWModel`` for ``GPT_SoVITS/text/G2PWModel``). ``check`` lists, per step,
the models the step would miss for a model version and language, and exits 1 if a required
one is missing.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import TextIO, get_args

from sovits_core import settings as settings_mod
from sovits_core.errors import InvalidInput, SovitsError
from sovits_core.model import Language, ModelVersion
from sovits_core.storage import ObjectStore, check_key, open_store

from . import models
from .staging import run_all
from .upstream import pretrained

_SKIP_PARTS = {"__pycache__", ".git", ".cache"}

# The audio-preparation steps' models depend on their backend; shown for completeness.
AUDIO_PREP: dict[str, list[pretrained.Requirement]] = {
    "denoise_audio": [pretrained.Requirement(models.FRCRN, True, "backend frcrn only", optional=True)],
    "asr_transcribe": [
        pretrained.Requirement(models.FASTER_WHISPER.format(size="large-v3"), True,
                               "backend faster-whisper, model_size large-v3", optional=True),
        pretrained.Requirement(models.FUNASR_NANO, True, "backend funasr (zh/en/ja/ko)", optional=True),
        pretrained.Requirement(models.FUNASR_VAD, True, "backend funasr", optional=True),
        pretrained.Requirement(models.FUNASR_YUE, True, "backend funasr, language yue", optional=True),
    ],
}  # fmt: skip


def local_files(src: Path) -> list[Path]:
    """Files to upload under ``src``, in a stable order; caches and VCS folders left out."""
    if not src.is_dir():
        raise InvalidInput(f"DIR: {src} is not a folder", field="DIR")
    return sorted(p for p in src.rglob("*") if p.is_file() and not _SKIP_PARTS & set(p.relative_to(src).parts))


def upload(store: ObjectStore, prefix: str, src: Path, to: str = "", workers: int = 8) -> tuple[int, int]:
    """Upload ``src`` under ``prefix``/``to``; (uploaded, unchanged)."""
    base = prefix + (check_key(to.strip("/"), field="--to") + "/" if to.strip("/") else "")
    present = {info.key: info.size for info in store.iter_objects(base)}
    jobs = []
    unchanged = 0
    for path in local_files(src):
        key = base + check_key(path.relative_to(src).as_posix(), field="DIR")
        if present.get(key) == path.stat().st_size:
            unchanged += 1
            continue
        jobs.append(partial(store.put_file, key, path))
    run_all(jobs, workers)
    return len(jobs), unchanged


def report(
    store: ObjectStore, prefix: str, version: ModelVersion, language: str
) -> tuple[dict[str, list[pretrained.Requirement]], dict[str, list[pretrained.Requirement]]]:
    """Per step: (required models missing, optional models missing)."""
    present = {info.key[len(prefix) :] for info in store.iter_objects(prefix)}
    required: dict[str, list[pretrained.Requirement]] = {}
    optional: dict[str, list[pretrained.Requirement]] = {}
    steps: dict[str, list[pretrained.Requirement]] = {
        **AUDIO_PREP,
        **{s: pretrained.requirements(s, version, {language}) for s in pretrained.MODEL_STEPS},
    }
    for step, reqs in steps.items():
        gone = pretrained.missing(present, reqs)
        required[step] = [r for r in gone if not r.optional]
        optional[step] = [r for r in gone if r.optional]
    return required, optional


def print_report(
    out: TextIO,
    prefix: str,
    required: dict[str, list[pretrained.Requirement]],
    optional: dict[str, list[pretrained.Requirement]],
) -> None:
    for step in required:
        if not required[step] and not optional[step]:
            print(f"{step}: ok", file=out)
            continue
        print(f"{step}:", file=out)
        for req in required[step]:
            print(f"  missing  {prefix}{req.name}{'/' if req.folder else ''}  ({req.why})", file=out)
        for req in optional[step]:
            print(f"  optional {prefix}{req.name}{'/' if req.folder else ''}  ({req.why})", file=out)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="use the model store of `sovits local --data-dir DIR` (DIR/store) instead of the configured store",
    )
    sub = parser.add_subparsers(dest="models_command", required=True)
    up = sub.add_parser("upload", help="upload a folder laid out like GPT_SoVITS/pretrained_models/")
    up.add_argument("dir", type=Path)
    up.add_argument("--to", default="", help="sub-folder of the models prefix, e.g. G2PWModel")
    check = sub.add_parser("check", help="list the models each step would miss")
    check.add_argument("--version", dest="model_version", default="v2Pro", choices=get_args(ModelVersion))
    check.add_argument("--language", default="zh", choices=get_args(Language))


def main(args: argparse.Namespace) -> int:
    settings = settings_mod.load()
    if args.data_dir is not None:
        local = {"backend": "local", "local_root": args.data_dir.resolve() / "store"}
        settings = settings.model_copy(update={"storage": settings.storage.model_copy(update=local)})
    store = open_store(settings.storage)
    prefix = settings.storage.models_prefix
    try:
        if args.models_command == "upload":
            uploaded, unchanged = upload(store, prefix, args.dir, args.to)
            print(f"uploaded {uploaded} files to {prefix}{args.to.strip('/')}; {unchanged} unchanged")
            return 0
        required, optional = report(store, prefix, args.model_version, args.language)
    except SovitsError as exc:
        print(f"sovits models: {exc.message}", file=sys.stderr)
        return 2
    print_report(sys.stdout, prefix, required, optional)
    return 1 if any(required.values()) else 0


def run(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="sovits models")
    add_arguments(parser)
    return main(parser.parse_args(argv))
