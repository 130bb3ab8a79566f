"""What a step module gets from the runner, and what it hands back.

A step module exposes ``run(ctx: StepContext) -> StepResult``. It pulls the inputs it needs
with ``ctx.stage_in`` (so a shard downloads only its share), writes into
``ctx.folder(<output>)``, reports with ``ctx.progress.update``, and returns the files it
produced per output folder. The runner verifies and uploads them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sovits_core.catalog import StepName
from sovits_core.model import TrainingTaskSpec
from sovits_core.params import StepParams
from sovits_core.settings import Settings
from sovits_core.storage import TaskFiles

from .models import ModelStore
from .progress import Progress
from .staging import Stamp, stage_in


@dataclass
class StepResult:
    # Output folder -> files written under ctx.folder(folder).
    outputs: dict[str, list[Path]]
    # Which existing names in the output folders this run replaces (stale ones are deleted);
    # None replaces the whole folder. A shard claims only the names its inputs produce.
    owns: Callable[[str], bool] | None = None
    summary: str = ""
    # What the operator records in the task's status (one small JSON object; see contract.RESULT_MARK).
    record: dict[str, Any] | None = None


@dataclass
class StepContext:
    step: StepName
    task_id: str
    params: StepParams
    spec: TrainingTaskSpec | None
    shard_index: int
    shard_count: int
    work: Path
    store: TaskFiles
    models: ModelStore
    progress: Progress
    staged: dict[Path, Stamp] = field(default_factory=dict)
    # The process's settings (the model steps read paths.base_dir, the upstream checkout).
    settings: Settings | None = None

    def folder(self, name: str) -> Path:
        path = self.work / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def stage_in(self, folder: str, select: Callable[[str], bool] | None = None) -> list[Path]:
        """Download the task's ``folder`` (names ``select`` keeps) and return the local files, sorted."""
        got = stage_in(self.store, folder, self.folder(folder), select)
        self.staged.update(got)
        return sorted(got)

    def my_share(self, names: list[str]) -> list[str]:
        """Round-robin over sorted names, as upstream's ``[i_part::all_parts]``."""
        return sorted(names)[self.shard_index :: self.shard_count]
