"""`sovits api` as a real child process on a free loopback port, configured through env."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from tests.support.ports import free_ports
from tests.support.processes import stop_process

REPO = Path(__file__).resolve().parents[2]


class ApiProcess:
    """One `sovits api` child; ``env`` carries KUBECONFIG and the SOVITS_* settings."""

    def __init__(
        self, env: Mapping[str, str], tokens: Mapping[str, str], default_namespace: str, workdir: Path
    ) -> None:
        self.port = free_ports(1)[0]
        self.env = {
            **env,
            "SOVITS_API__TOKENS": json.dumps(dict(tokens)),
            "SOVITS_API__DEFAULT_NAMESPACE": default_namespace,
            "PYTHONUNBUFFERED": "1",
        }
        self.log = workdir / "api.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> ApiProcess:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "sovits_cli.main", "api", "--host", "127.0.0.1", "--port", str(self.port)],
                cwd=REPO, env=self.env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.tail()
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.2)
        raise TimeoutError(f"sovits api not ready after {timeout}s\n{self.tail()}")

    def stop(self) -> None:
        stop_process(self.proc)

    def tail(self, lines: int = 60) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])
