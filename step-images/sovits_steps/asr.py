"""asr_transcribe: transcribe the denoised clips into ``transcripts/denoised.list``.

An uploaded ``.list`` (in ``input_audio/`` or ``transcripts/``) replaces recognition: it is
validated against the clips and rewritten in our canonical form. Otherwise a backend runs:
``pocketsphinx`` (its bundled English model, CPU, offline), ``faster-whisper`` or ``funasr``
(models from the model store only; see ``models``). ``auto`` picks funasr for zh/yue and
faster-whisper otherwise, as upstream does. Clips a backend hears nothing in are left out
of the list, as upstream does; if none remain the step fails as bad input.

At its end the step measures every clip (``measure``) into ``reports/dataset-audio.json``,
so the dataset report exists as soon as the transcript does, before any GPU step. Speaker
similarity comes from upstream's v2Pro speaker-verification model when the model store and the
checkout have it (``upstream/speaker_model.py``), else from the cepstral embedding.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from sovits_core import contract, dataset
from sovits_core.errors import InvalidInput
from sovits_core.params import AsrTranscribeParams
from sovits_core.transcripts import LANGUAGES, Line, format_list, parse_list

from . import models
from .audio import SLICE_RATE, read_pcm16
from .context import StepContext, StepResult
from .measure import SpeakerEmbeddings, measure_all
from .upstream import speaker_model

log = logging.getLogger(__name__)

CLIPS = contract.TRANSCRIBED_CLIPS
OUTPUT = contract.TRANSCRIPTS
LIST_NAME = contract.ASR_TRANSCRIPT_KEY.removeprefix(f"{OUTPUT}/")
REPORTS, AUDIO_NAME = contract.DATASET_AUDIO_KEY.split("/")
UPLOAD_FOLDERS = (contract.INPUT_AUDIO, OUTPUT)
SILENT_PEAK = round(32768 * 10 ** (-50 / 20))  # -50 dBFS

Transcriber = Callable[[Path], str]


def pocketsphinx_backend(ctx: StepContext, language: str, params: AsrTranscribeParams) -> Transcriber:
    if language != "en":
        raise InvalidInput(
            f"backend: pocketsphinx has only an English model, the language is {language}", field="backend"
        )
    from pocketsphinx import Decoder

    decoder = Decoder(samprate=16000, loglevel="FATAL")

    def transcribe(clip: Path) -> str:
        decoder.start_utt()
        decoder.process_raw(read_pcm16(clip, 16000).tobytes(), full_utt=True)
        decoder.end_utt()
        hyp = decoder.hyp()
        return str(hyp.hypstr) if hyp is not None else ""

    return transcribe


def faster_whisper_backend(ctx: StepContext, language: str, params: AsrTranscribeParams) -> Transcriber:
    path = ctx.models.fetch(models.FASTER_WHISPER.format(size=params.model_size), field="model_size")
    whisper: Any = _require("faster_whisper", "faster-whisper")
    model = whisper.WhisperModel(str(path), device="auto", compute_type=params.precision)

    def transcribe(clip: Path) -> str:
        segments, _ = model.transcribe(
            str(clip),
            language=language,
            beam_size=5,
            vad_filter=True,
            vad_parameters={"min_silence_duration_ms": 700},
        )
        return "".join(segment.text for segment in segments).strip()

    return transcribe


def funasr_backend(ctx: StepContext, language: str, params: AsrTranscribeParams) -> Transcriber:
    if language == "yue":
        model_dir, vad_dir = ctx.models.fetch(models.FUNASR_YUE, field="backend"), None
    else:
        model_dir = ctx.models.fetch(models.FUNASR_NANO, field="backend")
        vad_dir = ctx.models.fetch(models.FUNASR_VAD, field="backend")
    funasr: Any = _require("funasr", "funasr")
    options: dict[str, Any] = {"model": str(model_dir), "disable_update": True, "trust_remote_code": True}
    if vad_dir is not None:
        options["vad_model"] = str(vad_dir)
    model = funasr.AutoModel(**options)

    def transcribe(clip: Path) -> str:
        result = model.generate(input=str(clip), language=language)
        return str(result[0].get("text", "")).strip() if result else ""

    return transcribe


def _require(module: str, package: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise InvalidInput(f"backend: {package} is not installed in this step image", field="backend") from None


BACKENDS: dict[str, Callable[[StepContext, str, AsrTranscribeParams], Transcriber]] = {
    "pocketsphinx": pocketsphinx_backend,
    "faster-whisper": faster_whisper_backend,
    "funasr": funasr_backend,
}


def choose_backend(backend: str, language: str) -> str:
    if backend != "auto":
        return backend
    return "funasr" if language in ("zh", "yue") else "faster-whisper"


def uploaded_lists(ctx: StepContext) -> list[str]:
    """Keys (relative to the task) of user-supplied ``.list`` files; our own output is not one."""
    found = []
    for folder in UPLOAD_FOLDERS:
        for info in ctx.store.iter_objects(f"{folder}/"):
            if info.key.endswith(".list") and info.key != f"{OUTPUT}/{LIST_NAME}":
                found.append(info.key)
    return found


def transcribe_all(
    clips: list[Path],
    transcribe: Transcriber,
    speaker: str,
    language: str,
    on_done: Callable[[int, int], None] | None = None,
) -> list[Line]:
    lines = []
    for n, clip in enumerate(clips, start=1):
        # Recognisers hallucinate words in silence; a clip with no signal has no speech.
        audible = int(np.abs(read_pcm16(clip).astype(np.int32)).max(initial=0)) >= SILENT_PEAK
        text = " ".join(transcribe(clip).replace("|", " ").split()) if audible else ""
        if text:
            lines.append(Line(clip.name, speaker, LANGUAGES[language], text))
        else:
            log.warning("no speech recognised in %s; left out of the list", clip.name)
        if on_done:
            on_done(n, len(clips))
    return lines


def run(ctx: StepContext) -> StepResult:
    params = ctx.params
    assert isinstance(params, AsrTranscribeParams)
    language = params.language or (ctx.spec.language if ctx.spec else None)
    if language is None:
        raise InvalidInput("language: not set in the params and no task spec given", field="language")
    speaker = ctx.spec.exp_name if ctx.spec else CLIPS
    clip_names = {
        PurePosixPath(info.key).name for info in ctx.store.iter_objects(f"{CLIPS}/") if info.key.endswith(".wav")
    }
    uploads = uploaded_lists(ctx)
    if len(uploads) > 1:
        raise InvalidInput(f"{OUTPUT}: more than one uploaded .list: {', '.join(uploads)}", field=OUTPUT)
    if uploads:
        # An empty line is kept: the dataset report flags it and proofreading can fill it in.
        lines = parse_list(ctx.store.get_bytes(uploads[0]), uploads[0], clip_names, allow_empty=True)
        clips = ctx.stage_in(CLIPS, select=lambda name: name in clip_names)
        source = f"uploaded {uploads[0]}"
    else:
        backend = choose_backend(params.backend, language)
        transcribe = BACKENDS[backend](ctx, language, params)
        clips = ctx.stage_in(CLIPS, select=lambda name: name in clip_names)
        if not clips:
            raise InvalidInput(f"{CLIPS}: no clips to transcribe; run denoise_audio first", field=CLIPS)
        lines = transcribe_all(
            clips,
            transcribe,
            speaker,
            language,
            lambda n, total: ctx.progress.update(n / total, f"transcribed {n}/{total}"),
        )
        if not lines:
            raise InvalidInput(f"{CLIPS}: {backend} recognised no speech in any of {len(clips)} clips", field=CLIPS)
        source = f"{backend}, {len(clips) - len(lines)} clips without speech"
    out = ctx.folder(OUTPUT) / LIST_NAME
    out.write_text(format_list(lines, CLIPS), encoding="utf-8")
    ctx.progress.update(1.0, "measuring the clips for the dataset report")
    measured = ctx.folder(REPORTS) / AUDIO_NAME

    def embed(readable: list[Path]) -> SpeakerEmbeddings | None:
        embedded, why = speaker_model.embeddings(ctx, readable, params.speaker_model)
        log.info("speaker similarity by %s: %s", embedded.model if embedded else dataset.CEPSTRAL, why)
        return embedded

    clip_audio = measure_all(clips, SLICE_RATE, folder=CLIPS, embed=embed)
    if clip_audio.dropped:
        # The transcript names these clips already; the feature steps would fail on them later.
        raise InvalidInput(
            f"{CLIPS}: unreadable clips ({clip_audio.reasons()}); upload them again or delete them", field=CLIPS
        )
    measured.write_text(json.dumps({"clips": [c.wire() for c in clip_audio.results]}), encoding="utf-8")
    return StepResult(
        {OUTPUT: [out], REPORTS: [measured]},
        owns=lambda name: name in (LIST_NAME, AUDIO_NAME),
        summary=f"{len(lines)} transcript lines ({source}), {len(clip_audio.kept)} clips measured",
    )
