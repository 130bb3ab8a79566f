from __future__ import annotations

import pytest

from sovits_api.labels import matches, parse_selector, validate_labels
from sovits_core.errors import InvalidInput


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ("team=voice", {"team": "voice"}, True),
        ("team==voice", {"team": "audio"}, False),
        ("team!=voice", {}, True),
        ("tier in (a, b)", {"tier": "b"}, True),
        ("tier notin (a,b)", {"tier": "a"}, False),
        ("gpu", {"gpu": ""}, True),
        ("!legacy", {"legacy": "1"}, False),
        ("sovits.io/owner=me,tier in (a)", {"sovits.io/owner": "me", "tier": "a"}, True),
        ("", {"anything": "x"}, True),
    ],
)
def test_selector_matches_like_kubernetes(selector: str, labels: dict[str, str], expected: bool) -> None:
    assert matches(parse_selector(selector), labels) is expected


@pytest.mark.parametrize("selector", ["a b", "tier in (a", "a=b=c", "-a=b", "a=" + "x" * 64])
def test_bad_selector_is_invalid_input_on_the_selector(selector: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        parse_selector(selector)
    assert exc.value.field == "label_selector"


def test_bad_label_value_names_the_label() -> None:
    with pytest.raises(InvalidInput) as exc:
        validate_labels({"team": "not valid!"})
    assert exc.value.field == "labels.team"
