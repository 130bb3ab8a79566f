"""Settings come from the seed's config.yaml shape, overridden by SOVITS_* environment variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from sovits_core.settings import Settings, load

SEED_CONFIG = """
server:
  host: "0.0.0.0"
  port: 8000
  workers: 4
paths:
  base_dir: "/opt/GPT-SoVITS"
  work_dir: "/data/work"
gpu:
  default_device: "0"
  max_parallel: 4
training:
  default_epochs_s2: 50
  default_epochs_s1: 15
  default_batch_size: 16
"""


def test_the_seed_config_file_is_read_as_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(SEED_CONFIG)

    settings = load(config)

    assert settings.server.port == 8000 and settings.server.workers == 4
    assert settings.paths.base_dir == Path("/opt/GPT-SoVITS")
    assert settings.gpu.max_parallel == 4 and settings.gpu.default_device == "0"
    assert settings.training.default_epochs_s2 == 50


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(SEED_CONFIG)
    monkeypatch.setenv("SOVITS_GPU__MAX_PARALLEL", "2")
    monkeypatch.setenv("SOVITS_STORAGE__BUCKET", "voices")

    settings = load(config)

    assert settings.gpu.max_parallel == 2
    assert settings.gpu.default_device == "0"  # the rest of the section still comes from the file
    assert settings.storage.bucket == "voices"


def test_the_config_file_can_be_named_by_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("gpu:\n  resource_name: amd.com/gpu\n")
    monkeypatch.setenv("SOVITS_CONFIG_FILE", str(config))

    assert load().gpu.resource_name == "amd.com/gpu"


def test_defaults_bind_loopback_and_request_nvidia_gpus() -> None:
    settings = Settings()

    assert settings.server.host == "127.0.0.1"
    assert settings.gpu.resource_name == "nvidia.com/gpu"
    assert settings.images.for_step("train_sovits") == settings.images.default


def test_a_per_step_image_wins_over_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOVITS_IMAGES__PER_STEP", '{"convert_audio": "registry.local/audio:1"}')

    images = load().images

    assert images.for_step("convert_audio") == "registry.local/audio:1"
    assert images.for_step("train_gpt") == images.default


def test_a_config_file_that_is_not_a_mapping_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("- just\n- a list\n")

    with pytest.raises(ValueError, match="expected a mapping"):
        load(config)
