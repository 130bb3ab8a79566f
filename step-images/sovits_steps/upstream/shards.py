"""Per-shard part tables of steps 5 and 8, and their merge.

Each shard of an Indexed Job runs upstream once and gets ``2-name2text-<i>.txt`` or
``6-name2semantic-<i>.tsv``. It publishes that part under

    experiments/<exp>/.parts/<table>/<digest>/<i>-of-<n><ext>

where ``digest`` identifies the inputs (the canonical .list, the version, n), so parts
computed from different inputs never merge. After publishing, a shard lists its digest's
parts: the shard that sees all n merges them (webui's rules: text parts concatenated; the
semantic table gets the header ``item_name\\tsemantic_audio``), writes the merged table, and
then deletes every part. The last shard to publish always sees all n parts; two shards
finishing together may both merge the same bytes, which is harmless. A consumer that finds
no merged table but a complete part set (a shard that died between publishing and merging)
merges it itself (``ensure_merged``).
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sovits_core import contract
from sovits_core.errors import InvalidInput, NotFound
from sovits_core.storage import TaskFiles
from sovits_steps.shards import SEMANTIC_HEADER, merge_semantic_parts, merge_text_parts

log = logging.getLogger(__name__)

EXPERIMENTS = contract.EXPERIMENTS


@dataclass(frozen=True)
class Table:
    stem: str
    ext: str
    header: str | None
    producer: str
    merge: Callable[[Sequence[str]], str]  # webui's rules, in sovits_steps.shards

    @property
    def merged(self) -> str:
        return self.stem + self.ext

    def local_part(self, exp_dir: Path, index: int) -> Path:
        """Where upstream writes shard ``index``'s part (an existing one makes it do nothing)."""
        return exp_dir / f"{self.stem}-{index}{self.ext}"


TEXT = Table("2-name2text", ".txt", None, "extract_text_features", merge_text_parts)
SEMANTIC = Table("6-name2semantic", ".tsv", SEMANTIC_HEADER, "extract_semantic_features", merge_semantic_parts)

_PART = re.compile(r"^(?P<index>\d+)-of-(?P<count>\d+)")


def rows(table: Table, text: str) -> list[str]:
    """The item names of a table's rows (the header skipped)."""
    lines = [ln for ln in text.split("\n") if ln.strip()]
    if table.header and lines and lines[0] == table.header:
        lines = lines[1:]
    return [ln.split("\t", 1)[0] for ln in lines]


def parts_prefix(exp: str, table: Table) -> str:
    return f"{EXPERIMENTS}/{exp}/.parts/{table.stem}/"


def part_key(exp: str, table: Table, digest: str, index: int, count: int) -> str:
    return f"{parts_prefix(exp, table)}{digest}/{index}-of-{count}{table.ext}"


def merged_key(exp: str, table: Table) -> str:
    return f"{EXPERIMENTS}/{exp}/{table.merged}"


def complete_sets(store: TaskFiles, exp: str, table: Table) -> dict[str, list[str]]:
    """digest -> part keys in index order, for every digest whose n parts are all present;
    the most recently published set first."""
    prefix = parts_prefix(exp, table)
    found: dict[str, dict[int, str]] = defaultdict(dict)
    counts: dict[str, int] = {}
    latest: dict[str, float] = defaultdict(float)
    for info in store.iter_objects(prefix):
        digest, _, name = info.key[len(prefix) :].partition("/")
        m = _PART.match(name)
        if not m:
            continue
        found[digest][int(m["index"])] = info.key
        counts[digest] = int(m["count"])
        latest[digest] = max(latest[digest], info.last_modified.timestamp())
    complete = [d for d, parts in found.items() if set(parts) == set(range(counts[d]))]
    complete.sort(key=lambda d: latest[d], reverse=True)
    return {d: [found[d][i] for i in range(counts[d])] for d in complete}


def publish(store: TaskFiles, exp: str, table: Table, digest: str, index: int, count: int, path: Path) -> None:
    store.put_file(part_key(exp, table, digest, index, count), path)


def merge_if_complete(store: TaskFiles, exp: str, table: Table, digest: str) -> str | None:
    """Merge ``digest``'s parts if all are published; the merged text, or None if not (yet)."""
    keys = complete_sets(store, exp, table).get(digest)
    if keys is None:
        return None
    return _merge_keys(store, exp, table, keys)


def _merge_keys(store: TaskFiles, exp: str, table: Table, keys: list[str]) -> str | None:
    try:
        parts = [store.get_bytes(key).decode("utf-8") for key in keys]
    except NotFound:
        return None  # another shard merged and cleaned up first
    text = table.merge(parts)
    store.put_bytes(merged_key(exp, table), text.encode("utf-8"))
    removed = store.delete_prefix(parts_prefix(exp, table))
    log.info("merged %d parts into %s (%d rows); removed %d part files",
             len(keys), table.merged, len(rows(table, text)), removed)  # fmt: skip
    return text


def ensure_merged(store: TaskFiles, exp: str, table: Table) -> None:
    """Before a consumer stages ``table`` in: merge a complete part set if the table is missing."""
    if store.exists(merged_key(exp, table)):
        return
    for keys in complete_sets(store, exp, table).values():
        if _merge_keys(store, exp, table, keys) is not None:
            return
    raise InvalidInput(
        f"{merged_key(exp, table)} is missing; run {table.producer} first", field=f"{EXPERIMENTS}/{table.merged}"
    )
