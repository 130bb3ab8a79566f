"""Checkpoints mirrored to the store while a trainer writes them."""

from __future__ import annotations

from pathlib import Path

from sovits_core.storage import LocalObjectStore, TaskFiles
from sovits_steps.staging import Stamp
from sovits_steps.upstream.mirror import Mirror


def test_a_file_is_uploaded_once_it_stopped_changing_and_again_when_it_changes(tmp_path: Path) -> None:
    store = TaskFiles(LocalObjectStore(tmp_path / "store"), "tasks/t/")
    local = tmp_path / "exp"
    ckpt = local / "bob" / "logs_s2_v2" / "G_233333333333.pth"
    ckpt.parent.mkdir(parents=True)
    staged: dict[Path, Stamp] = {}
    mirror = Mirror(store, "experiments", local, ["bob/logs_s2_v2"], staged)

    ckpt.write_bytes(b"epoch 4")
    mirror.sync()
    assert not store.exists("experiments/bob/logs_s2_v2/G_233333333333.pth"), "seen once: may still be written"
    mirror.sync()
    assert store.get_bytes("experiments/bob/logs_s2_v2/G_233333333333.pth") == b"epoch 4"
    assert ckpt in staged, "the runner will not upload it a second time"

    ckpt.write_bytes(b"epoch 8!")
    mirror.sync(final=True)
    assert store.get_bytes("experiments/bob/logs_s2_v2/G_233333333333.pth") == b"epoch 8!"
    assert mirror.uploaded == ["experiments/bob/logs_s2_v2/G_233333333333.pth"] * 2
