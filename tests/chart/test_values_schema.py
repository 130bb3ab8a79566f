"""values.schema.json refuses what the chart would otherwise silently ignore or misrender."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.chart.conftest import ALL_OPTIONS, CHART, run_helm, template_args


def template_error(helm: Path, *files: Path, **sets: str) -> str:
    result = run_helm(helm, *template_args(*files, sets=sets))
    assert result.returncode != 0, "helm template accepted the values"
    return result.stderr


def test_the_schema_is_strict_at_the_top_level() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    assert schema["additionalProperties"] is False


def test_an_unknown_top_level_key_is_refused(helm: Path) -> None:
    err = template_error(helm, **{"replicaCount": "2"})
    assert "replicaCount" in err
    assert "not allowed" in err


def test_a_misspelled_component_key_is_refused(helm: Path) -> None:
    err = template_error(helm, **{"operator.maxAttempt": "3"})
    assert "maxAttempt" in err


@pytest.mark.parametrize(
    ("key", "value", "where"),
    [
        ("operator.maxAttempts", "many", "/operator/maxAttempts"),
        ("watch.allNamespaces", "yes", "/watch/allNamespaces"),
        ("api.downloadMode", "ftp", "/api/downloadMode"),
        ("storage.bucket", "Not_A_Bucket", "/storage/bucket"),
        ("steps.image.pullPolicy", "Sometimes", "/steps/image/pullPolicy"),
    ],
)
def test_a_bad_type_or_value_is_refused_naming_the_field(helm: Path, key: str, value: str, where: str) -> None:
    err = template_error(helm, **{key: value})
    assert where in err


def test_a_step_image_for_an_unknown_step_is_refused(helm: Path) -> None:
    err = template_error(helm, **{"steps.images.train_everything": "img:1"})
    assert "train_everything" in err


def test_the_default_values_and_the_all_options_values_pass(helm: Path) -> None:
    for files in ((), (ALL_OPTIONS,)):
        result = run_helm(helm, *template_args(*files))
        assert result.returncode == 0, result.stderr
