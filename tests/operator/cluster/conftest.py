"""Fixtures of the operator's cluster tests: per-test kwok Stages (the operator comes from tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.support.cluster import ClusterInfo


@pytest.fixture
def stages(cluster: ClusterInfo) -> Iterator[Callable[[dict[str, Any]], None]]:
    """Add kwok Stages for one test; they are removed afterwards."""
    names: list[str] = []

    def add(stage: dict[str, Any]) -> None:
        cluster.apply(stage)
        names.append(stage["metadata"]["name"])

    yield add
    for name in names:
        cluster.kubectl("delete", "stage", name, "--ignore-not-found")
