"""Starting an upstream script and following its output."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from sovits_steps.upstream import process


def test_output_splits_on_newlines_and_tqdm_carriage_returns() -> None:
    chunks = [b"start\n 10%|#\r 50", b"%|##\r100%|###\r\nTrain Epoch: 1 [0%]\n", "\u4f60\u597d".encode()]
    assert list(process.split_output(iter(chunks))) == [
        ("start", False), (" 10%|#", True), (" 50%|##", True), ("100%|###", False),
        ("Train Epoch: 1 [0%]", False), ("你好", False),
    ]  # fmt: skip


def test_the_reason_is_the_last_exception_line() -> None:
    tail = ["Traceback (most recent call last):", '  File "x.py"', "torch.OutOfMemoryError: CUDA out of memory.", "bye"]
    assert process.last_error(tail) == "torch.OutOfMemoryError: CUDA out of memory."
    assert process.last_error(["just this"]) == "just this"


def test_the_command_is_python_minus_s_as_webui_starts_it() -> None:
    argv = process.command("GPT_SoVITS/s1_train.py", "-c", "x")
    assert argv == [sys.executable, "-s", "GPT_SoVITS/s1_train.py", "-c", "x"]


def test_workers_left_behind_are_stopped_so_the_output_ends(tmp_path: Path) -> None:
    """A child that outlives the script keeps the pipe open; run() must still return."""
    script = tmp_path / "leaves_a_worker.py"
    pid_file = tmp_path / "worker.pid"
    script.write_text(
        "import subprocess, sys\n"
        f"p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(p.pid))\n"
        "print('done', flush=True)\n"
    )
    lines: list[str] = []
    outcome = process.run([sys.executable, str(script)], cwd=tmp_path, env=dict(os.environ), on_line=lines.append)
    assert outcome.returncode == 0 and lines == ["done"]
    worker = int(pid_file.read_text())
    for _ in range(100):  # SIGKILL is delivered asynchronously
        if not running(worker):
            break
        time.sleep(0.05)
    assert not running(worker)


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"
