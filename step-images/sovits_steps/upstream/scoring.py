"""The quality score of test_inference's sentence (``quality.py``), with the task's ASR.

The score never fails the step: the sentence is there either way. When the ASR cannot run
(its model is not in the model store, its package is not installed, it has no model for the
language) the error rate is left out and ``asr_error`` says why.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import soundfile as sf

from sovits_core.dataset import CEPSTRAL
from sovits_core.errors import SovitsError
from sovits_core.model import QualityScore
from sovits_core.params import AsrTranscribeParams, TestInferenceParams
from sovits_steps import asr, quality, speaker
from sovits_steps.context import StepContext

from . import speaker_model

log = logging.getLogger(__name__)

# The CLI's target labels as the language whose pace and error metric apply; the multilingual
# mode takes the task's language.
LABEL_LANGUAGES = {"中文": "zh", "英文": "en", "日文": "ja", "中英混合": "zh", "日英混合": "ja"}


def for_status(score: dict[str, Any]) -> dict[str, Any] | None:
    """The numbers of ``score`` the task's status records (status.quality), as the resource spells them."""
    if "error" in score:
        return None
    return QualityScore.model_validate({k: score[k] for k in QualityScore.model_fields}).wire()


def in_words(score: dict[str, Any]) -> str:
    """One line for the step's summary."""
    if "error" in score:
        return f"not scored: {score['error']}"
    heard = (
        "no error rate" if score["error_rate"] is None else f"{score['error_metric'].upper()} {score['error_rate']:.2f}"
    )
    return f"speaker similarity {score['speaker_similarity']:.2f}, {heard}, pace {score['pace']}"


def language_of(target_label: str, task_language: str) -> str:
    return LABEL_LANGUAGES.get(target_label, task_language)


def score_sentence(
    ctx: StepContext, params: TestInferenceParams, reference: Path, sentence: Path, language: str
) -> dict[str, Any]:
    """The score as the report and the status show it."""
    heard, backend, problem = None, None, None
    if params.asr_backend != "none":
        backend = asr.choose_backend(params.asr_backend, language)
        try:
            transcribe = asr.BACKENDS[backend](ctx, language, AsrTranscribeParams.model_validate({"backend": backend}))
            heard = transcribe(sentence)
        except SovitsError as exc:
            problem = exc.message
            log.warning("quality score without an error rate: %s", problem)
    voices = None
    try:  # two files: the model costs seconds even on the CPU
        embedded, why = speaker_model.embed_files(ctx, [reference, sentence])
        voices = (speaker_model.MODEL, speaker.similarity(*embedded))
    except SovitsError as exc:
        why = exc.message
    log.info("speaker similarity by %s: %s", voices[0] if voices else CEPSTRAL, why)
    ref, ref_rate = sf.read(str(reference), dtype="float32", always_2d=True)
    out, out_rate = sf.read(str(sentence), dtype="float32", always_2d=True)
    try:
        found = quality.score(ref.mean(axis=1), ref_rate, out.mean(axis=1), out_rate, params.target_text, language,
                              heard, voices)  # fmt: skip
    except ValueError as exc:  # a target text of punctuation alone has nothing to score against
        return {"language": language, "asr_backend": backend, "error": str(exc)}
    body = {"language": language, "asr_backend": backend, **found.as_dict()}
    if problem is not None:
        body["asr_error"] = problem
    return body
