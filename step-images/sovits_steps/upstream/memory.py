"""Telling CUDA running out of memory from upstream's other failures.

PyTorch raises it as an exception whose line reaches upstream's output: printed by the script,
carried to the parent in a spawned DDP rank's traceback (s2_train), re-raised by Lightning
(s1_train), or printed and swallowed by a feature script that then exits 0. The exception's
class moved between torch versions, so its text is what is matched:

* torch >= 2.5 (the step image has 2.7): ``torch.OutOfMemoryError: CUDA out of memory. Tried
  to allocate 2.00 GiB. GPU 0 has a total capacity of ...``
* torch 1.13 to 2.4: ``torch.cuda.OutOfMemoryError: CUDA out of memory. Tried to allocate ...``
* older torch, and kernels that check for themselves: ``RuntimeError: CUDA out of memory. ...``
* the CUDA runtime, cuBLAS or cuDNN failing to allocate: ``CUDA error: out of memory``,
  ``CUBLAS_STATUS_ALLOC_FAILED``, ``CUDNN_STATUS_ALLOC_FAILED``.

Host memory is not GPU memory: a step the kernel killed at its memory limit (OOMKilled,
SIGKILL) is an ordinary failed attempt, and so is a CPU allocator's error.
"""

from __future__ import annotations

import re

_CUDA_OUT_OF_MEMORY = re.compile(
    r"CUDA out of memory|CUDA error: out of memory|CUBLAS_STATUS_ALLOC_FAILED|CUDNN_STATUS_ALLOC_FAILED"
)
MAX_LINE = 600  # torch's message runs to about 550 characters with its advice on fragmentation


def cuda_out_of_memory(line: str) -> str | None:
    """The line, trimmed, when it says CUDA ran out of memory; else None."""
    if not _CUDA_OUT_OF_MEMORY.search(line):
        return None
    flat = " ".join(line.split())
    return flat if len(flat) <= MAX_LINE else flat[: MAX_LINE - 3] + "..."
