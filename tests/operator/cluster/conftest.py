"""Fixtures of the operator's cluster tests: the operator process and per-test kwok Stages."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.support.cluster import ClusterInfo
from tests.support.operator_process import OperatorProcess
from tests.support.seaweed import S3Store


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[pytest.TestReport]:
    report: pytest.TestReport = yield
    running = item.funcargs.get("operator") if hasattr(item, "funcargs") else None
    if report.when == "call" and report.failed and isinstance(running, OperatorProcess):
        report.sections.append(("operator log (tail)", running.tail(120)))
    return report


@pytest.fixture(scope="module")
def operator(
    cluster: ClusterInfo, s3_store: S3Store, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    running = OperatorProcess(cluster, s3_store, tmp_path_factory.mktemp("operator"))
    running.start()
    try:
        yield running
    finally:
        running.stop()


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
