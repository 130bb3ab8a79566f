"""The per-run tree upstream takes for its repo root."""

from __future__ import annotations

from pathlib import Path

import pytest

from sovits_core.errors import InvalidInput
from sovits_steps.upstream import runtree


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    root = tmp_path / "checkout"
    for rel in ("GPT_SoVITS/text/g2pw/api.py", "GPT_SoVITS/pretrained_models/baked.bin", "tools/my_utils.py",
                "config.py", "logs/old/x.txt", "SoVITS_weights_v2/old.pth"):  # fmt: skip
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(rel)
    return root


def test_code_is_linked_and_models_experiments_and_weights_are_ours(checkout: Path, tmp_path: Path) -> None:
    models = tmp_path / "models"
    (models / "G2PWModel").mkdir(parents=True)
    exps = tmp_path / "exps"
    tree = runtree.build(checkout, tmp_path / "run", exp="bob", version="v2", experiments=exps, models=models)
    root = tree.root

    assert (root / "config.py").resolve() == checkout / "config.py"
    assert (root / "GPT_SoVITS" / "text" / "g2pw").resolve() == checkout / "GPT_SoVITS/text/g2pw"
    assert (root / "GPT_SoVITS" / "pretrained_models").resolve() == models
    assert (root / "GPT_SoVITS" / "text" / "G2PWModel").resolve() == models / "G2PWModel"
    assert not (root / "GPT_SoVITS").is_symlink() and not (root / "GPT_SoVITS" / "text").is_symlink()
    assert (root / "logs" / "bob").resolve() == tmp_path / "exps" / "bob"
    assert (root / "SoVITS_weights_v2").resolve() == tmp_path / "exps" / "bob" / "SoVITS_weights_v2"
    assert list((root / "SoVITS_weights_v2").iterdir()) == [], "the checkout's own weights are not ours"
    assert (root / "GPT_weights_v4").is_dir() and not (root / "GPT_weights_v4").is_symlink()
    assert (root / "TEMP").is_dir()


def test_a_folder_that_is_no_checkout_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"paths.base_dir: .* \(no GPT_SoVITS\)"):
        runtree.check_checkout(tmp_path)
    with pytest.raises(InvalidInput, match="SOVITS_PATHS__BASE_DIR"):
        runtree.check_checkout(None)
