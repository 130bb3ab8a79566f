"""The ``.list`` the model steps read, as upstream will see it.

Every shard loads the same list, validates it (the rules of ``transcripts.parse_list``, plus
v1's narrower language set), and writes it back in canonical form for upstream's
``inp_text``. Upstream shards by ``lines[i_part::all_parts]`` of that file, so computing the
share from the same lines tells each shard exactly which items it must produce.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from sovits_core import dataset
from sovits_core.contract import DATASET_AUDIO_KEY, DATASET_EXCLUDED_KEY, TRANSCRIPTS
from sovits_core.errors import InvalidInput
from sovits_core.params import ExtractTextFeaturesParams
from sovits_core.transcripts import Line, format_list, parse_list
from sovits_steps.asr import CLIPS, LIST_NAME
from sovits_steps.context import StepContext
from sovits_steps.shards import shard_items

log = logging.getLogger(__name__)

_V1_LANGUAGES = {"ZH", "JA", "EN"}


@dataclass(frozen=True)
class Annotations:
    lines: list[Line]
    source: str
    text: str  # canonical rendering handed to upstream

    @property
    def names(self) -> list[str]:
        return [line.clip for line in self.lines]

    @property
    def languages(self) -> set[str]:
        return {line.language.lower() for line in self.lines}

    def share(self, index: int, count: int) -> list[Line]:
        return shard_items(self.lines, index, count)

    def digest(self, *salt: str) -> str:
        """Identifies the inputs of a sharded run, so parts of different inputs never mix."""
        h = hashlib.sha256(self.text.encode("utf-8"))
        for part in salt:
            h.update(b"\0" + part.encode("utf-8"))
        return h.hexdigest()[:16]

    def write(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.text, encoding="utf-8")
        return path


def parse(data: bytes, source: str, clips: set[str], version: str, excluded: Collection[str] = ()) -> Annotations:
    """The lines upstream gets: all but ``excluded``; an empty line left in is refused (BERT
    would get nothing to read)."""
    lines = [line for line in parse_list(data, source, clips, allow_empty=True) if line.clip not in excluded]
    empty = [line.clip for line in lines if not line.text]
    if empty:
        raise InvalidInput(
            f"{source}: no text for {', '.join(empty[:5])}{' ...' if len(empty) > 5 else ''}; give them text in "
            "proofreading, drop them, or keep empty_text in extract_text_features' exclude_flags",
            field=source,
        )
    if not lines:
        raise InvalidInput(f"{source}: every line is excluded by the dataset report's flags", field=source)
    if version == "v1":
        bad = sorted({ln.language for ln in lines} - _V1_LANGUAGES)
        if bad:
            raise InvalidInput(
                f"{source}: model version v1 trains only zh, ja and en text, the list has {', '.join(bad)}",
                field=source,
            )
    return Annotations(lines, source, format_list(lines, CLIPS) + "\n")


def list_key(ctx: StepContext) -> str:
    """``transcripts/denoised.list`` (asr_transcribe's output), or the one .list found there."""
    found = sorted(info.key for info in ctx.store.iter_objects(f"{TRANSCRIPTS}/") if info.key.endswith(".list"))
    preferred = f"{TRANSCRIPTS}/{LIST_NAME}"
    if preferred in found:
        return preferred
    if len(found) == 1:
        return found[0]
    if not found:
        raise InvalidInput(f"{TRANSCRIPTS}: no .list; run asr_transcribe first", field=TRANSCRIPTS)
    raise InvalidInput(f"{TRANSCRIPTS}: several .list files and no {LIST_NAME}: {', '.join(found)}", field=TRANSCRIPTS)


def clip_names(ctx: StepContext) -> set[str]:
    return {PurePosixPath(info.key).name for info in ctx.store.iter_objects(f"{CLIPS}/")}


def load(ctx: StepContext, version: str) -> Annotations:
    key = list_key(ctx)
    data = ctx.store.get_bytes(key)
    clips = clip_names(ctx)
    return parse(data, key, clips, version, excluded(ctx, parse_list(data, key, clips, allow_empty=True)))


def excluded(ctx: StepContext, lines: list[Line]) -> set[str]:
    """The clips training leaves out. extract_text_features decides it from the dataset report and
    its ``exclude_flags`` and records it (shard 0 writes; every shard computes the same); the later
    steps read that record, so all of them train on the same clips."""
    params = ctx.params
    if isinstance(params, ExtractTextFeaturesParams):
        audio = (
            json.loads(ctx.store.get_bytes(DATASET_AUDIO_KEY))["clips"] if ctx.store.exists(DATASET_AUDIO_KEY) else []
        )
        clips = dataset.exclusions(audio, lines, params.exclude_flags)
        if ctx.shard_index == 0:
            record = {"exclude_flags": params.exclude_flags, "clips": clips, "at": datetime.now(UTC).isoformat()}
            ctx.store.put_bytes(DATASET_EXCLUDED_KEY, json.dumps(record).encode("utf-8"))
        if clips:
            log.info("left out by exclude_flags: %s", ", ".join(f"{c} ({'/'.join(f)})" for c, f in clips.items()))
        return set(clips)
    if ctx.store.exists(DATASET_EXCLUDED_KEY):
        return set(json.loads(ctx.store.get_bytes(DATASET_EXCLUDED_KEY))["clips"])
    return set()
