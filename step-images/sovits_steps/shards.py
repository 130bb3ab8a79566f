"""Sharding of the feature-extraction steps: which items a shard takes, and merging the parts.

An Indexed Job's completion index is upstream's ``i_part`` and the shard count its
``all_parts``. Upstream's scripts write one part file per shard; the merged files follow the
webui's rules, which the trainers depend on (the semantic table must start with its header).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from sovits_core.errors import InvalidInput

SEMANTIC_HEADER = "item_name\tsemantic_audio"

T = TypeVar("T")


def shard_items(items: Sequence[T], index: int, count: int) -> list[T]:
    """Upstream's split: item k goes to shard ``k % count`` (``lines[i_part::all_parts]``)."""
    if count < 1 or not 0 <= index < count:
        raise InvalidInput(f"shard index {index} is outside 0..{count - 1}", field="shards")
    return list(items[index::count])


def _lines(part: str) -> list[str]:
    stripped = part.strip("\n")
    return stripped.split("\n") if stripped else []


def merge_text_parts(parts: Sequence[str]) -> str:
    """``2-name2text.txt``: the parts' lines in shard order, ending with a newline."""
    lines = [line for part in parts for line in _lines(part)]
    if not lines:
        raise InvalidInput("text features: no shard produced an item", field="transcripts")
    return "\n".join(lines) + "\n"


def merge_semantic_parts(parts: Sequence[str]) -> str:
    """``6-name2semantic.tsv``: the header line, then the parts' lines in shard order, newline-ended.

    Upstream's parts have no header and no trailing newline; GPT training reads the merged
    file with a header row, so without it the first item would be lost.
    """
    lines = [line for part in parts for line in _lines(part)]
    if not lines:
        raise InvalidInput("semantic features: no shard produced an item", field="experiments")
    return "\n".join([SEMANTIC_HEADER, *lines]) + "\n"
