"""Steps 9 and 10: upstream's SoVITS (s2) and GPT (s1) trainers.

Before starting, the step restores the version's checkpoint folder from the store, so
upstream resumes from its newest checkpoint (it does so by itself when the files are there).
While the trainer runs, checkpoints and exported weights are uploaded as they settle
(``mirror``), also when it then crashes. The final epoch is always exported: the save
interval is lowered to the largest divisor of the epoch count (``effective_save_every``).
Progress comes from what the trainers really print (``S2Progress``, ``S1Progress``), and so
do the loss curves recorded beside it (``losses``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path

from sovits_core.contract import EXPERIMENTS
from sovits_core.errors import InvalidInput, Retryable
from sovits_core.params import TrainGptParams, TrainSovitsParams
from sovits_steps.context import StepContext, StepResult

from . import common, configs, losses, process, runtree, shards
from . import versions as v
from .common import TaskFacts
from .mirror import Mirror
from .runtree import RunTree

log = logging.getLogger(__name__)

POLL_S = 5.0  # how often checkpoints are looked for while a trainer runs
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_S2_DONE = re.compile(r"====> Epoch: (\d+)")
_S2_PART = re.compile(r"Train Epoch: (\d+) \[(\d+)%\]")
_S2_START = re.compile(r"start training from epoch (\d+)")
_TQDM = re.compile(r"^\s*\d+%\|.*?\|\s*(\d+)/(\d+)\b")
# Lightning's rich bar, as it prints in a pipe (once per epoch): `Epoch 0/9 ━━━━ 99/99 0:01:40 • ...`
_S1_RICH = re.compile(r"Epoch (\d+)/\d+\D+?(\d+)/(\d+)")
# Lightning's tqdm bar, where rich is not installed: `Epoch 3:  45%|####5     | 45/99 [...]`
_S1_TQDM = re.compile(r"Epoch (\d+):\s+(\d+)%")


class S2Progress:
    """Share of an s2 run done, from what s2_train.py prints (1-based epochs).

    Its own lines come at the start (`start training from epoch N`), every `log_interval` steps
    (`Train Epoch: N [P%]`) and at each epoch's end (`====> Epoch: N`); between them the tqdm bar
    over the epoch's batches (`45%|...| 45/99`) says how far the current epoch is.
    """

    def __init__(self, epochs: int) -> None:
        self.epochs = epochs
        self.current = 1
        self.training = False  # tqdm bars before training starts are the dataset's, not an epoch's

    def __call__(self, line: str) -> float | None:
        line = _ANSI.sub("", line)
        if m := _S2_DONE.search(line):
            self.current = int(m[1]) + 1
            return int(m[1]) / self.epochs
        if m := _S2_PART.search(line):
            self.current = int(m[1])
            return (self.current - 1 + int(m[2]) / 100) / self.epochs
        if m := _S2_START.search(line):
            self.current = int(m[1])
            self.training = True
            return (self.current - 1) / self.epochs
        if self.training and (m := _TQDM.search(line)) and int(m[2]) > 0:
            return (self.current - 1 + int(m[1]) / int(m[2])) / self.epochs
        return None


class S1Progress:
    """Share of an s1 run done, from Lightning's progress bar (0-based epochs), rich or tqdm."""

    def __init__(self, epochs: int) -> None:
        self.epochs = epochs

    def __call__(self, line: str) -> float | None:
        line = _ANSI.sub("", line)
        if (m := _S1_RICH.search(line)) and int(m[3]) > 0:
            return (int(m[1]) + int(m[2]) / int(m[3])) / self.epochs
        if m := _S1_TQDM.search(line):
            return (int(m[1]) + int(m[2]) / 100) / self.epochs
        return None


def s2_exports(names: list[str], exp: str, epoch: int, lora_rank: str | None) -> list[str]:
    """Exported SoVITS weights of ``epoch`` among ``names`` (``<exp>_e<E>_s<S>[_l<r>].pth``)."""
    tail = rf"_l{re.escape(lora_rank)}" if lora_rank else ""
    pattern = re.compile(rf"^{re.escape(exp)}_e{epoch}_s\d+{tail}\.pth$")
    return [n for n in names if pattern.match(n)]


def s1_export(exp: str, epoch: int) -> str:
    return f"{exp}-e{epoch}.ckpt"


def _settings(
    facts: TaskFacts, epochs: int, batch: int | None, every: int, latest: bool, weights: bool
) -> configs.TrainSettings:
    save_every = configs.effective_save_every(epochs, every)
    if save_every != every:
        log.info("saving every %d epochs instead of %d so that epoch %d is exported", save_every, every, epochs)
    return configs.TrainSettings(
        exp=facts.exp,
        version=facts.version,
        epochs=epochs,
        save_every=save_every,
        batch_size=batch or facts.spec.batch_size,
        is_half=facts.is_half,
        devices=facts.devices,
        if_save_latest=latest,
        if_save_every_weights=weights,
    )


def _stage(ctx: StepContext, facts: TaskFacts, tables: tuple[shards.Table, ...], folders: tuple[str, ...]) -> None:
    for table in tables:
        shards.ensure_merged(ctx.store, facts.exp, table)
    names = {f"{facts.exp}/{t.merged}" for t in tables}
    heads = tuple(f"{facts.exp}/{folder}/" for folder in folders)
    ctx.progress.update(0.0, "staging inputs and checkpoints")
    ctx.stage_in(EXPERIMENTS, select=lambda name: name in names or name.startswith(heads))
    for table in tables:
        text = (common.experiments(ctx) / facts.exp / table.merged).read_text(encoding="utf-8")
        if not shards.rows(table, text):
            raise InvalidInput(
                f"{EXPERIMENTS}/{facts.exp}/{table.merged} has no rows; run {table.producer} again", field=EXPERIMENTS
            )


def _train(
    ctx: StepContext,
    facts: TaskFacts,
    tree: RunTree,
    env: dict[str, str],
    argv: list[str],
    *,
    watched: list[str],
    fraction: Callable[[str], float | None],
    points: Callable[[str], list[losses.Point]],
    epochs: int,
) -> list[Path]:
    """Run the trainer with ``watched`` (under the experiment) mirrored; the files it changed."""
    root = common.experiments(ctx)
    before = common.snapshot(root)
    mirror = Mirror(ctx.store, EXPERIMENTS, root, [f"{facts.exp}/{w}" for w in watched], ctx.staged)

    def on_line(line: str) -> None:
        done = fraction(line)
        if done is not None:
            ctx.progress.update(done, f"training: {min(done, 1.0) * epochs:.1f}/{epochs} epochs")
        for name, at, value in points(line):
            ctx.progress.metric(name, at, value)

    ctx.progress.span(5, 88)
    try:
        outcome = process.run(argv, cwd=tree.root, env=env, on_line=on_line, poll=mirror.sync, poll_interval_s=POLL_S)
    except BaseException:  # SIGTERM (preemption, cancel): keep what was saved for the retry
        try:
            mirror.sync(final=True)
        except Exception as exc:
            log.warning("could not upload the last checkpoints: %s", exc)
        raise
    mirror.sync(final=True)  # also after a crash, so the retry resumes from the last saved epoch
    outcome.raise_if_out_of_memory(argv[2])
    if outcome.returncode != 0:
        raise Retryable(f"upstream {Path(argv[2]).name} failed: {outcome.reason()}")
    return common.changed_since(root, before)


def _result(
    ctx: StepContext,
    facts: TaskFacts,
    changed: list[Path],
    mirrored: list[str],
    record: dict[str, object],
    summary: str,
) -> StepResult:
    root = common.experiments(ctx)
    # Checkpoint folders mirror deletions too (if_save_latest keeps only the newest).
    kept = [p for folder in mirrored for p in common.files_under(root / facts.exp / folder)]
    note = common.manifest(ctx, facts, record)
    files = sorted({*changed, *kept, note})
    heads = [f"{facts.exp}/{folder}/" for folder in mirrored]
    return StepResult({EXPERIMENTS: files}, owns=common.owner(common.rel_names(root, files), heads), summary=summary)


def train_sovits(ctx: StepContext) -> StepResult:
    params = ctx.params
    assert isinstance(params, TrainSovitsParams)
    facts = common.task_facts(ctx, params.is_half)
    script = v.s2_script(facts.version)
    runtree.check_checkout(facts.checkout, script)
    info = v.info(facts.version)
    epochs = params.epochs or facts.spec.epochs_s2
    s = _settings(facts, epochs, params.batch_size, params.save_every_epoch, params.if_save_latest,
                  params.if_save_every_weights)  # fmt: skip
    lora = params.lora_rank if info.lora else None
    ckpt_dir = v.s2_checkpoint_dir(facts.version, params.lora_rank)
    inputs = ["4-cnhubert", "5-wav32k"] + (["7-sv_cn"] if v.has_speaker_vectors(facts.version) else [])
    _stage(ctx, facts, (shards.TEXT,), (*inputs, ckpt_dir))
    _require_inputs(ctx, facts, inputs)
    models = common.fetch_models(ctx, facts, ())
    tree = common.build_tree(ctx, facts)
    (tree.exp_dir / ckpt_dir).mkdir(parents=True, exist_ok=True)  # the saver moves files into it (trap 7)
    template = configs.read_template(facts.checkout, info.s2_template)
    data = configs.s2_config(template, s, text_low_lr_rate=params.text_low_lr_rate, lora_rank=params.lora_rank,
                             grad_ckpt=params.grad_ckpt)  # fmt: skip
    config = configs.write_json(tree.temp / "tmp_s2.json", data)
    ctx.store.put_file("config_s2.json", config)
    weights = v.sovits_weight_dir(facts.version)
    argv = process.command(script, "--config", tree.rel(config))
    changed = _train(ctx, facts, tree, common.base_env(tree, facts, models), argv, watched=[ckpt_dir, weights],
                     fraction=S2Progress(epochs), points=losses.S2Losses(), epochs=epochs)  # fmt: skip
    local = sorted(p.name for p in (tree.exp_dir / weights).glob("*.pth"))
    final = s2_exports(local, facts.exp, epochs, lora) or s2_exports(
        _stored(ctx, facts, weights), facts.exp, epochs, lora
    )
    if params.if_save_every_weights and not final:
        raise InvalidInput(
            f"upstream {Path(script).name} exited 0 but exported no weights for epoch {epochs} to "
            f"{weights}/ (look for 'saving ckpt' in the log)",
            field=EXPERIMENTS,
        )
    if not any((tree.exp_dir / ckpt_dir).glob("G_*.pth")):
        raise InvalidInput(
            f"upstream {Path(script).name} exited 0 but saved no checkpoint in {ckpt_dir}/", field=EXPERIMENTS
        )
    record = {"epochs": epochs, "save_every_epoch": s.save_every, "batch_size": configs.halved(s.batch_size, s.is_half),
              "exported": final, "checkpoints": ckpt_dir}  # fmt: skip
    return _result(
        ctx,
        facts,
        changed,
        [ckpt_dir],
        record,
        f"SoVITS trained for {epochs} epochs: {', '.join(final) or 'no export asked'}",
    )


def train_gpt(ctx: StepContext) -> StepResult:
    params = ctx.params
    assert isinstance(params, TrainGptParams)
    script = "GPT_SoVITS/s1_train.py"
    facts = common.task_facts(ctx, params.is_half, script)
    info = v.info(facts.version)
    epochs = params.epochs or facts.spec.epochs_s1
    s = _settings(facts, epochs, params.batch_size, params.save_every_n_epoch, params.if_save_latest,
                  params.if_save_every_weights)  # fmt: skip
    ckpt_dir = f"{v.s1_output_dir(facts.version)}/ckpt"
    _stage(ctx, facts, (shards.TEXT, shards.SEMANTIC), ("3-bert", ckpt_dir))
    models = common.fetch_models(ctx, facts, ())
    tree = common.build_tree(ctx, facts)
    template = configs.read_template(facts.checkout, info.s1_template)
    config = configs.write_yaml(tree.temp / "tmp_s1.yaml", configs.s1_config(template, s, if_dpo=params.if_dpo))
    ctx.store.put_file("config_s1.yaml", config)
    env = common.base_env(tree, facts, models)
    env["_CUDA_VISIBLE_DEVICES"] = ",".join(facts.devices)  # s1 takes commas (trap 2)
    env["hz"] = "25hz"
    # Lightning draws its bar with rich, which in a pipe prints one line when training ends; as a
    # terminal without colours it redraws the bar (`\r`, erase-line) as batches go by.
    env.update(TTY_COMPATIBLE="1", TTY_INTERACTIVE="1", NO_COLOR="1", COLUMNS="160")
    # Resuming, Lightning loads its own checkpoint with torch's default, weights_only since torch
    # 2.6, which refuses the config objects s1 pickles in it. The checkpoint is the task's own.
    env["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] = "1"
    weights = v.gpt_weight_dir(facts.version)
    argv = process.command(script, "--config_file", tree.rel(config))
    changed = _train(ctx, facts, tree, env, argv, watched=[ckpt_dir, weights], fraction=S1Progress(epochs),
                     points=losses.s1_losses, epochs=epochs)  # fmt: skip
    final = s1_export(facts.exp, epochs)
    exported = (tree.exp_dir / weights / final).is_file() or final in _stored(ctx, facts, weights)
    if params.if_save_every_weights and not exported:
        raise InvalidInput(
            f"upstream s1_train.py exited 0 but exported no {weights}/{final}; see the log", field=EXPERIMENTS
        )
    if not any((tree.exp_dir / ckpt_dir).glob("*.ckpt")):
        raise InvalidInput(f"upstream s1_train.py exited 0 but saved no checkpoint in {ckpt_dir}/", field=EXPERIMENTS)
    record = {
        "epochs": epochs,
        "save_every_n_epoch": s.save_every,
        "batch_size": configs.halved(s.batch_size, s.is_half),
        "exported": [final] if exported else [],
        "checkpoints": ckpt_dir,
    }
    return _result(
        ctx,
        facts,
        changed,
        [ckpt_dir],
        record,
        f"GPT trained for {epochs} epochs: {final if exported else 'no export asked'}",
    )


def _stored(ctx: StepContext, facts: TaskFacts, folder: str) -> list[str]:
    """Exports already in the store: a run resumed past its last epoch exports nothing new."""
    prefix = f"{EXPERIMENTS}/{facts.exp}/{folder}/"
    return [info.key[len(prefix) :] for info in ctx.store.iter_objects(prefix)]


def _require_inputs(ctx: StepContext, facts: TaskFacts, folders: list[str]) -> None:
    """s2 keeps items present in every input; name what is missing instead of its bare assert."""
    exp_dir = common.experiments(ctx) / facts.exp
    names = shards.rows(shards.TEXT, (exp_dir / shards.TEXT.merged).read_text(encoding="utf-8"))
    for folder in folders:
        suffix = "" if folder == "5-wav32k" else ".pt"
        absent = [n for n in names if not (exp_dir / folder / f"{n}{suffix}").is_file()]
        if absent:
            producer = "extract_speaker_vectors" if folder == "7-sv_cn" else "extract_audio_features"
            raise InvalidInput(common.missing_message(f"no {folder} input", absent, f"run {producer} first"),
                               field=EXPERIMENTS)  # fmt: skip
