"""The runner's entry point for the model steps: ``run(ctx)`` picks the step by name."""

from __future__ import annotations

from collections.abc import Callable

from sovits_core.errors import InvalidInput
from sovits_steps.context import StepContext, StepResult

from . import features, inference, training

STEPS: dict[str, Callable[[StepContext], StepResult]] = {
    "extract_text_features": features.extract_text_features,
    "extract_audio_features": features.extract_audio_features,
    "extract_speaker_vectors": features.extract_speaker_vectors,
    "extract_semantic_features": features.extract_semantic_features,
    "train_sovits": training.train_sovits,
    "train_gpt": training.train_gpt,
    "test_inference": inference.synthesize,
}


def run(ctx: StepContext) -> StepResult:
    try:
        step = STEPS[ctx.step]
    except KeyError:
        raise InvalidInput(f"step {ctx.step} is not a model step", field="step") from None
    return step(ctx)
