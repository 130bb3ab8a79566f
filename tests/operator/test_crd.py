"""crds/trainingtask.yaml is generated from the model and never drifts from it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from sovits_operator import crd
from sovits_operator.catalog import STEP_ORDER

REPO = Path(__file__).resolve().parents[2]
CRD_FILE = REPO / "crds" / "trainingtask.yaml"


def schema() -> dict:  # type: ignore[type-arg]
    return crd.crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]  # type: ignore[no-any-return]


def test_the_committed_crd_is_what_the_model_generates() -> None:
    assert CRD_FILE.read_text(encoding="utf-8") == crd.render(), "run: sovits crd -o crds/trainingtask.yaml"


def test_sovits_crd_check_fails_when_the_file_drifts(tmp_path: Path) -> None:
    stale = tmp_path / "trainingtask.yaml"
    stale.write_text(crd.render().replace("maximum: 256", "maximum: 512"), encoding="utf-8")

    result = subprocess.run(
        [sys.executable, "-m", "sovits_operator.cli", "crd", "--check", "-o", str(stale)],
        capture_output=True,
        text=True,
    )

    assert result.returncode == 1
    assert "differs from the model" in result.stderr


def test_step_names_in_the_schema_are_the_catalog() -> None:
    step_name = schema()["properties"]["spec"]["properties"]["steps"]["items"]["properties"]["name"]

    assert step_name["enum"] == list(STEP_ORDER)


def test_the_schema_is_structural() -> None:
    text = yaml.safe_dump(schema())

    assert "$ref" not in text and "anyOf" not in text and "$defs" not in text


def test_free_form_params_keep_unknown_fields() -> None:
    params = schema()["properties"]["spec"]["properties"]["steps"]["items"]["properties"]["params"]

    assert params == {
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": True,
        "description": params["description"],
    }


def test_identity_and_columns() -> None:
    doc = crd.crd()
    version = doc["spec"]["versions"][0]

    assert doc["metadata"]["name"] == "trainingtasks.sovits.io"
    assert doc["spec"]["names"]["shortNames"] == ["tt"]
    assert version["name"] == "v1alpha1" and version["subresources"] == {"status": {}}
    columns = {c["name"]: c for c in version["additionalPrinterColumns"]}
    assert list(columns) == ["Phase", "Step", "Progress", "Age", "Message"]
    assert columns["Message"]["priority"] == 1
