"""Generates the TrainingTask CustomResourceDefinition from the pydantic models.

pydantic emits JSON Schema 2020-12; the API server wants a *structural* OpenAPI v3 schema:
no $ref, no anyOf-with-null, boolean exclusive bounds, no additionalProperties beside
properties, and free-form objects marked to keep unknown fields. This module does that
translation and nothing else, so ``crds/trainingtask.yaml`` is a pure function of the model.
"""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import BaseModel

from sovits_core import model as m
from sovits_core.param_rules import params_schema, step_param_rules

HEADER = "# Generated from sovits_core.model by `sovits crd`; do not edit by hand.\n"

# Keys of JSON Schema that the structural OpenAPI subset has no use for.
_DROP = {"title", "$defs", "examples"}


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_inline(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = defs[node["$ref"].rsplit("/", 1)[-1]]
        extra = {k: v for k, v in node.items() if k != "$ref"}
        return _inline({**target, **extra}, defs)
    return {k: _inline(v, defs) for k, v in node.items() if k not in _DROP}


def _structural(node: Any) -> Any:
    if isinstance(node, list):
        return [_structural(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = dict(node)
    variants = node.pop("anyOf", None)
    if variants is not None:
        concrete = [v for v in variants if v.get("type") != "null"]
        if len(concrete) != 1:
            raise ValueError(f"cannot express anyOf {variants!r} structurally")
        merged = {**concrete[0], **node}
        if len(concrete) != len(variants):
            merged["nullable"] = True
        node = merged
    if node.get("default", 0) is None:
        del node["default"]
    for bound in ("Minimum", "Maximum"):
        exclusive = node.pop(f"exclusive{bound}", None)
        if exclusive is not None:
            node[bound.lower()] = exclusive
            node[f"exclusive{bound}"] = True
    if "const" in node:
        node["enum"] = [node.pop("const")]
    if node.get("type") == "object":
        extra = node.get("additionalProperties")
        if "properties" in node:
            node.pop("additionalProperties", None)
        elif extra is True or extra == {} or extra is None:
            node.pop("additionalProperties", None)
            node["x-kubernetes-preserve-unknown-fields"] = True
    return {k: _structural(v) for k, v in node.items()}


def openapi_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The structural OpenAPI v3 schema of a pydantic model, by alias."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    return _structural(_inline(raw, raw.get("$defs", {})))  # type: ignore[no-any-return]


def _printer_columns() -> list[dict[str, Any]]:
    ready = '.status.conditions[?(@.type=="Ready")]'
    # Ready and Reason as cert-manager shows them: a step waiting for GPUs reads
    # WaitingForResources, not only running. An empty Phase means no operator has seen the
    # task (is its namespace watched?); see docs/install.md.
    return [
        {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
        {"name": "Step", "type": "string", "jsonPath": ".status.currentStep"},
        {"name": "Progress", "type": "number", "jsonPath": ".status.progress"},
        {"name": "Ready", "type": "string", "jsonPath": f"{ready}.status"},
        {"name": "Reason", "type": "string", "jsonPath": f"{ready}.reason"},
        {"name": "Duration", "type": "string", "jsonPath": ".status.duration", "priority": 1},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        {"name": "Message", "type": "string", "jsonPath": f"{ready}.message", "priority": 1},
        {"name": "Dataset", "type": "string", "jsonPath": ".status.dataset.summary", "priority": 1},
    ]


def crd() -> dict[str, Any]:
    """The CustomResourceDefinition object for TrainingTask."""
    spec = openapi_schema(m.TrainingTaskSpec)
    status = openapi_schema(m.TrainingTaskStatus)
    spec["description"] = "What to train and which steps to run."
    step = spec["properties"]["steps"]["items"]
    step["properties"]["params"] = params_schema(step["properties"]["params"]["description"])
    step["x-kubernetes-validations"] = step_param_rules()
    status["description"] = "What happened; the record of truth for finished steps."
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{m.PLURAL}.{m.GROUP}"},
        "spec": {
            "group": m.GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": m.KIND,
                "listKind": f"{m.KIND}List",
                "plural": m.PLURAL,
                "singular": m.SINGULAR,
                "shortNames": list(m.SHORT_NAMES),
                "categories": ["sovits"],
            },
            "versions": [
                {
                    "name": m.VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": _printer_columns(),
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": "A GPT-SoVITS voice-cloning training task.",
                            "required": ["spec"],
                            "properties": {
                                "apiVersion": {"type": "string"},
                                "kind": {"type": "string"},
                                "metadata": {"type": "object"},
                                "spec": spec,
                                "status": status,
                            },
                        }
                    },
                }
            ],
        },
    }


def render() -> str:
    return HEADER + yaml.safe_dump(crd(), sort_keys=False, allow_unicode=True, width=100)
