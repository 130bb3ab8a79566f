"""``sovits step NAME --task ID``: the step images' entrypoint.

Reads settings and the step contract from the environment, runs the step module in a
scratch directory, verifies and stages out its outputs, keeps ``progress/{step}.json``
fresh, and uploads the step's log at the end whatever happened (logs outlive pods).

Exit codes (contract.py): 0 done; EXIT_BAD_INPUT when the same input will fail again
(InvalidInput); EXIT_OUT_OF_MEMORY when CUDA ran out of memory (OutOfMemory: the operator
runs it again with half the batch size); EXIT_RETRYABLE for everything else (an unreachable store, SIGTERM, a bug),
bounded by the operator's attempt limit. The reason goes, as one line, to the
termination-message file Kubernetes shows in the pod status.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from pydantic import ValidationError

from sovits_core import contract as c
from sovits_core import settings as settings_mod
from sovits_core.catalog import step as step_def
from sovits_core.errors import InvalidInput, OutOfMemory, Retryable, SovitsError, Terminated
from sovits_core.model import TrainingTaskSpec
from sovits_core.storage import TaskFiles, check_key, open_store
from sovits_steps.upstream.pretrained import MODEL_STEPS

from .context import StepContext, StepResult
from .models import ModelStore
from .progress import Progress
from .staging import stage_out

log = logging.getLogger("sovits_steps.runner")

# The steps this image runs, imported only when asked for.
STEP_MODULES: dict[str, str] = {
    "convert_audio": "sovits_steps.convert",
    "slice_audio": "sovits_steps.slicer",
    "denoise_audio": "sovits_steps.denoise",
    "asr_transcribe": "sovits_steps.asr",
    **{name: "sovits_steps.upstream.steps" for name in MODEL_STEPS},
}
PROGRESS_INTERVAL_S = 5.0
MAX_REASON = 1024  # Kubernetes keeps at most 4096 bytes of a termination message


def outcome(exc: BaseException) -> tuple[int, str]:
    """The exit code and one-line reason for a failure."""
    if isinstance(exc, InvalidInput):
        return c.EXIT_BAD_INPUT, f"bad input: {exc.message}"
    if isinstance(exc, OutOfMemory):
        return c.EXIT_OUT_OF_MEMORY, f"out of memory: {exc.message}"
    if isinstance(exc, SovitsError):
        return c.EXIT_RETRYABLE, f"{exc.code}: {exc.message}"
    return c.EXIT_RETRYABLE, f"internal error: {type(exc).__name__}: {exc}"


def one_line(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= MAX_REASON else flat[: MAX_REASON - 3] + "..."


def write_termination_message(env: Mapping[str, str], reason: str) -> None:
    path = env.get(c.ENV_TERMINATION_LOG, c.DEFAULT_TERMINATION_LOG)
    with contextlib.suppress(OSError):  # not in a pod, or not writable: the log has it anyway
        Path(path).write_text(one_line(reason) + "\n", encoding="utf-8")


def shard_of(env: Mapping[str, str]) -> tuple[int, int]:
    try:
        index = int(env.get(c.ENV_SHARD_INDEX, "0"))
        count = int(env.get(c.ENV_SHARD_COUNT, "1"))
    except ValueError:
        raise InvalidInput(f"{c.ENV_SHARD_INDEX}/{c.ENV_SHARD_COUNT} must be integers", field="shard") from None
    if not 0 <= index < count:
        raise InvalidInput(f"shard index {index} is outside 0..{count - 1}", field="shard")
    return index, count


def _json_env(env: Mapping[str, str], name: str) -> Any:
    raw = env.get(name)
    if not raw:
        return None
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{name}: not JSON ({exc.msg})", field=name) from None


def parse_spec(env: Mapping[str, str]) -> TrainingTaskSpec | None:
    raw = _json_env(env, c.ENV_SPEC)
    if raw is None:
        return None
    try:
        return TrainingTaskSpec.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "spec"
        raise InvalidInput(f"{c.ENV_SPEC}.{where}: {first['msg']}", field=where) from None


def keys_for(step: str, index: int, count: int) -> tuple[str, list[str]]:
    """The log key and the progress keys one shard writes."""
    if count == 1:
        return c.LOG_KEY.format(step=step), [c.PROGRESS_KEY.format(step=step)]
    progress = [c.SHARD_PROGRESS_KEY.format(step=step, shard=index)]
    if index == 0:
        progress.append(c.PROGRESS_KEY.format(step=step))
    return c.SHARD_LOG_KEY.format(step=step, shard=index), progress


def open_task(name: str, task_id: str, env: Mapping[str, str]) -> tuple[settings_mod.Settings, TaskFiles]:
    """Settings and the task's store: what the runner needs to report even a bad request."""
    step_def(name)
    check_key(task_id, field="task")
    if "/" in task_id:
        raise InvalidInput(f"task: {task_id!r} must not contain '/'", field="task")
    if env.get(c.ENV_TASK_ID, task_id) != task_id:
        raise InvalidInput(f"--task {task_id} differs from {c.ENV_TASK_ID}={env[c.ENV_TASK_ID]}", field="task")
    try:
        settings = settings_mod.load()
    except (ValidationError, ValueError) as exc:
        raise InvalidInput(f"settings: {one_line(str(exc))}", field="settings") from None
    prefix = env.get(c.ENV_PREFIX) or f"{settings.storage.tasks_prefix}{task_id}/"
    return settings, TaskFiles(open_store(settings.storage), prefix)


def build_context(
    name: str, task_id: str, env: Mapping[str, str], work: Path, settings: settings_mod.Settings, store: TaskFiles
) -> StepContext:
    definition = step_def(name)
    raw_params = _json_env(env, c.ENV_PARAMS) or {}
    if not isinstance(raw_params, dict):
        raise InvalidInput(f"{c.ENV_PARAMS}: expected a JSON object", field="params")
    params = definition.parse_params(raw_params)
    spec = parse_spec(env)
    index, count = shard_of(env)
    _, progress_keys = keys_for(name, index, count)

    def write_progress(body: bytes) -> None:
        for key in progress_keys:
            store.put_bytes(key, body)

    return StepContext(
        step=definition.name,
        task_id=task_id,
        params=params,
        spec=spec,
        shard_index=index,
        shard_count=count,
        work=work,
        store=store,
        models=ModelStore(store.store, settings.storage.models_prefix, work / "models"),
        progress=Progress(name, write_progress, float(env.get(c.ENV_PROGRESS_INTERVAL) or PROGRESS_INTERVAL_S)),
        settings=settings,
    )


def execute(ctx: StepContext) -> tuple[str, str]:
    """Run the step module, verify what it produced, stage it out; the summary line, and the
    termination message (the summary and the step's result for the status)."""
    if ctx.step not in STEP_MODULES:
        raise InvalidInput(f"step {ctx.step} is not provided by this image", field="step")
    module = importlib.import_module(STEP_MODULES[ctx.step])
    ctx.progress.start()
    ctx.progress.span(0, 90)
    result: StepResult = module.run(ctx)
    verify(ctx, result)
    ctx.progress.span(90, 100)
    ctx.progress.update(0.0, "uploading outputs")
    for folder, files in result.outputs.items():
        stage_out(ctx.store, folder, ctx.folder(folder), files, staged=ctx.staged, owns=result.owns)
    summary = result.summary or "done"
    if result.record is None:
        return summary, summary
    return summary, summary + c.RESULT_MARK + json.dumps(result.record, separators=(",", ":"), ensure_ascii=False)


def verify(ctx: StepContext, result: StepResult) -> None:
    """Upstream-style steps exit 0 on failure; trust files, not the absence of an exception."""
    declared = set(step_def(ctx.step).outputs)
    for folder, files in result.outputs.items():
        if folder not in declared:
            raise Retryable(f"{ctx.step} wrote to {folder}/, which is not one of its outputs")
        root = ctx.folder(folder)
        for path in files:
            if not path.is_relative_to(root) or not path.is_file() or path.stat().st_size == 0:
                raise Retryable(f"{ctx.step} output {path.name} is missing or empty")
    if ctx.shard_count == 1 and not any(result.outputs.values()):
        raise Retryable(f"{ctx.step} produced no outputs")


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise Terminated("stopped by SIGTERM (evicted, preempted or cancelled)")


def run_step(name: str, task_id: str, env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    work = Path(tempfile.mkdtemp(prefix="sovits-step-"))
    handler = logging.FileHandler(work / "step.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    previous_level = root.level
    root.setLevel(logging.INFO)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_sigterm)
    store: TaskFiles | None = None
    ctx: StepContext | None = None
    code, reason = c.EXIT_RETRYABLE, "aborted"
    message: str | None = None
    try:
        log.info("step %s of task %s starting", name, task_id)
        settings, store = open_task(name, task_id, env)
        ctx = build_context(name, task_id, env, work, settings, store)
        reason, message = execute(ctx)
        code = c.EXIT_OK
        log.info("step %s done: %s", name, reason)
    except (Exception, KeyboardInterrupt) as exc:
        code, reason = outcome(exc)
        log.error("step %s failed: %s", name, reason, exc_info=not isinstance(exc, InvalidInput))
    finally:
        if ctx is not None:
            ctx.progress.close(
                reason if code == c.EXIT_OK else f"failed: {reason}", 100.0 if code == c.EXIT_OK else None
            )
        if store is not None:
            index, count = (ctx.shard_index, ctx.shard_count) if ctx else (0, 1)
            _upload_log(store, keys_for(name, index, count)[0], handler)
        root.removeHandler(handler)
        handler.close()
        root.setLevel(previous_level)
        shutil.rmtree(work, ignore_errors=True)
    write_termination_message(env, message or reason)
    return code


def _upload_log(store: TaskFiles, key: str, handler: logging.FileHandler) -> None:
    """Best effort: a store that is down must not replace the step's own outcome."""
    handler.flush()
    try:
        store.put_file(key, Path(handler.baseFilename))
    except Exception as exc:
        print(f"sovits step: could not upload {key}: {exc}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sovits step")
    parser.add_argument("name")
    parser.add_argument("--task", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    return run_step(args.name, args.task)
