"""What only the SQLite store must prove: writes are atomic across a crash and a reopen."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from sovits_api.mutations import step_request
from sovits_core.errors import Conflict, TaskBusy
from sovits_core.model import TrainingTaskSpec
from sovits_local.store import SqliteTaskStore

SPEC = TrainingTaskSpec.model_validate({"taskName": "t", "expName": "spk"})


def test_a_task_survives_closing_and_reopening(tmp_path: Path) -> None:
    store = SqliteTaskStore.open(tmp_path / "tasks.db")
    task_id = str(uuid.uuid4())
    store.create("ns", task_id, SPEC, {})
    store.append_step("ns", task_id, step_request("convert_audio", {}))
    store.close()
    reopened = SqliteTaskStore.open(tmp_path / "tasks.db")
    assert [s.name for s in reopened.get("ns", task_id).spec.steps] == ["convert_audio"]


def test_a_process_killed_inside_a_write_leaves_the_task_as_before(tmp_path: Path) -> None:
    db = tmp_path / "tasks.db"
    store = SqliteTaskStore.open(db)
    task_id = str(uuid.uuid4())
    store.create("ns", task_id, SPEC, {})
    store.close()
    child = textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        from sovits_local.store import SqliteTaskStore
        from sovits_api.mutations import step_request
        store = SqliteTaskStore.open(Path({str(db)!r}))
        def die_mid_write(task):
            changed = task.model_copy(update={{"spec": task.spec.model_copy(update={{"cancel": True}})}})
            store._conn.execute("UPDATE tasks SET object='{{}}' WHERE name=?", ({task_id!r},))
            os.kill(os.getpid(), signal.SIGKILL)
            return changed
        store.update("ns", {task_id!r}, die_mid_write)
    """)
    result = subprocess.run([sys.executable, "-c", child], capture_output=True, timeout=60)
    assert result.returncode == -9, result.stderr
    reopened = SqliteTaskStore.open(db)
    task = reopened.get("ns", task_id)
    assert task.spec.cancel is False
    assert task.spec.exp_name == "spk"


def test_a_refused_write_changes_nothing(tmp_path: Path) -> None:
    store = SqliteTaskStore.open(tmp_path / "tasks.db")
    task_id = str(uuid.uuid4())
    store.create("ns", task_id, SPEC, {})
    store.append_step("ns", task_id, step_request("convert_audio", {}))
    version = store.get("ns", task_id).metadata.model_extra["resourceVersion"]  # type: ignore[index]
    with pytest.raises(TaskBusy):
        store.append_step("ns", task_id, step_request("convert_audio", {}))
    assert store.get("ns", task_id).metadata.model_extra["resourceVersion"] == version  # type: ignore[index]


def test_spec_changes_bump_the_generation_like_kubernetes(tmp_path: Path) -> None:
    store = SqliteTaskStore.open(tmp_path / "tasks.db")
    task_id = str(uuid.uuid4())
    assert store.create("ns", task_id, SPEC, {}).metadata.generation == 1
    assert store.append_step("ns", task_id, step_request("convert_audio", {})).metadata.generation == 2
    assert store.annotate("ns", task_id, {"a": "b"}).metadata.generation == 2


def test_the_same_id_twice_is_a_conflict(tmp_path: Path) -> None:
    store = SqliteTaskStore.open(tmp_path / "tasks.db")
    store.create("ns", "same", SPEC, {})
    with pytest.raises(Conflict):
        store.create("ns", "same", SPEC, {})


def test_a_store_written_by_a_newer_schema_is_refused(tmp_path: Path) -> None:
    store = SqliteTaskStore.open(tmp_path / "tasks.db")
    store._conn.execute("UPDATE store_meta SET value='99' WHERE key='schema'")
    store.close()
    with pytest.raises(RuntimeError, match="schema 99"):
        SqliteTaskStore.open(tmp_path / "tasks.db")


def test_a_deletion_is_kept_until_its_leftovers_are_gone_even_across_a_reopen(tmp_path: Path) -> None:
    store = SqliteTaskStore.open(tmp_path / "tasks.db")
    task_id = str(uuid.uuid4())
    store.create("ns", task_id, TrainingTaskSpec(exp_name="spk"), {})

    store.delete("ns", task_id)
    store.close()
    store = SqliteTaskStore.open(tmp_path / "tasks.db")  # as after a crash right after the delete

    assert store.list_all("ns") == []
    assert [t.metadata.name for t in store.deleted()] == [task_id]
    store.forget("ns", task_id)
    assert store.deleted() == []
