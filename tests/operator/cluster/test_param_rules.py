"""The API server refuses bad step params at apply time, with the step and the field named.

Every case goes to the real kube-apiserver in one server-side dry run; the step parameter
models are asked too, so the CRD's rules and the models cannot disagree on a single field.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from sovits_core.catalog import CATALOG
from tests.support.cluster import ClusterInfo
from tests.support.helm_release import server_dry_run
from tests.support.tasks import training_task

pytestmark = pytest.mark.cluster


def verdicts(cluster: ClusterInfo, namespace: str, cases: list[tuple[str, dict[str, Any]]]) -> dict[str, str | None]:
    """Each case (step, params) as its own task in one dry run: the API server's error, or None."""
    docs = [
        training_task(f"case-{i}", namespace, steps=[{"name": step, "params": params}])
        for i, (step, params) in enumerate(cases)
    ]
    result = server_dry_run(cluster, yaml.safe_dump_all(docs, allow_unicode=True))
    errors: dict[str, str | None] = {f"case-{i}": None for i in range(len(cases))}
    for line in result.stderr.splitlines():
        found = re.search(r'"(case-\d+)" is invalid: (.*)', line)
        if found:
            errors[found.group(1)] = found.group(2)
    assert result.stdout.count("created (server dry run)") == list(errors.values()).count(None), result.stderr
    return errors


def model_accepts(step: str, params: dict[str, Any]) -> bool:
    try:
        CATALOG[step].params.model_validate(params)  # type: ignore[index]
    except ValidationError:
        return False
    return True


def test_the_seeds_slice_example_is_refused_naming_the_field(cluster: ClusterInfo, namespace: str) -> None:
    seed = {"min_length": -34, "min_interval": 4000, "hop_size": 300, "max_sil_kept": 10}

    error = verdicts(cluster, namespace, [("slice_audio", seed)])["case-0"] or ""

    assert "spec.steps[0].params" in error
    assert "slice_audio params.min_length: must be an integer > 0 and <= 600000" in error


def test_a_typo_is_refused_by_kubectls_strict_field_validation(cluster: ClusterInfo, namespace: str) -> None:
    task = training_task("typo", namespace, steps=[{"name": "slice_audio", "params": {"threshhold": -40}}])

    result = server_dry_run(cluster, yaml.safe_dump(task))

    assert result.returncode != 0
    assert 'unknown field "spec.steps[0].params.threshhold"' in result.stderr


def test_another_steps_parameter_is_refused_naming_what_the_step_takes(cluster: ClusterInfo, namespace: str) -> None:
    error = verdicts(cluster, namespace, [("slice_audio", {"sample_rate": 16000, "threshold": -40})])["case-0"] or ""

    assert "slice_audio params: sample_rate not a parameter of this step; it takes: threshold, min_length" in error


def test_a_boolean_is_not_taken_for_a_number(cluster: ClusterInfo, namespace: str) -> None:
    errors = verdicts(cluster, namespace, [("convert_audio", {"sample_rate": True}), ("train_gpt", {"epochs": 2.5})])

    assert "spec.steps[0].params.sample_rate in body must be of type integer" in (errors["case-0"] or "")
    assert "spec.steps[0].params.epochs in body must be of type integer" in (errors["case-1"] or "")


def every_default() -> list[tuple[str, dict[str, Any]]]:
    """Each step's params spelled out in full, with their defaults (both spellings of an alias)."""
    cases = []
    for definition in CATALOG.values():
        defaults = definition.params().model_dump(mode="json", exclude_none=True)
        cases.append((definition.name, defaults))
        aliased = definition.params().model_dump(mode="json", by_alias=True, exclude_none=True)
        if aliased != defaults:
            cases.append((definition.name, aliased))
    return cases


def out_of_bounds() -> list[tuple[str, str, dict[str, Any]]]:
    """For every bounded field of every step: a value just past each bound."""
    cases = []
    for definition in CATALOG.values():
        schema = definition.params.model_json_schema(mode="validation")
        for field, prop in schema["properties"].items():
            prop = next((v for v in prop.get("anyOf", [prop]) if v.get("type") != "null"), prop)
            step = 1 if prop.get("type") == "integer" else 0.5
            for key, past in (("minimum", -step), ("maximum", step), ("exclusiveMinimum", 0), ("exclusiveMaximum", 0)):
                if key in prop:
                    cases.append((definition.name, field, {field: prop[key] + past}))
            if "enum" in prop:
                cases.append((definition.name, field, {field: "no-such-choice"}))
    return cases


def test_every_steps_defaults_are_accepted(cluster: ClusterInfo, namespace: str) -> None:
    cases = every_default()

    errors = verdicts(cluster, namespace, cases)

    assert all(model_accepts(step, params) for step, params in cases)
    assert [e for e in errors.values() if e] == []


def test_every_bound_of_every_field_is_enforced_by_the_api_server_as_by_the_model(
    cluster: ClusterInfo, namespace: str
) -> None:
    cases = out_of_bounds()
    assert len(cases) > 40  # the generator found the bounds

    errors = verdicts(cluster, namespace, [(step, params) for step, _, params in cases])

    for i, (step, field, params) in enumerate(cases):
        assert not model_accepts(step, params), (step, params)
        assert f"{step} params.{field}: must be" in (errors[f"case-{i}"] or ""), (step, params, errors[f"case-{i}"])


def test_exclude_flags_take_only_the_report_s_flag_names(cluster: ClusterInfo, namespace: str) -> None:
    good = {"exclude_flags": ["empty_text", "other_speaker"]}
    bad = {"exclude_flags": ["empty_text", "noisey"]}

    errors = verdicts(cluster, namespace, [("extract_text_features", good), ("extract_text_features", bad)])

    assert errors["case-0"] is None and model_accepts("extract_text_features", good)
    assert "extract_text_features params.exclude_flags: must be a list of too_short, too_long" in (
        errors["case-1"] or ""
    )
    assert not model_accepts("extract_text_features", bad)
