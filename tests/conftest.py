"""Session fixtures that start real services: the SeaweedFS S3 store and the kwok control plane."""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from sovits_core import contract as c
from sovits_core.storage import LocalObjectStore, TaskFiles
from tests.support import disk
from tests.support.cluster import Cluster, ClusterInfo, NodeAgentProcess
from tests.support.operator_process import OPERATOR_ENV, OperatorProcess
from tests.support.real_node import RealNode, RealNodeCluster
from tests.support.seaweed import S3Store, SeaweedFS


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> Generator[None]:
    """The failed tests' names once more, last: on CI the short summary prints each assertion
    message whole, and one long diff can push every name out of a log's tail."""
    result = yield
    failed = [report.nodeid for kind in ("failed", "error") for report in terminalreporter.stats.get(kind, [])]
    if failed:
        terminalreporter.write_sep("=", f"{len(failed)} failed (names only)")
        for nodeid in failed:
            terminalreporter.write_line(nodeid)
    return result


@pytest.fixture(scope="session")
def s3_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Store]:
    """A SeaweedFS S3 endpoint on loopback with auth on and the bucket created."""
    server = SeaweedFS(tmp_path_factory.mktemp("seaweedfs"))
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture
def s3_prefix() -> str:
    """A key prefix no other test uses."""
    return f"test-{uuid.uuid4().hex[:12]}/"


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterInfo]:
    """The real control plane with fake GPU nodes (4 x 8 nvidia.com/gpu, 2 CPU-only) and the CRD.

    Started once per test run; tests isolate themselves with their own namespace.
    """
    control_plane = Cluster(tmp_path_factory.mktemp("cluster"))
    try:
        yield control_plane.start()
    finally:
        control_plane.stop()


@pytest.fixture
def namespace(cluster: ClusterInfo) -> Iterator[str]:
    """A fresh namespace on the test cluster, deleted afterwards (without waiting)."""
    name = cluster.create_namespace()
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false")


@pytest.fixture(scope="session")
def node_agent(cluster: ClusterInfo, tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeAgentProcess]:
    """A real node (tests/support/node_agent.py) that runs pods tolerating it as local processes."""
    agent = NodeAgentProcess(cluster, tmp_path_factory.mktemp("node-agent"))
    try:
        yield agent.start()
    finally:
        agent.stop()


@pytest.fixture(scope="session")
def real_node(s3_store: S3Store, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealNodeCluster]:
    """A control plane of its own with one real node (containerd, runc, kubelet, kube-proxy in
    namespaces the test creates) and SeaweedFS reachable from its pods.

    Needs hack/node.sh once; without it this is an error saying so. Teardown fails if the
    machine's kernel settings, iptables, cgroups or paths differ from before the node started.
    """
    node = RealNode(tmp_path_factory.mktemp("real-node"))
    control_plane: Cluster | None = None
    try:
        node.create_namespaces()
        control_plane = node.control_plane(tmp_path_factory.mktemp("real-node-cluster"))
        info = control_plane.start()
        node.start(control_plane, forwards=[info.api_port, s3_store.port])
        yield RealNodeCluster(info, node, s3_store)
    finally:
        changed = node.stop()
        if control_plane is not None:
            control_plane.stop()
    assert not changed, f"the real node left the machine changed: {changed}"


def _operator(workdir: Path, cluster: ClusterInfo, env: dict[str, str]) -> Iterator[OperatorProcess]:
    running = OperatorProcess(cluster, None, workdir, env=env)
    running.start()
    try:
        yield running
    finally:
        running.stop()


# Module scope for both: only one operator may watch all namespaces at a time, and pytest
# finishes one module's fixtures before the next module's start.


@pytest.fixture(scope="module")
def operator(
    cluster: ClusterInfo, s3_store: S3Store, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    """`sovits operator --all-namespaces` with fast clocks; kwok's fake nodes finish its pods."""
    yield from _operator(tmp_path_factory.mktemp("operator"), cluster, {**s3_store.env(), **OPERATOR_ENV})


@pytest.fixture(scope="module")
def operator_on_agent(
    cluster: ClusterInfo, s3_store: S3Store, node_agent: NodeAgentProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    """The operator placing every step pod on the node agent's real node, so steps really run."""
    placement = {
        "SOVITS_OPERATOR__STEP_NODE_SELECTOR": json.dumps(node_agent.node_selector),
        "SOVITS_OPERATOR__STEP_TOLERATIONS": json.dumps([node_agent.TOLERATION]),
    }
    env = {**s3_store.env(), **OPERATOR_ENV, **placement}
    yield from _operator(tmp_path_factory.mktemp("operator"), cluster, env)


@pytest.fixture
def stages(cluster: ClusterInfo) -> Iterator[Callable[[dict[str, Any]], None]]:
    """Add kwok Stages (cluster-wide) for one test; they are removed afterwards."""
    names: list[str] = []

    def add(stage: dict[str, Any]) -> None:
        cluster.apply(stage)
        names.append(stage["metadata"]["name"])

    yield add
    for name in names:
        cluster.kubectl("delete", "stage", name, "--ignore-not-found")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[pytest.TestReport]:
    """A failing test that ran beside an operator shows the operator's log tail."""
    report: pytest.TestReport = yield
    if report.when == "call" and report.failed:
        for running in getattr(item, "funcargs", {}).values():
            if isinstance(running, OperatorProcess):
                report.sections.append(("operator log (tail)", running.tail(120)))
    return report


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark tests by the real services they use, so `-m "not cluster"` selects the fast ones."""
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        if {"cluster", "node_agent", "real_node"} & set(fixtures) and item.get_closest_marker("cluster") is None:
            item.add_marker(pytest.mark.cluster)
        if "real_node" in fixtures and item.get_closest_marker("real_node") is None:
            item.add_marker(pytest.mark.real_node)
        if "s3_store" in fixtures and item.get_closest_marker("s3") is None:
            item.add_marker(pytest.mark.s3)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Stop before the first test when the temporary directory cannot hold what the chosen tests write."""
    if session.config.option.collectonly or not session.items:
        return
    markers = {mark.name for item in session.items for mark in item.iter_markers()} & set(disk.NEEDS_BY_MARKER)
    given = session.config.option.basetemp
    # Where pytest will write: --basetemp's parent, else its own root (PYTEST_DEBUG_TEMPROOT or TMPDIR).
    default = os.environ.get("PYTEST_DEBUG_TEMPROOT") or tempfile.gettempdir()
    root = Path(given).resolve().parent if given else Path(default)
    missing = disk.shortfall(disk.existing(root), markers, disk.free_bytes)
    if missing is not None:
        pytest.exit(missing.message(markers), returncode=pytest.ExitCode.USAGE_ERROR)


@pytest.fixture(scope="session")
def transcribed(tmp_path_factory: pytest.TempPathFactory) -> TaskFiles:
    """A task prefix after a real asr_transcribe over the problem clips (uploaded list)."""
    from sovits_steps.runner import run_step
    from tests.support.dataset import UPLOADED_LIST, uploaded_list, write_cases

    root = tmp_path_factory.mktemp("transcribed")
    files = TaskFiles(LocalObjectStore(root / "store"), "tasks/t/")
    for name, path in write_cases(root / "clips").items():
        files.put_file(f"{c.TRANSCRIBED_CLIPS}/{name}", path)
    files.put_bytes(UPLOADED_LIST, uploaded_list())
    env = {
        c.ENV_TASK_ID: "t",
        c.ENV_PARAMS: '{"backend": "pocketsphinx"}',
        c.ENV_SPEC: '{"expName": "alice", "language": "en"}',
        c.ENV_PREFIX: files.prefix,
        c.ENV_TERMINATION_LOG: str(root / "termination"),
    }
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SOVITS_STORAGE__BACKEND", "local")
        mp.setenv("SOVITS_STORAGE__LOCAL_ROOT", str(root / "store"))
        mp.delenv("SOVITS_CONFIG_FILE", raising=False)
        assert run_step("asr_transcribe", "t", env) == c.EXIT_OK, (root / "termination").read_text()
    return files
