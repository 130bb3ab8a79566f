"""Merging the part tables of steps 5 and 8 the way webui does, across shards in the store."""

from __future__ import annotations

from pathlib import Path

import pytest

from sovits_core.errors import InvalidInput
from sovits_core.storage import LocalObjectStore, TaskFiles
from sovits_steps.upstream import shards
from sovits_steps.upstream.shards import SEMANTIC, TEXT


@pytest.fixture
def store(tmp_path: Path) -> TaskFiles:
    return TaskFiles(LocalObjectStore(tmp_path / "store"), "tasks/t/")


def test_rows_of_the_semantic_table_skip_its_header() -> None:
    assert shards.rows(SEMANTIC, "item_name\tsemantic_audio\na\t1 2\nb\t3\n") == ["a", "b"]


def test_the_shard_completing_the_set_merges_and_removes_every_part(store: TaskFiles, tmp_path: Path) -> None:
    part = tmp_path / "part"
    part.write_text("b\t2")
    shards.publish(store, "x", SEMANTIC, "d1", 1, 2, part)
    assert shards.merge_if_complete(store, "x", SEMANTIC, "d1") is None
    part.write_text("a\t1")
    shards.publish(store, "x", SEMANTIC, "d1", 0, 2, part)
    store.put_bytes("experiments/x/.parts/6-name2semantic/old/0-of-3.tsv", b"stale\t9")

    assert shards.merge_if_complete(store, "x", SEMANTIC, "d1") == "item_name\tsemantic_audio\na\t1\nb\t2\n"
    assert store.get_bytes("experiments/x/6-name2semantic.tsv").decode() == "item_name\tsemantic_audio\na\t1\nb\t2\n"
    assert store.list("experiments/x/.parts/") == []


def test_parts_of_other_inputs_never_complete_a_set(store: TaskFiles) -> None:
    store.put_bytes(shards.part_key("x", TEXT, "old", 0, 2), b"a\n")
    store.put_bytes(shards.part_key("x", TEXT, "new", 1, 2), b"b\n")
    assert shards.complete_sets(store, "x", TEXT) == {}


def test_a_consumer_merges_a_complete_set_when_the_table_is_missing(store: TaskFiles) -> None:
    store.put_bytes(shards.part_key("x", TEXT, "d", 0, 1), b"a\tp\tNone\tA\n")
    shards.ensure_merged(store, "x", TEXT)
    assert store.get_bytes("experiments/x/2-name2text.txt") == b"a\tp\tNone\tA\n"


def test_a_consumer_without_table_or_parts_names_the_producing_step(store: TaskFiles) -> None:
    with pytest.raises(InvalidInput, match="run extract_semantic_features first"):
        shards.ensure_merged(store, "x", SEMANTIC)
