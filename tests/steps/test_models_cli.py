"""`sovits models upload` / `sovits models check` as commands against the real SeaweedFS store."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.seaweed import S3Store

pytestmark = pytest.mark.s3
SOVITS = str(Path(sys.executable).with_name("sovits"))


def sovits(s3: S3Store, prefix: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **s3.env(), "SOVITS_STORAGE__MODELS_PREFIX": f"{prefix}models/"}
    return subprocess.run([SOVITS, "models", *args], env=env, capture_output=True, text=True, timeout=120, check=False)


def write(root: Path, rel: str, body: bytes = b"w") -> None:
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    (root / rel).write_bytes(body)


def test_upload_mirrors_the_folder_under_the_models_prefix_and_skips_unchanged(
    s3_store: S3Store, s3_prefix: str, tmp_path: Path
) -> None:
    src = tmp_path / "pretrained_models"
    write(src, "chinese-hubert-base/config.json")
    write(src, "v2Pro/s2Gv2Pro.pth", b"g" * 1000)
    write(src, "chinese-hubert-base/__pycache__/x.pyc")

    first = sovits(s3_store, s3_prefix, "upload", str(src))
    assert first.returncode == 0, first.stderr
    keys = sorted(o["Key"] for o in s3_store.client().list_objects_v2(Bucket=s3_store.bucket,
                                                                      Prefix=s3_prefix)["Contents"])  # fmt: skip
    assert keys == [f"{s3_prefix}models/chinese-hubert-base/config.json", f"{s3_prefix}models/v2Pro/s2Gv2Pro.pth"]
    second = sovits(s3_store, s3_prefix, "upload", str(src))
    assert "uploaded 0 files" in second.stdout and "2 unchanged" in second.stdout

    g2pw = tmp_path / "G2PWModel"
    write(g2pw, "g2pW.onnx")
    assert sovits(s3_store, s3_prefix, "upload", str(g2pw), "--to", "G2PWModel").returncode == 0
    head = s3_store.client().head_object(Bucket=s3_store.bucket, Key=f"{s3_prefix}models/G2PWModel/g2pW.onnx")
    assert head["ContentLength"] == 1


def test_check_lists_what_each_step_would_miss_and_fails_until_complete(
    s3_store: S3Store, s3_prefix: str, tmp_path: Path
) -> None:
    src = tmp_path / "pm"
    write(src, "chinese-hubert-base/config.json")
    assert sovits(s3_store, s3_prefix, "upload", str(src)).returncode == 0

    result = sovits(s3_store, s3_prefix, "check", "--version", "v2", "--language", "en")
    assert result.returncode == 1
    out = result.stdout
    assert "extract_audio_features: ok" in out
    assert f"missing  {s3_prefix}models/chinese-roberta-wwm-ext-large/" in out
    assert f"missing  {s3_prefix}models/gsv-v2final-pretrained/s2G2333k.pth" in out
    assert "extract_speaker_vectors: ok" in out, "v2 has no speaker vectors"
    assert "G2PWModel" not in out, "English text needs no Chinese G2P"

    for rel in ("chinese-roberta-wwm-ext-large/config.json", "gsv-v2final-pretrained/s2G2333k.pth",
                "gsv-v2final-pretrained/s2D2333k.pth",
                "gsv-v2final-pretrained/s1bert25hz-5kh-longer-epoch=12-step=369668.ckpt"):  # fmt: skip
        write(src, rel)
    assert sovits(s3_store, s3_prefix, "upload", str(src)).returncode == 0
    assert sovits(s3_store, s3_prefix, "check", "--version", "v2", "--language", "en").returncode == 0


def test_upload_of_a_missing_folder_is_a_clear_error(s3_store: S3Store, s3_prefix: str, tmp_path: Path) -> None:
    result = sovits(s3_store, s3_prefix, "upload", str(tmp_path / "nope"))
    assert result.returncode == 2
    assert "DIR:" in result.stderr and "is not a folder" in result.stderr
