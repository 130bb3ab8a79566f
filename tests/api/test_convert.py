from __future__ import annotations

import pytest
from pydantic import ValidationError

from sovits_api.convert import config_from_spec, parse_gpu_id, spec_from_create
from sovits_api.schemas import TaskCreate
from sovits_core.errors import InvalidInput
from sovits_core.settings import GpuSettings, TrainingDefaults

SEED_CONFIG = {
    "exp_name": "my_speaker",
    "language": "zh",
    "batch_size": 16,
    "epochs_s2": 50,
    "epochs_s1": 15,
    "gpu_id": "0",
}


def create(**config: object) -> TaskCreate:
    return TaskCreate.model_validate({"task_name": "t", "config": config})


def test_seed_gpu_id_with_dashes_means_that_many_devices() -> None:
    spec = spec_from_create(create(exp_name="s", gpu_id="0-1-2"), TrainingDefaults(), GpuSettings())
    assert spec.gpu.devices == [0, 1, 2]
    assert spec.gpu.count == 3


def test_seed_example_config_maps_onto_the_spec_and_back_unchanged() -> None:
    spec = spec_from_create(create(**SEED_CONFIG), TrainingDefaults(), GpuSettings())
    assert (spec.exp_name, spec.language, spec.batch_size, spec.epochs_s2, spec.epochs_s1) == (
        "my_speaker", "zh", 16, 50, 15,
    )  # fmt: skip
    config = config_from_spec(spec)
    assert {k: config[k] for k in SEED_CONFIG} == SEED_CONFIG
    assert config["model_version"] == "v2Pro"


def test_missing_values_come_from_the_server_defaults() -> None:
    defaults = TrainingDefaults(default_epochs_s2=7, default_epochs_s1=3, default_batch_size=4)
    spec = spec_from_create(create(exp_name="s"), defaults, GpuSettings(default_device="1-2"))
    assert (spec.epochs_s2, spec.epochs_s1, spec.batch_size, spec.gpu.devices) == (7, 3, 4, [1, 2])


def test_an_integer_gpu_id_is_read_like_its_text() -> None:
    spec = spec_from_create(create(exp_name="s", gpu_id=1), TrainingDefaults(), GpuSettings())
    assert spec.gpu.devices == [1]


@pytest.mark.parametrize("gpu_id", ["", "0,1", "a", "0--1", "-1", "0-0"])
def test_malformed_gpu_id_is_refused_naming_the_field(gpu_id: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        parse_gpu_id(gpu_id)
    assert exc.value.field == "config.gpu_id"
    assert "config.gpu_id" in exc.value.message


def test_unknown_config_key_is_refused() -> None:
    with pytest.raises(ValidationError) as exc:
        create(exp_name="s", epochs=5)
    assert exc.value.errors()[0]["loc"] == ("config", "epochs")


def test_extensions_round_trip_through_the_spec() -> None:
    body = create(exp_name="s", model_version="v2ProPlus", webhook_url="http://127.0.0.1:9/hook")
    config = config_from_spec(spec_from_create(body, TrainingDefaults(), GpuSettings()))
    assert config["model_version"] == "v2ProPlus"
    assert config["webhook_url"] == "http://127.0.0.1:9/hook"


def test_a_kubectl_task_with_only_a_gpu_count_shows_a_seed_gpu_id() -> None:
    spec = spec_from_create(create(exp_name="s"), TrainingDefaults(), GpuSettings())
    spec.gpu.devices = None
    spec.gpu.count = 2
    assert config_from_spec(spec)["gpu_id"] == "0-1"
