"""crds/trainingtask.yaml is generated from the model and never drifts from it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from sovits_core.catalog import CATALOG, STEP_ORDER
from sovits_operator import crd

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
        [sys.executable, "-m", "sovits_cli.main", "crd", "--check", "-o", str(stale)],
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


def test_params_declare_every_parameter_name_of_every_step_typed_and_described() -> None:
    params = schema()["properties"]["spec"]["properties"]["steps"]["items"]["properties"]["params"]
    names = {name for d in CATALOG.values() for f, info in d.params.model_fields.items() for name in (f, info.alias)}

    assert "x-kubernetes-preserve-unknown-fields" not in params
    assert set(params["properties"]) == names - {None}
    assert params["properties"]["min_length"] == {
        "type": "integer",
        "description": "slice_audio: Minimum chunk length in ms.",
    }
    assert params["properties"]["max_amp"]["type"] == "number"
    assert params["properties"]["is_half"]["nullable"] is True


def test_each_step_gets_a_rule_for_foreign_names_and_one_per_constrained_field() -> None:
    rules = schema()["properties"]["spec"]["properties"]["steps"]["items"]["x-kubernetes-validations"]
    messages = [r.get("message", "") for r in rules]

    assert sum('"slice_audio params: "' in r.get("messageExpression", "") for r in rules) == 1
    assert (
        "slice_audio params.threshold: must be an integer >= -120 and <= 0 (RMS below this (dB) is silence.)"
        in messages
    )
    assert "denoise_audio params.backend: must be one of spectral, frcrn" in messages
    assert all(r["fieldPath"] == ".params" for r in rules)


def test_identity_and_columns() -> None:
    doc = crd.crd()
    version = doc["spec"]["versions"][0]

    assert doc["metadata"]["name"] == "trainingtasks.sovits.io"
    assert doc["spec"]["names"]["shortNames"] == ["tt"]
    assert version["name"] == "v1alpha1" and version["subresources"] == {"status": {}}
    columns = {c["name"]: c for c in version["additionalPrinterColumns"]}
    assert list(columns) == ["Phase", "Step", "Progress", "Ready", "Reason", "Duration", "Age", "Message", "Dataset"]
    assert columns["Reason"]["jsonPath"] == '.status.conditions[?(@.type=="Ready")].reason'
    assert (columns["Duration"]["priority"], columns["Message"]["priority"]) == (1, 1)
    assert (columns["Dataset"]["priority"], columns["Dataset"]["jsonPath"]) == (1, ".status.dataset.summary")


def undescribed(node: dict, path: str) -> list[str]:  # type: ignore[type-arg]
    """Paths under ``node`` whose schema has no description (what `kubectl explain` would leave blank)."""
    missing = []
    for name, prop in (node.get("properties") or {}).items():
        here = f"{path}.{name}"
        if not prop.get("description"):
            missing.append(here)
        missing += undescribed(prop, here)
        if "items" in prop:
            missing += undescribed(prop["items"], f"{here}[]")
    return missing


def test_every_spec_and_status_field_has_a_description_for_kubectl_explain() -> None:
    top = schema()["properties"]

    assert undescribed(top["spec"], "spec") + undescribed(top["status"], "status") == []


def test_the_epochs_say_which_model_they_train() -> None:
    spec = schema()["properties"]["spec"]["properties"]

    assert "GPT" in spec["epochsS1"]["description"] and "train_gpt" in spec["epochsS1"]["description"]
    assert "SoVITS" in spec["epochsS2"]["description"] and "train_sovits" in spec["epochsS2"]["description"]


def test_the_steps_field_states_the_rule_for_edits() -> None:
    steps = schema()["properties"]["spec"]["properties"]["steps"]["description"]

    assert "changing any of them" in steps and "is a new request" in steps


def test_status_conditions_are_a_list_map_keyed_by_their_required_type() -> None:
    conditions = schema()["properties"]["status"]["properties"]["conditions"]

    assert conditions["x-kubernetes-list-type"] == "map"
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]
    assert "type" in conditions["items"]["required"]
