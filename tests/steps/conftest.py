"""A task on the local store backend, and a way to run a step on it in this process; the real
upstream environment and every version's pipeline through it, made once per session."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sovits_core import contract as c
from sovits_core.storage import LocalObjectStore, TaskFiles
from sovits_steps.runner import run_step
from tests.steps.upstream import real
from tests.support import upstream as up

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


# Real upstream (marker ``upstream``): made once per session, shared by the modules here and in
# upstream/. The pipelines start with the first real-upstream test, so the others run beside them.


@pytest.fixture(scope="session")
def upstream() -> up.Upstream:
    return up.prepared()


@pytest.fixture(scope="session")
def tiny_checkout(upstream: up.Upstream, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return real.tiny_checkout(upstream, tmp_path_factory.mktemp("upstream") / "GPT-SoVITS")


@pytest.fixture(scope="session")
def model_store(upstream: up.Upstream, tiny_checkout: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One local store with the stand-in models; each test's task gets its own id in it."""
    made = real.make_stand_ins(upstream, tiny_checkout, tmp_path_factory.mktemp("pretrained_models"), real.VERSIONS)
    yield real.model_store(made, tmp_path_factory.mktemp("store"))
    real.remove_temp_dirs()


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return real.make_clips(tmp_path_factory.mktemp("clips"))


@pytest.fixture(scope="session")
def pipelines(
    upstream: up.Upstream, tiny_checkout: Path, model_store: Path, clips: dict[str, Path]
) -> Iterator[real.Pipelines]:
    """Every version's model steps (``real.Pipelines``), started on two threads when the first
    real-upstream test runs, so the others (the slicer differential, the failures) run beside them."""
    pool = ThreadPoolExecutor(2, thread_name_prefix="pipeline")
    yield real.Pipelines.start(pool, upstream, tiny_checkout, model_store, clips)
    pool.shutdown(wait=True, cancel_futures=True)  # before model_store removes the runs' folders


@pytest.fixture(autouse=True)
def _pipelines_under_way(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("upstream") is not None:
        request.getfixturevalue("pipelines")


@pytest.fixture(scope="session")
def interrupted_sovits(pipelines: real.Pipelines) -> real.Interrupted:
    """v2Pro's SoVITS training, two epochs, killed mid-run once its first checkpoint is mirrored
    and run again: the resume test reads it, and the v2Pro pipeline goes on from it (one
    training run fewer than a separate resume test; SoVITS runs are the suite's costliest)."""
    return pipelines.interrupted.result()
