"""convert_audio: every uploaded file ffmpeg can decode becomes mono PCM16 WAV at ``sample_rate``.

Upstream has no such step; its consumers each decode for themselves, and key items by
basename. We decode once, skip (and name in the log) whatever is not whole audio, and give
every output a unique ``<stem>.wav`` so later steps never confuse two uploads.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import NamedTuple

from sovits_core import contract
from sovits_core.errors import InvalidInput
from sovits_core.params import ConvertAudioParams

from .audio import DecodeError, decode_to_wav
from .context import StepContext, StepResult
from .parallel import Mapped, map_items

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


class Converted(NamedTuple):
    path: Path
    seconds: float


def convert_all(
    sources: dict[str, Path],
    out_dir: Path,
    sample_rate: int,
    *,
    workers: int | None = None,
    on_done: Callable[[int, int], None] | None = None,
) -> Mapped[str, Converted]:
    """Decode ``sources`` (name -> local file) into ``out_dir``: an output per input name, and
    the inputs that are not whole audio, with the reason."""
    names = output_names(list(sources))
    out_dir.mkdir(parents=True, exist_ok=True)

    def one(name: str) -> Converted:
        dst = out_dir / names[name]
        try:
            seconds = decode_to_wav(sources[name], dst, sample_rate)
        except DecodeError:
            dst.unlink(missing_ok=True)
            raise
        log.info("converted %s/%s -> %s (%.1fs)", INPUT, name, dst.name, seconds)
        return Converted(dst, seconds)

    return map_items(one, sorted(sources), name=str, bad=(DecodeError,), folder=INPUT, workers=workers, on_done=on_done)


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
    if not conversion.kept:
        raise InvalidInput(f"{INPUT}: no usable audio ({conversion.reasons()})", field=INPUT)
    seconds = sum(c.seconds for c in conversion.results)
    summary = f"converted {len(conversion.kept)} files ({seconds:.0f}s of audio)"
    return StepResult({OUTPUT: [c.path for c in conversion.results]}, summary=summary + conversion.note())
