"""The batch size a step runs with, and the smaller one to try after CUDA ran out of memory.

Only upstream's two trainers read a batch size (``train.batch_size`` of s2_train's JSON config
and of s1_train's YAML config, set from the step's ``batch_size`` param or ``spec.batchSize``).
The feature scripts and inference take one clip at a time, so there is nothing to halve: an
out-of-memory failure there is an ordinary failed attempt.
"""

from __future__ import annotations

from .model import TrainingTaskSpec
from .params import StepParams, TrainGptParams, TrainSovitsParams


def first_batch_size(spec: TrainingTaskSpec, params: StepParams) -> int | None:
    """What the step's first run uses: its ``batch_size`` param, else ``spec.batchSize``;
    None for a step without a batch size."""
    if not isinstance(params, (TrainSovitsParams, TrainGptParams)):
        return None
    return params.batch_size or spec.batch_size


def with_batch_size(params: StepParams, size: int | None) -> StepParams:
    """``params`` with ``batch_size`` set to ``size`` (a step without a batch size unchanged)."""
    if size is None or not isinstance(params, (TrainSovitsParams, TrainGptParams)):
        return params
    return params.model_copy(update={"batch_size": size})


def halved(size: int) -> int | None:
    """Half of ``size``, rounded down; None at 1, where there is nothing smaller to try."""
    return size // 2 if size > 1 else None
