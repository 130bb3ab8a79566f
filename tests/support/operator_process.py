"""`sovits operator` as a real child process, and waiting helpers for the cluster tests."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

from tests.support.cluster import ClusterInfo, get_json
from tests.support.ports import free_ports
from tests.support.processes import stop_process, wait_for
from tests.support.seaweed import S3Store

REPO = Path(__file__).resolve().parents[2]

# Fast clocks so failures, retries and the unschedulable verdict show within seconds.
OPERATOR_ENV = {
    "SOVITS_OPERATOR__MAX_ATTEMPTS": "2",
    "SOVITS_OPERATOR__RETRY_BACKOFF_S": "0.5",
    "SOVITS_OPERATOR__UNSCHEDULABLE_AFTER_S": "2",
    "SOVITS_OPERATOR__PROGRESS_INTERVAL_S": "1",
    "SOVITS_OPERATOR__JOB_TTL_S": "600",
    "SOVITS_OPERATOR__DELETE_STORAGE_ON_DELETE": "true",
    "SOVITS_OPERATOR__STORAGE_CLEANUP_ATTEMPTS": "2",
    "SOVITS_OPERATOR__METRICS_HOST": "127.0.0.1",
}


class OperatorProcess:
    """One `sovits operator` child (``--all-namespaces`` unless told); restartable, logs kept in a file.

    ``env`` replaces the default settings environment (the store's and OPERATOR_ENV), for a
    test that configures the operator another way (step placement, the chart's settings file,
    another kubeconfig); the metrics port is always a free one.
    """

    def __init__(
        self,
        cluster: ClusterInfo,
        store: S3Store | None,
        workdir: Path,
        *,
        env: Mapping[str, str] | None = None,
        args: Sequence[str] = ("--all-namespaces",),
    ) -> None:
        self.port = free_ports(1)[0]
        if env is None:
            assert store is not None, "the default settings need the store"
            env = {**store.env(), **OPERATOR_ENV}
        self.env = {**cluster.env, **env, "SOVITS_OPERATOR__METRICS_PORT": str(self.port), "PYTHONUNBUFFERED": "1"}
        self.args = list(args)
        self.log = workdir / "operator.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "sovits_cli.main", "operator", *self.args],
                cwd=REPO, env=self.env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        self.wait_healthy()

    def wait_healthy(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None and self.proc.poll() is None, self.tail()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise TimeoutError(f"operator not healthy after {timeout}s\n{self.tail()}")

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as r:
            return str(r.read().decode())

    def kill(self) -> None:
        """SIGKILL: no graceful shutdown, as when a node dies under the operator."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        stop_process(self.proc)

    def tail(self, lines: int = 60) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


__all__ = ["OPERATOR_ENV", "OperatorProcess", "get_json", "wait_for"]
