"""The TrainingTask model: camelCase on the wire, snake_case accepted, bounds enforced."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from sovits_core.catalog import CATALOG, missing_prerequisites, step
from sovits_core.errors import InvalidInput, UnknownStep
from sovits_core.model import TrainingTaskSpec


def test_the_spec_accepts_snake_case_and_emits_camel_case() -> None:
    spec = TrainingTaskSpec.model_validate({"exp_name": "spk", "epochs_s2": 20, "batch_size": 8})

    wire = spec.wire()

    assert wire["expName"] == "spk" and wire["epochsS2"] == 20 and wire["batchSize"] == 8
    assert "exp_name" not in wire


def test_unknown_spec_fields_are_refused() -> None:
    with pytest.raises(ValidationError, match="gpu_idx"):
        TrainingTaskSpec.model_validate({"exp_name": "spk", "gpu_idx": "0"})


@pytest.mark.parametrize("exp_name", ["", "../x", "a b", "-lead", "x" * 64])
def test_exp_names_outside_the_pattern_are_refused(exp_name: str) -> None:
    with pytest.raises(ValidationError):
        TrainingTaskSpec(exp_name=exp_name)


def test_the_seed_slice_example_is_refused_naming_the_field() -> None:
    # The seed's example puts the dB threshold under min_length (one place off).
    seed_example = {"min_length": -34, "min_interval": 4000, "hop_size": 300, "max_sil_kept": 10}

    with pytest.raises(InvalidInput) as info:
        step("slice_audio").parse_params(seed_example)

    assert info.value.field == "min_length"
    assert "slice_audio.params.min_length" in str(info.value)
    assert "greater than 0" in str(info.value)


def test_slice_params_use_upstream_names_and_the_seed_alias_for_max() -> None:
    params = step("slice_audio").parse_params({"threshold": -40, "_max": 0.8})

    assert params.model_dump()["max_amp"] == 0.8


def test_slice_params_must_be_ordered_as_upstream_requires() -> None:
    with pytest.raises(InvalidInput, match="min_length >= min_interval >= hop_size"):
        step("slice_audio").parse_params({"min_length": 200, "min_interval": 300})


def test_unknown_step_names_list_the_valid_ones() -> None:
    with pytest.raises(UnknownStep, match="valid steps: convert_audio, slice_audio"):
        step("make_coffee")


def test_prerequisites_follow_the_seed_dependency_chain() -> None:
    assert missing_prerequisites("slice_audio", set()) == ["convert_audio"]
    assert missing_prerequisites("slice_audio", {"convert_audio"}) == []
    assert CATALOG["train_gpt"].prerequisites == ("train_sovits",)


def test_gpu_use_depends_on_the_backend_chosen() -> None:
    denoise, asr = step("denoise_audio"), step("asr_transcribe")

    assert not denoise.needs_gpu(denoise.parse_params({}))
    assert denoise.needs_gpu(denoise.parse_params({"backend": "frcrn"}))
    assert not asr.needs_gpu(asr.parse_params({"backend": "pocketsphinx"}))
    assert step("train_sovits").needs_gpu(step("train_sovits").parse_params({}))
    assert not step("convert_audio").needs_gpu(step("convert_audio").parse_params({}))


@pytest.mark.parametrize("version", ["v1", "v3", "v4"])
def test_model_versions_not_proven_against_real_upstream_are_refused_naming_the_field(version: str) -> None:
    with pytest.raises(ValidationError) as caught:
        TrainingTaskSpec.model_validate({"expName": "alice", "modelVersion": version})
    assert caught.value.errors()[0]["loc"] == ("modelVersion",)
    assert "'v2', 'v2Pro' or 'v2ProPlus'" in caught.value.errors()[0]["msg"]
