"""The CRD schema of ``spec.steps[].params``, generated from the step parameter models.

Each step has its own parameter model, so one schema cannot describe ``params`` for all steps.
The schema therefore declares every parameter name of every step with its type (the same
name has the same type in every model; generation fails otherwise), and CEL rules, one per
step and field, check what differs between steps: which names a step takes, enums and bounds.
So the API server refuses a bad value at apply time with the step and the field named.

Declared properties matter twice: CEL can only read declared fields (unknown fields kept by
x-kubernetes-preserve-unknown-fields are invisible to it), and a name no step knows (a typo)
is an unknown field, which kubectl refuses (its default, strict field validation) and other
clients are warned about while the API server drops it. Checks across fields (slice_audio's
``min_length >= min_interval``) stay with the models and fail the step at its start.
"""

from __future__ import annotations

import json
from typing import Any

from .catalog import CATALOG, StepDef

_WORDS = {
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "string": "a string",
    "array": "a list",
}


def _literal(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _fields(definition: StepDef) -> dict[str, tuple[dict[str, Any], bool]]:
    """Every accepted name of a step's parameters (field names and aliases): (schema, nullable)."""
    schema = definition.params.model_json_schema(by_alias=True, mode="validation")
    found = {}
    for field_name, field in definition.params.model_fields.items():
        prop = schema["properties"][field.alias or field_name]
        variants = prop.get("anyOf", [prop])
        concrete = [v for v in variants if v.get("type") != "null"]
        if len(concrete) != 1:
            raise ValueError(f"{definition.name}.{field_name}: cannot express {prop!r} in the CRD")
        merged = {**concrete[0], **({"description": prop["description"]} if "description" in prop else {})}
        for name in dict.fromkeys(filter(None, (field_name, field.alias))):
            found[name] = (merged, len(concrete) != len(variants))
    return found


def params_schema(description: str) -> dict[str, Any]:
    """The structural schema of ``params``: every step's parameter names, typed."""
    properties: dict[str, dict[str, Any]] = {}
    for definition in CATALOG.values():
        for name, (schema, nullable) in _fields(definition).items():
            prop = properties.setdefault(name, {"type": schema["type"], "description": ""})
            if schema["type"] == "array":  # structural: the item type, and a bound for CEL's cost estimate
                prop |= {"items": {"type": schema["items"]["type"]}, "maxItems": schema["maxItems"]}
            if prop["type"] != schema["type"]:
                raise ValueError(
                    f"params.{name} is {prop['type']} in one step and {schema['type']} in {definition.name}"
                )
            if nullable:
                prop["nullable"] = True
            about = schema.get("description", "")
            prop["description"] = f"{prop['description']} {definition.name}: {about}".strip()
    return {"type": "object", "description": description, "properties": dict(sorted(properties.items()))}


def _check(schema: dict[str, Any], v: str) -> tuple[str, str]:
    """A CEL condition on the value ``v`` (its type is the schema's business) and its wording."""
    kind = schema["type"]
    parts, words = [], _WORDS[kind]
    if "enum" in schema:
        parts.append(f"{v} in {_literal(schema['enum'])}")
        words = "one of " + ", ".join(str(e) for e in schema["enum"])
    if kind == "array" and "enum" in schema["items"]:
        parts.append(f"{v}.all(x, x in {_literal(schema['items']['enum'])})")
        words = "a list of " + ", ".join(str(e) for e in schema["items"]["enum"])
    number = f"double({v})" if kind == "number" else v
    bounds = []
    for key, op in (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="), ("exclusiveMaximum", "<")):
        if key in schema:
            parts.append(f"{number} {op} {schema[key]}")
            bounds.append(f"{op} {schema[key]}")
    for key, op, says in (("minLength", ">=", "at least"), ("maxLength", "<=", "at most")):
        if key in schema:
            parts.append(f"size({v}) {op} {schema[key]}")
            bounds.append(f"{says} {schema[key]} characters")
    if bounds:
        words += " " + " and ".join(bounds)
    return " && ".join(parts), words


def _step_rules(definition: StepDef, every_name: list[str]) -> list[dict[str, str]]:
    fields = _fields(definition)
    applies = f"self.name != {_literal(definition.name)} || !has(self.params)"
    foreign = [name for name in every_name if name not in fields]
    present = [f"has(self.params.{name})" for name in foreign]
    # Plain concatenation of short literals: list macros and join() exceed the API server's cost budget.
    named = " + ".join(f'(has(self.params.{name}) ? {_literal(name + " ")} : "")' for name in foreign)
    rules = [
        {
            "rule": f"{applies} || !({' || '.join(present)})",
            "messageExpression": f"{_literal(definition.name + ' params: ')} + {named}"
            f" + {_literal('not a parameter of this step; it takes: ' + ', '.join(fields))}",
            "fieldPath": ".params",
        }
    ]
    for name, (schema, _) in fields.items():
        condition, words = _check(schema, f"self.params.{name}")
        if not condition:
            continue  # the type alone, which the schema checks
        about = f" ({schema['description']})" if schema.get("description") else ""
        rules.append(
            {
                "rule": f"{applies} || !has(self.params.{name}) || ({condition})",
                "message": f"{definition.name} params.{name}: must be {words}{about}",
                "fieldPath": ".params",
            }
        )
    return rules


def step_param_rules() -> list[dict[str, str]]:
    """x-kubernetes-validations for one item of spec.steps: per step, foreign names, then each field."""
    every_name = sorted({name for definition in CATALOG.values() for name in _fields(definition)})
    return [rule for definition in CATALOG.values() for rule in _step_rules(definition, every_name)]
