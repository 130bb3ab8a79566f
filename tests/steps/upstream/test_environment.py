"""The environment handed to upstream scripts."""

from __future__ import annotations

from pathlib import Path

import pytest

from sovits_core.errors import InvalidInput
from sovits_steps.upstream import environment
from sovits_steps.upstream.runtree import RunTree


def test_is_half_is_the_python_literal_upstream_evals() -> None:
    assert (environment.py_bool(True), environment.py_bool(False)) == ("True", "False")


@pytest.mark.parametrize(
    ("inherited", "count", "ids"),
    [
        ({}, 2, ["0", "1"]),
        ({"CUDA_VISIBLE_DEVICES": "4,6"}, 1, ["4"]),
        ({"CUDA_VISIBLE_DEVICES": ""}, 1, []),
        ({}, 0, []),
    ],
)
def test_device_ids_follow_what_this_process_may_see(inherited: dict[str, str], count: int, ids: list[str]) -> None:
    assert environment.device_ids(inherited, count) == ids


def test_gpu_uuids_are_refused_because_upstream_rewrites_the_variable() -> None:
    with pytest.raises(InvalidInput, match="numeric GPU ids"):
        environment.device_ids({"CUDA_VISIBLE_DEVICES": "GPU-1a2b"}, 1)


def test_our_settings_secrets_and_the_ui_language_stay_out(tmp_path: Path) -> None:
    inherited = {"SOVITS_STORAGE__SECRET_ACCESS_KEY": "s", "AWS_SECRET_ACCESS_KEY": "s", "language": "en_US",
                 "PATH": "/usr/bin", "PYTHONPATH": "/elsewhere", "_CUDA_VISIBLE_DEVICES": "7"}  # fmt: skip
    env = environment.base(inherited, RunTree(tmp_path, "x"), version="v2", is_half=False)
    assert not {
        "SOVITS_STORAGE__SECRET_ACCESS_KEY",
        "AWS_SECRET_ACCESS_KEY",
        "language",
        "_CUDA_VISIBLE_DEVICES",
    } & set(env)
    assert env["PATH"] == "/usr/bin"
    assert env["PYTHONPATH"] == f"{tmp_path}:{tmp_path}/GPT_SoVITS"
    assert env["cnhubert_base_dir"] == env["cnhubert_base_path"] == "GPT_SoVITS/pretrained_models/chinese-hubert-base"
    assert env["TEMP"] == str(tmp_path / "TEMP")


def test_torchs_thread_pool_is_sized_by_the_usable_cores_unless_the_pod_says(tmp_path: Path) -> None:
    tree = RunTree(tmp_path, "x")
    assert environment.base({}, tree, version="v2", is_half=False, cores=3)["OMP_NUM_THREADS"] == "3"
    pod = {"OMP_NUM_THREADS": "8"}
    assert environment.base(pod, tree, version="v2", is_half=False, cores=3)["OMP_NUM_THREADS"] == "8"
    assert "OMP_NUM_THREADS" not in environment.base({}, tree, version="v2", is_half=False)
