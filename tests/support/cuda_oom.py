"""Output of upstream's scripts when CUDA runs out of memory, as the step reads it.

There is no GPU here to provoke one, so these are written out in the shapes torch prints:
the allocator's message is torch 2.7's text (``c10/cuda/CUDACachingAllocator.cpp``: "Tried to
allocate ... GPU 0 has a total capacity of ...", with its advice on fragmentation) with the
figures of a 24 GiB card, and the frames around it are those of the script that raises it
(``s2_train.py`` spawns its ranks, so the parent prints the rank's traceback inside a
``ProcessRaisedException``, as upstream issue RVC-Boss/GPT-SoVITS#221 shows). The older
spellings are what torch 1.13-2.4 and the CUDA runtime print; upstream's users post them.
"""

from __future__ import annotations

# torch >= 2.5 (the step image's 2.7): the caching allocator's OutOfMemoryError.
TORCH_27_ALLOCATOR = (
    "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 1.53 GiB. GPU 0 has a total capacity of "
    "23.55 GiB of which 1.09 GiB is free. Including non-PyTorch memory, this process has 22.45 GiB memory in use. "
    "Of the allocated memory 21.71 GiB is allocated by PyTorch, and 285.04 MiB is reserved by PyTorch but "
    "unallocated. If reserved but unallocated memory is large try setting "
    "PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True to avoid fragmentation.  See documentation for Memory "
    "Management  (https://pytorch.org/docs/stable/notes/cuda.html#environment-variables)"
)

# s2_train.py: rank 0 ran out of memory; mp.spawn re-raises in the parent, which exits 1.
S2_TRAIN_SPAWNED_RANK = "\n".join([
    "Traceback (most recent call last):",
    '  File "/opt/GPT-SoVITS/GPT_SoVITS/s2_train.py", line 702, in <module>',
    "    main()",
    '  File "/opt/GPT-SoVITS/GPT_SoVITS/s2_train.py", line 55, in main',
    "    mp.spawn(",
    '  File "/opt/venv/lib/python3.11/site-packages/torch/multiprocessing/spawn.py", line 216, in join',
    "    raise ProcessRaisedException(msg, error_index, failed_process.pid)",
    "torch.multiprocessing.spawn.ProcessRaisedException: ",
    "",
    "-- Process 0 terminated with the following error:",
    "Traceback (most recent call last):",
    '  File "/opt/venv/lib/python3.11/site-packages/torch/multiprocessing/spawn.py", line 90, in _wrap',
    "    fn(i, *args)",
    '  File "/opt/GPT-SoVITS/GPT_SoVITS/s2_train.py", line 299, in run',
    "    train_and_evaluate(",
    '  File "/opt/GPT-SoVITS/GPT_SoVITS/s2_train.py", line 421, in train_and_evaluate',
    "    scaler.scale(loss_gen_all).backward()",
    TORCH_27_ALLOCATOR,
])  # fmt: skip

# torch 1.13 to 2.4 named the class under torch.cuda and worded the figures differently.
TORCH_2_ALLOCATOR = (
    "torch.cuda.OutOfMemoryError: CUDA out of memory. Tried to allocate 20.00 MiB (GPU 0; 4.00 GiB total "
    "capacity; 3.36 GiB already allocated; 0 bytes free; 3.41 GiB reserved in total by PyTorch) If reserved "
    "memory is >> allocated memory try setting max_split_size_mb to avoid fragmentation.  See documentation for "
    "Memory Management and PYTORCH_CUDA_ALLOC_CONF"
)

# The CUDA runtime itself (a kernel launch or context creation), and cuBLAS's handle.
CUDA_RUNTIME = "RuntimeError: CUDA error: out of memory"
CUBLAS = "RuntimeError: CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`"

# Failures that are not CUDA memory: host memory, NCCL, an ordinary bug.
NOT_CUDA_MEMORY = (
    "RuntimeError: [enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: not enough memory: "
    "you tried to allocate 3221225472 bytes.",
    "RuntimeError: NCCL error in: ../torch/csrc/distributed/c10d/NCCLUtils.hpp:317, unhandled system error",
    "OSError: [Errno 12] Cannot allocate memory",
    "AssertionError: too few items",
    "Train Epoch: 3 [45%]",
)
