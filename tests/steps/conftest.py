"""A task on the local store backend, and a way to run a step on it in this process."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sovits_core import contract as c
from sovits_core.storage import LocalObjectStore, TaskFiles
from sovits_steps.runner import run_step

TASK_ID = "t-0001"


@dataclass
class LocalTask:
    store: TaskFiles
    termination: Path
    scratch: Path

    def put(self, rel: str, data: bytes | Path) -> None:
        if isinstance(data, Path):
            self.store.put_file(rel, data)
        else:
            self.store.put_bytes(rel, data)

    def names(self, folder: str) -> list[str]:
        return [info.key[len(folder) + 1 :] for info in self.store.iter_objects(f"{folder}/")]

    def fetch(self, rel: str) -> Path:
        dest = self.scratch / rel
        self.store.download_file(rel, dest)
        return dest

    def run(
        self,
        step: str,
        params: dict[str, Any] | None = None,
        *,
        spec: dict[str, Any] | None = None,
        shard: tuple[int, int] = (0, 1),
    ) -> int:
        env = {
            c.ENV_TASK_ID: TASK_ID,
            c.ENV_STEP: step,
            c.ENV_PARAMS: json.dumps(params or {}),
            c.ENV_PREFIX: self.store.prefix,
            c.ENV_SHARD_INDEX: str(shard[0]),
            c.ENV_SHARD_COUNT: str(shard[1]),
            c.ENV_TERMINATION_LOG: str(self.termination),
        }
        if spec is not None:
            env[c.ENV_SPEC] = json.dumps(spec)
        return run_step(step, TASK_ID, env)

    @property
    def reason(self) -> str:
        return self.termination.read_text(encoding="utf-8").strip()

    def log(self, step: str) -> str:
        return self.store.get_bytes(c.LOG_KEY.format(step=step)).decode("utf-8")

    def progress(self, step: str) -> dict[str, Any]:
        return dict(json.loads(self.store.get_bytes(c.PROGRESS_KEY.format(step=step))))


@pytest.fixture
def task(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LocalTask:
    root = tmp_path / "store"
    monkeypatch.setenv("SOVITS_STORAGE__BACKEND", "local")
    monkeypatch.setenv("SOVITS_STORAGE__LOCAL_ROOT", str(root))
    monkeypatch.delenv("SOVITS_CONFIG_FILE", raising=False)
    return LocalTask(
        TaskFiles(LocalObjectStore(root), f"tasks/{TASK_ID}/"), tmp_path / "termination-log", tmp_path / "scratch"
    )
