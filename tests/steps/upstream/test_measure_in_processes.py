"""The dataset report's measuring processes are forked from asr_transcribe after its ASR backend
ran: in upstream's interpreter, with torch's OpenMP threads started and a Python thread busy
logging (as the step's progress reporter is), two forked processes measure the clips as one
process does, and none of them hangs on a lock another thread held at the fork."""

from __future__ import annotations

import json

import pytest

from tests.support import forked_measure
from tests.support.upstream import run

pytestmark = [pytest.mark.upstream, pytest.mark.timeout(300)]

BUSY_THREADS = """
import logging, threading, torch
torch.set_num_threads(2)
x = torch.randn(256, 256)
for _ in range(20):
    x = torch.tanh(x @ x)  # torch's intra-op threads now exist
logging.basicConfig(level=logging.INFO, handlers=[logging.NullHandler()])
def chatter():
    while True:
        logging.getLogger("progress").info("uploading progress")
threading.Thread(target=chatter, daemon=True).start()
"""


def test_clips_measured_in_processes_forked_beside_torch_and_logging_threads_measure_as_in_one() -> None:
    proc = run("-c", forked_measure.script(BUSY_THREADS), timeout=120)
    got = json.loads(proc.stdout.splitlines()[-1])
    assert {k: got[k] for k in ("forks", "clips", "same")} == {"forks": 2, "clips": 40, "same": True}
