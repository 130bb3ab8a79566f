"""CUDA out of memory told from upstream's other failures, and reported so that the operator
halves the batch size (recorded output: tests/support/cuda_oom.py)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from sovits_core import contract as c
from sovits_core.errors import OutOfMemory
from sovits_local.store import SqliteTaskStore
from sovits_steps.upstream import process, training
from sovits_steps.upstream.memory import cuda_out_of_memory
from tests.steps.conftest import LocalTask
from tests.steps.upstream.conftest import NAMES, run_features, serve_locally, spec
from tests.support import cuda_oom
from tests.support.fake_upstream import FakeUpstream


def flat(line: str) -> str:
    return " ".join(line.split())


OOM_REASON = "out of memory: upstream s2_train.py: " + flat(cuda_oom.TORCH_27_ALLOCATOR)


@pytest.mark.parametrize(
    "line",
    [cuda_oom.TORCH_27_ALLOCATOR, cuda_oom.TORCH_2_ALLOCATOR, cuda_oom.CUDA_RUNTIME, cuda_oom.CUBLAS],
    ids=["torch-2.7", "torch-2.1", "cuda-runtime", "cublas"],
)
def test_each_way_torch_reports_cuda_out_of_memory_is_recognised(line: str) -> None:
    assert cuda_out_of_memory(line) == flat(line)


@pytest.mark.parametrize("line", cuda_oom.NOT_CUDA_MEMORY)
def test_host_memory_nccl_and_other_failures_are_not_cuda_memory(line: str) -> None:
    assert cuda_out_of_memory(line) is None


def test_out_of_memory_is_found_anywhere_in_the_output_even_when_the_script_exits_0(tmp_path: Path) -> None:
    """The spawned rank's traceback, then more output than the tail keeps, then exit 0."""
    script = tmp_path / "trainer.py"
    script.write_text(
        f"print({cuda_oom.S2_TRAIN_SPAWNED_RANK!r})\n"
        f"for i in range({process.TAIL_LINES + 20}): print('cleaning up', i)\n"
    )
    outcome = process.run([sys.executable, "-s", str(script)], cwd=tmp_path, env=dict(os.environ),
                          on_line=lambda line: None)  # fmt: skip

    assert outcome.returncode == 0
    assert not any("CUDA" in line for line in outcome.tail)
    assert outcome.out_of_memory == flat(cuda_oom.TORCH_27_ALLOCATOR)
    with pytest.raises(OutOfMemory, match=r"^upstream trainer.py: torch.OutOfMemoryError: CUDA out of memory\."):
        outcome.raise_if_out_of_memory(str(script))


@pytest.fixture
def featured(prepared: LocalTask, fake: FakeUpstream, monkeypatch: pytest.MonkeyPatch) -> LocalTask:
    monkeypatch.setattr(training, "POLL_S", 0.1)
    run_features(prepared)
    return prepared


def test_a_trainer_out_of_memory_exits_with_the_out_of_memory_code_and_a_smaller_batch_trains(
    featured: LocalTask, fake: FakeUpstream
) -> None:
    fake.behave("s2_train", out_of_memory_above={"batch": 4, "output": cuda_oom.S2_TRAIN_SPAWNED_RANK})
    train = {"epochs": 1, "save_every_epoch": 1}

    assert featured.run("train_sovits", {**train, "batch_size": 8}, spec=spec(gpus=1)) == c.EXIT_OUT_OF_MEMORY
    assert featured.reason == OOM_REASON
    assert featured.run("train_sovits", {**train, "batch_size": 4}, spec=spec(gpus=1)) == c.EXIT_OK
    assert [call["batch_size"] for call in fake.calls("s2_train.batch")] == [8, 4]


def test_a_trainer_that_says_out_of_memory_and_exits_0_is_still_out_of_memory(
    featured: LocalTask, fake: FakeUpstream
) -> None:
    fake.behave("s2_train", out_of_memory_above={"batch": 1, "output": cuda_oom.TORCH_2_ALLOCATOR, "exit": 0})

    assert featured.run("train_sovits", {"epochs": 1, "batch_size": 2}, spec=spec(gpus=1)) == c.EXIT_OUT_OF_MEMORY
    assert featured.reason.startswith("out of memory: upstream s2_train.py: torch.cuda.OutOfMemoryError: ")


def test_a_feature_script_that_catches_out_of_memory_per_item_and_exits_0_is_out_of_memory(
    prepared: LocalTask, fake: FakeUpstream
) -> None:
    """Not bad input (a missing row): the same clip may fit next time."""
    error = "Traceback (most recent call last):\n" + cuda_oom.TORCH_27_ALLOCATOR
    fake.behave("1-get-text", fail_items=[NAMES[1]], item_error=error)

    assert prepared.run("extract_text_features", {}, spec=spec()) == c.EXIT_OUT_OF_MEMORY
    assert prepared.reason.startswith("out of memory: upstream 1-get-text.py: torch.OutOfMemoryError: CUDA out of")


def test_sovits_local_trains_again_with_half_the_batch_each_time_cuda_runs_out_of_memory(
    featured: LocalTask, fake: FakeUpstream, tmp_path: Path
) -> None:
    """`sovits local` as a process over the stand-in trainer, which runs out of memory above batch 2."""
    service, task_id = serve_locally(tmp_path, fake, {"batch_size": 8, "epochs_s2": 1})
    fake.behave("s2_train", out_of_memory_above={"batch": 2, "output": cuda_oom.S2_TRAIN_SPAWNED_RANK})
    try:
        service.client().execute_step(task_id, "train_sovits", {"save_every_epoch": 1})
        final = service.client().wait_for_completion(task_id, timeout=180, interval=0.5)
    finally:
        service.stop()

    assert final["status"] == "completed", final
    assert [call["batch_size"] for call in fake.calls("s2_train.batch")] == [8, 4, 2]
    store = SqliteTaskStore.open(tmp_path / "local" / "tasks.db")
    record = store.get("default", task_id).status.steps[-1]
    store.close()
    assert (record.name, record.batch_size, record.memory_retries, record.attempts) == ("train_sovits", 2, 2, 1)
    assert record.message == "completed with batch size 2 after CUDA ran out of memory 2 time(s)"
