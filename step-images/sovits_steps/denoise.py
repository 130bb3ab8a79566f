"""denoise_audio: spectral gating (default, no weights) or ModelScope FRCRN from the model store.

``spectral`` runs noisereduce's stationary gate with a noise profile taken from the quietest
stretches of the clip itself (sliced clips keep up to ``max_sil_kept`` of pause at their
edges). Its mask is smoothed over 100 Hz rather than the library's 500 Hz default, which
would smear a voice's harmonics into the gated gaps between them and dull the voice.

``frcrn`` follows upstream (ModelScope's acoustic noise suppression pipeline, 16 kHz out)
but loads the model from ``models/denoise/speech_frcrn_ans_cirm_16k/`` and resamples the
result back to 32 kHz, so every later step sees one sample rate.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import soundfile as sf

from sovits_core import contract
from sovits_core.errors import InvalidInput
from sovits_core.params import DenoiseAudioParams

from . import models
from .audio import SLICE_RATE, UNREADABLE, read_pcm16, to_pcm16, write_pcm16
from .context import StepContext, StepResult
from .parallel import Mapped, map_items

log = logging.getLogger(__name__)

INPUT = contract.SLICED
OUTPUT = contract.DENOISED
PROFILE_FRAME = 2048
PROFILE_SHARE = 0.15  # share of the quietest frames taken as the noise profile

Audio = npt.NDArray[np.float32]
Denoiser = Callable[[Path, Path], None]


def noise_profile(x: Audio, frame: int = PROFILE_FRAME, share: float = PROFILE_SHARE) -> Audio:
    """The quietest ``share`` of the clip's frames, in time order: its best guess of the noise."""
    count = len(x) // frame
    frames = x[: count * frame].reshape(count, frame)
    quietest = np.sort(np.argsort(np.einsum("ij,ij->i", frames, frames))[: max(2, int(count * share))])
    return frames[quietest].ravel()


def spectral_gate(x: Audio, rate: int) -> Audio:
    import noisereduce

    if len(x) < 4 * PROFILE_FRAME:
        return x  # too short to tell noise from signal
    out = noisereduce.reduce_noise(
        y=x, sr=rate, stationary=True, y_noise=noise_profile(x), freq_mask_smooth_hz=100, time_mask_smooth_ms=50
    )
    return np.asarray(out, dtype=np.float32)


def spectral_file(src: Path, dst: Path) -> None:
    x, rate = sf.read(str(src), dtype="float32", always_2d=False)
    if x.ndim > 1:
        x = x.mean(axis=1)
    write_pcm16(dst, to_pcm16(spectral_gate(x, rate)), rate)


def frcrn(ctx: StepContext) -> Denoiser:
    """A denoiser over the FRCRN pipeline; bad input if the model or ModelScope is missing."""
    path = ctx.models.fetch(models.FRCRN, field="backend")
    try:
        pipelines: Any = importlib.import_module("modelscope.pipelines")
        constant: Any = importlib.import_module("modelscope.utils.constant")
    except ImportError:
        raise InvalidInput(
            "backend: frcrn needs modelscope, which this image does not have; use backend 'spectral'",
            field="backend",
        ) from None
    ans: Any = pipelines.pipeline(constant.Tasks.acoustic_noise_suppression, model=str(path))

    def run(src: Path, dst: Path) -> None:
        sf.info(str(src))  # a clip libsndfile cannot open is the clip's fault; the pipeline's errors do not say
        at_16k = dst.with_suffix(".16k.wav")
        ans(str(src), output_path=str(at_16k))
        write_pcm16(dst, read_pcm16(at_16k, SLICE_RATE), SLICE_RATE)
        at_16k.unlink()

    return run


def denoise_all(
    sources: list[Path],
    out_dir: Path,
    denoiser: Denoiser,
    *,
    workers: int | None = None,
    on_done: Callable[[int, int], None] | None = None,
) -> Mapped[Path, Path]:
    """Each source denoised into ``out_dir`` under its own name; a clip that cannot be read is
    skipped with the reason, as convert and slice skip a bad file."""

    def one(src: Path) -> Path:
        denoiser(src, out_dir / src.name)
        return out_dir / src.name

    return map_items(
        one, sources, name=lambda src: src.name, bad=UNREADABLE, folder=INPUT, workers=workers, on_done=on_done
    )


def run(ctx: StepContext) -> StepResult:
    params = ctx.params
    assert isinstance(params, DenoiseAudioParams)
    denoiser = frcrn(ctx) if params.backend == "frcrn" else spectral_file
    sources = ctx.stage_in(INPUT, select=lambda name: name.endswith(".wav") and "/" not in name)
    if not sources:
        raise InvalidInput(f"{INPUT}: no clips to denoise; run slice_audio first", field=INPUT)
    denoised = denoise_all(
        sources,
        ctx.folder(OUTPUT),
        denoiser,
        on_done=lambda n, total: ctx.progress.update(n / total, f"denoised {n}/{total} clips"),
    )
    if not denoised.kept:
        raise InvalidInput(f"{INPUT}: no clip could be read ({denoised.reasons()})", field=INPUT)
    summary = f"denoised {len(denoised.kept)} clips with {params.backend}{denoised.note()}"
    return StepResult({OUTPUT: denoised.results}, summary=summary)
