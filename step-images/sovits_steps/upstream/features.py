"""Steps 5-8: upstream's dataset preparation scripts, one shard per Indexed Job pod.

Each shard stages in only what its share of the .list needs, runs the script once with
``i_part``/``all_parts`` = the Job's completion index and shard count, and checks that every
item of its share produced its files: the scripts print a traceback per failed item and
still exit 0 (reference §0). Tables (steps 5 and 8) are merged by ``shards``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path

from sovits_core.contract import EXPERIMENTS
from sovits_core.errors import InvalidInput, Retryable
from sovits_core.params import ShardedParams
from sovits_steps.asr import CLIPS
from sovits_steps.context import StepContext, StepResult

from . import common, environment, listfile, process, shards
from . import versions as v
from .common import TaskFacts
from .listfile import Annotations
from .runtree import RunTree
from .shards import Table

log = logging.getLogger(__name__)

TEXT_SCRIPT = "GPT_SoVITS/prepare_datasets/1-get-text.py"
HUBERT_SCRIPT = "GPT_SoVITS/prepare_datasets/2-get-hubert-wav32k.py"
SV_SCRIPT = "GPT_SoVITS/prepare_datasets/2-get-sv.py"
SEMANTIC_SCRIPT = "GPT_SoVITS/prepare_datasets/3-get-semantic.py"

_FILTERED = re.compile(r"^(?P<name>.+)-filtered,(?P<peak>[-+0-9.eE]+)\s*$")


def item_in_line(line: str, names: set[str]) -> str | None:
    """The item a progress line of the prepare scripts is about, if any."""
    text = line.strip()
    words = text.split()
    candidates = [text, words[0] if words else "", text.removeprefix("nan filtered:")]
    if m := _FILTERED.match(text):
        candidates.append(m["name"])
    return next((c for c in candidates if c in names), None)


def filtered_items(lines: list[str]) -> dict[str, str]:
    """Items 2-get-hubert-wav32k skipped on purpose (peak above 2.2), with their peak."""
    return {m["name"]: m["peak"] for line in lines if (m := _FILTERED.match(line.strip()))}


class _Follower:
    """Counts the share's items as the script mentions them; keeps lines worth reporting."""

    def __init__(self, ctx: StepContext, names: list[str], what: str) -> None:
        self.ctx = ctx
        self.names = set(names)
        self.total = max(1, len(names))
        self.what = what
        self.seen: set[str] = set()
        self.filtered: list[str] = []

    def __call__(self, line: str) -> None:
        if _FILTERED.match(line.strip()):
            self.filtered.append(line)
        name = item_in_line(line, self.names)
        if name is not None and name not in self.seen:
            self.seen.add(name)
            self.ctx.progress.update(len(self.seen) / self.total, f"{self.what}: {len(self.seen)}/{self.total}")


def _run(tree_root: Path, script: str, env: dict[str, str], follower: _Follower) -> str:
    """Run a feature script; what to tell about items it skipped (it catches per-item errors)."""
    outcome = process.run(process.command(script), cwd=tree_root, env=env, on_line=follower)
    outcome.raise_if_out_of_memory(script)
    if outcome.returncode != 0:
        raise Retryable(f"upstream {Path(script).name} failed: {outcome.reason()}")
    error = outcome.exception()
    return f"upstream's last error: {error}" if error else "its traceback is in the log"


def _require(paths: dict[str, Path], what: str, hint: str) -> None:
    absent = [name for name, path in paths.items() if not (path.is_file() and path.stat().st_size > 0)]
    if absent:
        raise InvalidInput(common.missing_message(what, absent, hint), field=EXPERIMENTS)


Prepare = Callable[[StepContext, TaskFacts, Annotations, list[str], Path], dict[str, Path]]


def _per_item_owner(
    ctx: StepContext, ann: Annotations, exp: str, folders: dict[str, str], files: list[Path]
) -> Callable[[str], bool]:
    """Claim this shard's items in ``folders`` (folder -> file suffix) and, on shard 0, files of
    items no longer in the list, so a re-run leaves no stale features behind."""
    everyone = set(ann.names)
    mine = {ln.clip for ln in ann.share(ctx.shard_index, ctx.shard_count)}
    produced = common.rel_names(common.experiments(ctx), files)
    heads = {f"{exp}/{folder}/": suffix for folder, suffix in folders.items()}

    def owns(name: str) -> bool:
        if name in produced:
            return True
        for head, suffix in heads.items():
            if name.startswith(head):
                item = name[len(head) :].removesuffix(suffix)
                return item in mine or (ctx.shard_index == 0 and item not in everyone)
        return False

    return owns


def _setup(ctx: StepContext, script: str) -> tuple[TaskFacts, Annotations, list[str]]:
    params = ctx.params
    assert isinstance(params, ShardedParams)
    facts = common.task_facts(ctx, params.is_half, script)
    ann = listfile.load(ctx, facts.version)
    mine = [line.clip for line in ann.share(ctx.shard_index, ctx.shard_count)]
    return facts, ann, mine


def _env(
    ctx: StepContext, facts: TaskFacts, tree: RunTree, env: dict[str, str], inp: Path, wav_dir: str
) -> dict[str, str]:
    return environment.feature(
        env,
        tree,
        inp_text=str(inp),
        inp_wav_dir=wav_dir,
        index=ctx.shard_index,
        count=ctx.shard_count,
        device=facts.devices[0] if facts.devices else "",
    )


def _publish(ctx: StepContext, facts: TaskFacts, ann: Annotations, table: Table, part: Path) -> bool:
    """Publish this shard's part; merge if it completed the set. True if this shard merged."""
    digest = ann.digest(facts.version, str(ctx.shard_count))
    shards.publish(ctx.store, facts.exp, table, digest, ctx.shard_index, ctx.shard_count, part)
    merged = shards.merge_if_complete(ctx.store, facts.exp, table, digest)
    if merged is None:
        log.info("%s: part %d of %d published; another shard merges", table.merged, ctx.shard_index, ctx.shard_count)
        return False
    got = len(shards.rows(table, merged))
    if got != len(ann.lines):
        raise InvalidInput(
            f"{table.merged}: merged {got} rows for {len(ann.lines)} lines of {ann.source}", field=EXPERIMENTS
        )
    return True


def _table_step(ctx: StepContext, script: str, table: Table, what: str, prepare: Prepare) -> StepResult:
    """Steps 5 and 8: one part table per shard, plus per-item files ``prepare`` names."""
    facts, ann, mine = _setup(ctx, script)
    langs = {ln.language.lower() for ln in ann.share(ctx.shard_index, ctx.shard_count)}
    models = common.fetch_models(ctx, facts, langs)
    exp_dir = common.experiments(ctx) / facts.exp
    expected = prepare(ctx, facts, ann, mine, exp_dir)
    tree = common.build_tree(ctx, facts)
    inp = ann.write(ctx.work / "upstream-inputs" / "annotations.list")
    part = table.local_part(exp_dir, ctx.shard_index)
    part.unlink(missing_ok=True)  # an existing part makes upstream skip the whole shard (trap 5)
    env = _env(ctx, facts, tree, common.base_env(tree, facts, models), inp, "")
    if table is shards.SEMANTIC:
        info = v.info(facts.version)
        env["pretrained_s2G"] = v.pretrained(info.sovits_g)
        env["s2config_path"] = f"{v.CONFIGS}/{info.s2_template}"  # must match the checkpoint (§13)
    hint = "its traceback is in the log"
    if mine:
        ctx.progress.span(5, 80)
        hint = _run(tree.root, script, env, _Follower(ctx, mine, what))
    else:
        part.write_text("", encoding="utf-8")
    if not part.is_file():
        raise InvalidInput(
            f"upstream {Path(script).name} exited 0 but wrote no {part.name}; see the log", field=EXPERIMENTS
        )
    produced = shards.rows(table, part.read_text(encoding="utf-8"))
    absent = [name for name in mine if name not in set(produced)]
    if absent:
        raise InvalidInput(
            common.missing_message(f"upstream {Path(script).name} produced no row", absent, hint),
            field=EXPERIMENTS,
        )
    _require(expected, f"upstream {Path(script).name} wrote no feature file", hint)
    merged = _publish(ctx, facts, ann, table, part)
    part.unlink()
    note = common.manifest(
        ctx, facts, {"items": len(mine), "rows": len(produced), "merged": merged, "list": ann.source}
    )
    files = [*expected.values(), note]
    folders = {"3-bert": ".pt"} if table is shards.TEXT else {}
    owns = _per_item_owner(ctx, ann, facts.exp, folders, files)
    return StepResult(
        {EXPERIMENTS: files},
        owns=owns,
        summary=f"{len(produced)} {what} rows (shard {ctx.shard_index + 1}/{ctx.shard_count})",
    )


def _text_files(
    ctx: StepContext, facts: TaskFacts, ann: Annotations, mine: list[str], exp_dir: Path
) -> dict[str, Path]:
    # BERT features exist for Chinese lines only (reference §5).
    chinese = {ln.clip for ln in ann.lines if ln.language == "ZH"}
    return {name: exp_dir / "3-bert" / f"{name}.pt" for name in mine if name in chinese}


def _stage_features(folder: str, suffix: str, hint: str) -> Prepare:
    """Stage in ``<exp>/<folder>/<item><suffix>`` for the share; nothing new is expected."""

    def prepare(
        ctx: StepContext, facts: TaskFacts, ann: Annotations, mine: list[str], exp_dir: Path
    ) -> dict[str, Path]:
        wanted = {f"{facts.exp}/{folder}/{name}{suffix}" for name in mine}
        ctx.stage_in(EXPERIMENTS, select=lambda name: name in wanted)
        _require({name: exp_dir / folder / f"{name}{suffix}" for name in mine}, f"no {folder} input", hint)
        return {}

    return prepare


def extract_text_features(ctx: StepContext) -> StepResult:
    return _table_step(ctx, TEXT_SCRIPT, shards.TEXT, "text features", _text_files)


def extract_semantic_features(ctx: StepContext) -> StepResult:
    prepare = _stage_features("4-cnhubert", ".pt", "run extract_audio_features first")
    return _table_step(ctx, SEMANTIC_SCRIPT, shards.SEMANTIC, "semantic tokens", prepare)


def extract_audio_features(ctx: StepContext) -> StepResult:
    facts, ann, mine = _setup(ctx, HUBERT_SCRIPT)
    models = common.fetch_models(ctx, facts, ann.languages)
    wanted = set(mine)
    staged = ctx.stage_in(CLIPS, select=lambda name: name in wanted)
    _require({name: ctx.folder(CLIPS) / name for name in mine}, f"no audio in {CLIPS}/", "run denoise_audio first")
    exp_dir = common.experiments(ctx) / facts.exp
    hubert = {name: exp_dir / "4-cnhubert" / f"{name}.pt" for name in mine}
    wav32k = {name: exp_dir / "5-wav32k" / name for name in mine}
    tree = common.build_tree(ctx, facts)
    inp = ann.write(ctx.work / "upstream-inputs" / "annotations.list")
    env = _env(ctx, facts, tree, common.base_env(tree, facts, models), inp, str(ctx.folder(CLIPS)))
    follower = _Follower(ctx, mine, "audio features")
    hint = "its traceback is in the log"
    if mine:
        ctx.progress.span(5, 80)
        hint = _run(tree.root, HUBERT_SCRIPT, env, follower)
    skipped = filtered_items(follower.filtered)
    if skipped:
        names = [f"{name} (peak {peak})" for name, peak in skipped.items()]
        raise InvalidInput(common.missing_message("upstream skipped clips louder than 2.2 full scale", names,
                                                  "fix or drop them from the .list"), field=CLIPS)  # fmt: skip
    for written, folder in ((hubert, "4-cnhubert"), (wav32k, "5-wav32k")):
        _require(written, f"upstream 2-get-hubert-wav32k.py wrote no {folder} file", hint)
    note = common.manifest(ctx, facts, {"items": len(mine), "audio_inputs": len(staged), "list": ann.source})
    files = [*hubert.values(), *wav32k.values(), note]
    owns = _per_item_owner(ctx, ann, facts.exp, {"4-cnhubert": ".pt", "5-wav32k": ""}, files)
    return StepResult(
        {EXPERIMENTS: files}, owns=owns, summary=f"{len(mine)} clips (shard {ctx.shard_index + 1}/{ctx.shard_count})"
    )


def extract_speaker_vectors(ctx: StepContext) -> StepResult:
    params = ctx.params
    assert isinstance(params, ShardedParams)
    if ctx.spec is not None and not v.has_speaker_vectors(ctx.spec.model_version):
        # A recorded no-op: only v2Pro/v2ProPlus use speaker vectors (webui skips 2-get-sv.py too).
        facts = common.task_facts(ctx, params.is_half)
        reason = f"model version {facts.version} uses no speaker vectors; nothing to do"
        log.info("%s", reason)
        note = common.manifest(ctx, facts, {"skipped": reason})
        names = common.rel_names(common.experiments(ctx), [note])
        return StepResult({EXPERIMENTS: [note]}, owns=common.owner(names), summary=f"skipped: {reason}")
    facts, ann, mine = _setup(ctx, SV_SCRIPT)
    models = common.fetch_models(ctx, facts, ann.languages)
    exp_dir = common.experiments(ctx) / facts.exp
    _stage_features("5-wav32k", "", "run extract_audio_features first")(ctx, facts, ann, mine, exp_dir)
    expected = {name: exp_dir / "7-sv_cn" / f"{name}.pt" for name in mine}
    tree = common.build_tree(ctx, facts)
    inp = ann.write(ctx.work / "upstream-inputs" / "annotations.list")
    env = _env(ctx, facts, tree, common.base_env(tree, facts, models), inp, str(ctx.folder(CLIPS)))
    hint = "its traceback is in the log"
    if mine:
        ctx.progress.span(5, 80)
        hint = _run(tree.root, SV_SCRIPT, env, _Follower(ctx, mine, "speaker vectors"))
    _require(expected, "upstream 2-get-sv.py wrote no speaker vector", hint)
    note = common.manifest(ctx, facts, {"items": len(mine), "list": ann.source})
    files = [*expected.values(), note]
    owns = _per_item_owner(ctx, ann, facts.exp, {"7-sv_cn": ".pt"}, files)
    return StepResult(
        {EXPERIMENTS: files},
        owns=owns,
        summary=f"{len(mine)} speaker vectors (shard {ctx.shard_index + 1}/{ctx.shard_count})",
    )
