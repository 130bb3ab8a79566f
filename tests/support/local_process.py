"""`sovits local` as a real child process on a free loopback port, restartable on the same data."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import requests

from sovits_api.client import TrainingClient
from tests.support.ports import free_ports
from tests.support.processes import stop_process, wait_for

REPO = Path(__file__).resolve().parents[2]


class LocalService:
    """One `sovits local` child process on a free loopback port, restartable on the same data."""

    def __init__(self, data_dir: Path, max_parallel: int = 2, settings_env: Mapping[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.settings_env = dict(settings_env or {})  # SOVITS_* settings; none from the outer environment
        self.port = free_ports(1)[0]
        self.max_parallel = max_parallel
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = data_dir.parent / f"{data_dir.name}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self) -> TrainingClient:
        return TrainingClient(f"{self.url}/api/v1", progress=False)

    def start(self) -> LocalService:
        args = [sys.executable, "-m", "sovits_cli.main", "local", "--port", str(self.port),
                "--data-dir", str(self.data_dir), "--max-parallel", str(self.max_parallel)]  # fmt: skip
        env = {k: v for k, v in os.environ.items() if not k.startswith("SOVITS_")} | self.settings_env
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(args, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
        wait_for(self._up, timeout=30, what="sovits local answering")
        return self

    def _up(self) -> bool:
        assert self.proc is not None and self.proc.poll() is None, self.log.read_text()[-3000:]
        try:
            return requests.get(self.url + "/", timeout=1).status_code == 200
        except requests.ConnectionError:
            return False

    def kill(self) -> None:
        """SIGKILL: the service dies without cleaning up, as on a power cut or OOM kill."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        stop_process(self.proc, grace=30)
        # A test that failed between freezing a step and the restart that reaps it would leave
        # that step (its own process group) stopped for ever: end whatever still runs in our runs.
        for pid in steps_under(self.data_dir):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)


def steps_under(data_dir: Path) -> list[int]:
    """Processes whose working directory is inside ``data_dir`` (a step runs in its run folder)."""
    root = str(data_dir.resolve())
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cwd = os.readlink(entry / "cwd").removesuffix(" (deleted)")
        except OSError:
            continue
        if cwd == root or cwd.startswith(root + "/"):
            found.append(int(entry.name))
    return found


def step_pids(task_id: str, step: str) -> list[int]:
    """Live processes running `sovits step STEP --task TASK_ID`."""
    wanted = ["step", step, "--task", task_id]
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and any(argv[i : i + 4] == wanted for i in range(len(argv))):
            pids.append(int(entry.name))
    return pids


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def frozen_step(task_id: str, step: str) -> int:
    """Wait for the step's process and freeze it (SIGSTOP), so the test decides when it ends."""
    pids = wait_for(lambda: step_pids(task_id, step), what=f"{step} process", interval=0.02)
    os.kill(pids[0], signal.SIGSTOP)
    return int(pids[0])
