"""Kubernetes label syntax: validating labels and parsing/matching label selectors.

The Kubernetes store hands selectors to the API server; the local store matches them here.
Both validate with this parser first, so a bad selector is the same 422 on either backend.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from sovits_core.errors import InvalidInput

_NAME = r"([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9]"
_PREFIX = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*"
KEY = re.compile(rf"^({_PREFIX}/)?{_NAME}$")
VALUE = re.compile(rf"^({_NAME})?$")

Op = Literal["=", "!=", "in", "notin", "exists", "!"]

_TERM = re.compile(
    r"""^\s*(?:
        (?P<not>!)\s*(?P<nkey>[^\s!=,()]+)
      | (?P<key>[^\s!=,()]+)(?:
            \s*(?P<eq>==|=|!=)\s*(?P<value>[^\s!=,()]*)
          | \s+(?P<set>in|notin)\s*\((?P<values>[^()]*)\)
        )?
    )\s*$""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class Requirement:
    key: str
    op: Op
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.op == "=":
            return value in self.values
        if self.op == "!=":
            return value not in self.values
        if self.op == "in":
            return value in self.values
        if self.op == "notin":
            return value not in self.values
        if self.op == "exists":
            return present
        return not present


def validate_labels(labels: Mapping[str, str]) -> None:
    for key, value in labels.items():
        _check_key(key, "labels")
        if len(value) > 63 or not VALUE.match(value):
            raise InvalidInput(
                f"labels.{key}: {value!r} is not a label value (63 characters at most, "
                "alphanumerics, '-', '_', '.', starting and ending alphanumeric)",
                field=f"labels.{key}",
            )


def parse_selector(text: str) -> list[Requirement]:
    """A selector such as ``app=x,tier in (a,b),!legacy``; InvalidInput naming the bad term."""
    return [_requirement(term) for term in _split_terms(text) if term.strip()]


def matches(selector: list[Requirement], labels: Mapping[str, str]) -> bool:
    return all(r.matches(labels) for r in selector)


def _split_terms(text: str) -> list[str]:
    """Commas inside ``(...)`` belong to a set, not to the selector."""
    terms, depth, current = [], 0, ""
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth not in (0, 1):
            raise _bad(text, "unbalanced parentheses")
        if char == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += char
    if depth:
        raise _bad(text, "unbalanced parentheses")
    return [*terms, current]


def _requirement(term: str) -> Requirement:
    m = _TERM.match(term)
    if not m:
        raise _bad(term, "expected key, !key, key=value, key!=value, key in (...) or key notin (...)")
    if m["not"]:
        return Requirement(_check_key(m["nkey"], "label_selector"), "!")
    key = _check_key(m["key"], "label_selector")
    if m["eq"]:
        return Requirement(key, "!=" if m["eq"] == "!=" else "=", frozenset({_check_value(m["value"])}))
    if m["set"]:
        values = frozenset(_check_value(v.strip()) for v in m["values"].split(","))
        return Requirement(key, "in" if m["set"] == "in" else "notin", values)
    return Requirement(key, "exists")


def _check_key(key: str, field: str) -> str:
    name = key.rsplit("/", 1)[-1]
    if len(name) > 63 or len(key) > 317 or not KEY.match(key):
        raise InvalidInput(f"{field}: {key!r} is not a valid label key", field=field)
    return key


def _check_value(value: str) -> str:
    if len(value) > 63 or not VALUE.match(value):
        raise InvalidInput(f"label_selector: {value!r} is not a valid label value", field="label_selector")
    return value


def _bad(text: str, why: str) -> InvalidInput:
    return InvalidInput(f"label_selector: {text.strip()!r}: {why}", field="label_selector")
