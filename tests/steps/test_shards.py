"""Shards: upstream's round-robin split, and the webui's merge rules for the part files."""

from __future__ import annotations

import pytest

from sovits_core.errors import InvalidInput
from sovits_steps.shards import SEMANTIC_HEADER, merge_semantic_parts, merge_text_parts, shard_items


def test_items_are_dealt_round_robin_like_upstreams_i_part_all_parts() -> None:
    items = [f"a{i}.wav" for i in range(7)]

    shards = [shard_items(items, i, 3) for i in range(3)]

    assert shards[0] == ["a0.wav", "a3.wav", "a6.wav"]
    assert sorted(x for s in shards for x in s) == items


def test_a_shard_index_outside_the_count_is_refused() -> None:
    with pytest.raises(InvalidInput, match="shard index 3"):
        shard_items(["x"], 3, 3)


def test_the_semantic_table_starts_with_its_header_then_the_parts_in_order() -> None:
    parts = ["a.wav\t1 2 3\nb.wav\t4 5", "c.wav\t6 7"]  # upstream parts: no header, no final newline

    merged = merge_semantic_parts(parts)

    assert merged == f"{SEMANTIC_HEADER}\na.wav\t1 2 3\nb.wav\t4 5\nc.wav\t6 7\n"
    assert SEMANTIC_HEADER == "item_name\tsemantic_audio"


def test_the_text_table_is_the_parts_concatenated_with_a_trailing_newline() -> None:
    parts = ["a.wav\tn i2\t[2]\t你\n", "\n", "b.wav\th ao3\t[2]\t好\n\n"]

    assert merge_text_parts(parts) == "a.wav\tn i2\t[2]\t你\nb.wav\th ao3\t[2]\t好\n"


@pytest.mark.parametrize("merge", [merge_text_parts, merge_semantic_parts])
def test_parts_without_any_item_are_an_error_not_an_empty_table(merge: object) -> None:
    with pytest.raises(InvalidInput, match="no shard produced an item"):
        merge(["", "\n"])  # type: ignore[operator]
