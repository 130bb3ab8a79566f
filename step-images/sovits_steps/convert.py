"""convert_audio: every uploaded file ffmpeg can decode becomes mono PCM16 WAV at ``sample_rate``.

Upstream has no such step; its consumers each decode for themselves, and key items by
basename. We decode once, skip (and name in the log) whatever is not whole audio, and give
every output a unique ``<stem>.wav`` so later steps never confuse two uploads.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from sovits_core import contract
from sovits_core.errors import InvalidInput
from sovits_core.params import ConvertAudioParams

from .audio import DecodeError, decode_to_wav
from .context import StepContext, StepResult

log = logging.getLogger(__name__)

INPUT = contract.INPUT_AUDIO
OUTPUT = contract.CONVERTED_WAV
NOT_AUDIO = {".list", ".txt", ".json"}  # transcripts and notes uploaded beside the audio
_UNSAFE = re.compile(r"[|\x00-\x1f\x7f]")  # '|' separates .list columns


def output_names(names: list[str]) -> dict[str, str]:
    """A unique ``<stem>.wav`` per input name, stable for a given set of names.

    Inputs are taken in sorted order; a stem already taken gets ``-2``, ``-3``... so
    ``a.mp3`` and ``a.wav`` (or ``x/a.wav`` and ``y/a.wav``) stay two items.
    """
    taken: set[str] = set()
    out: dict[str, str] = {}
    for name in sorted(names):
        stem = _UNSAFE.sub("_", PurePosixPath(name).stem) or "audio"
        candidate, n = f"{stem}.wav", 1
        while candidate in taken:
            n += 1
            candidate = f"{stem}-{n}.wav"
        taken.add(candidate)
        out[name] = candidate
    return out


@dataclass
class Conversion:
    outputs: list[Path] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0


def convert_all(
    sources: dict[str, Path],
    out_dir: Path,
    sample_rate: int,
    *,
    workers: int | None = None,
    on_done: Callable[[int, int], None] | None = None,
) -> Conversion:
    """Decode ``sources`` (name -> local file) into ``out_dir``; undecodable ones are skipped."""
    names = output_names(list(sources))
    out_dir.mkdir(parents=True, exist_ok=True)
    result = Conversion()
    done = 0

    def one(name: str) -> tuple[str, Path | None, float | str]:
        dst = out_dir / names[name]
        try:
            return name, dst, decode_to_wav(sources[name], dst, sample_rate)
        except DecodeError as exc:
            dst.unlink(missing_ok=True)
            return name, None, str(exc)

    with ThreadPoolExecutor(workers or os.cpu_count() or 1) as pool:
        for name, dst, outcome in pool.map(one, sorted(sources)):
            done += 1
            if dst is None:
                log.warning("skipped %s/%s: %s", INPUT, name, outcome)
                result.skipped.append((name, str(outcome)))
            else:
                log.info("converted %s/%s -> %s (%.1fs)", INPUT, name, dst.name, outcome)
                result.outputs.append(dst)
                result.seconds += float(outcome)
            if on_done:
                on_done(done, len(sources))
    return result


def run(ctx: StepContext) -> StepResult:
    params = ctx.params
    assert isinstance(params, ConvertAudioParams)
    local = ctx.stage_in(INPUT, select=lambda name: PurePosixPath(name).suffix.lower() not in NOT_AUDIO)
    root = ctx.folder(INPUT)
    sources = {path.relative_to(root).as_posix(): path for path in local}
    if not sources:
        raise InvalidInput(f"{INPUT}: no files uploaded", field=INPUT)
    conversion = convert_all(
        sources,
        ctx.folder(OUTPUT),
        params.sample_rate,
        on_done=lambda n, total: ctx.progress.update(n / total, f"converted {n}/{total} files"),
    )
    if not conversion.outputs:
        reasons = "; ".join(f"{name}: {why}" for name, why in conversion.skipped)
        raise InvalidInput(f"{INPUT}: no usable audio ({reasons})", field=INPUT)
    skipped = f", skipped {len(conversion.skipped)}: " + ", ".join(n for n, _ in conversion.skipped)
    summary = f"converted {len(conversion.outputs)} files ({conversion.seconds:.0f}s of audio)"
    return StepResult({OUTPUT: conversion.outputs}, summary=summary + (skipped if conversion.skipped else ""))
