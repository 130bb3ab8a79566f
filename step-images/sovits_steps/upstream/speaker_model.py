"""Speaker embeddings from upstream's v2Pro speaker-verification model, for the dataset report
and the quality score.

When the model store holds ``sv/pretrained_eres2netv2w24s4ep4.ckpt`` (what the Pro versions
need anyway) and the upstream checkout is here, asr_transcribe compares clips with this model
instead of the lightweight cepstral embedding (``sovits_steps.speaker``), on a GPU unless its
``speaker_model`` param asks for it by name, and test_inference compares the reference with
the test sentence by it. Otherwise, and when the model cannot
run, both use the cepstral one and say which they used (``speaker_model``), since each has
its own scale and threshold.

What is computed: the 192-dimensional output of ERes2NetV2's verification head (``forward``),
the embedding the model was trained to compare by cosine. It is not the 20,480-dimensional
frame mean (``forward3``) that upstream's v2Pro SoVITS is conditioned on. The input is 80-band
Kaldi fbank at 16 kHz from upstream's own ``kaldi`` module, with each band's mean removed, as
3D-Speaker, where the model comes from, scores it.

The model runs in a process of its own, ``python -m`` this module, started from the checkout
with upstream's ``eres2net`` folder on the path, as upstream's ``2-get-sv.py`` imports it.
This keeps torch out of asr_transcribe's process, which the step-audio image runs without
torch, and returns the model's memory when it ends.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from sovits_core.dataset import CEPSTRAL, ERES2NETV2
from sovits_core.errors import InvalidInput, Retryable, SovitsError
from sovits_core.model import TrainingTaskSpec

from ..context import StepContext
from ..measure import SpeakerEmbeddings
from . import environment, pretrained, process, runtree
from . import versions as v

log = logging.getLogger(__name__)

MODEL = ERES2NETV2
EMBEDDING_DIM = 192
RATE = 16000
MIN_FRAMES = 10  # fbank frames (10 ms each) below which a clip gets no embedding
MODULE_DIR = "GPT_SoVITS/eres2net"
REQUIREMENT = pretrained.Requirement(
    v.SPEAKER_VERIFICATION, False, "speaker similarity of the dataset report and the quality score", optional=True
)


def embeddings(ctx: StepContext, clips: list[Path], choice: str) -> tuple[SpeakerEmbeddings | None, str]:
    """Each clip's embedding by name as asr_transcribe's ``speaker_model`` param chooses, or None
    with the reason the report uses the cepstral one. Asked for by name, the model's absence or
    failure fails the step; ``auto`` falls back."""
    if choice == CEPSTRAL:
        return None, "speaker_model: cepstral asked for"
    if choice == "auto" and not has_gpu(ctx.spec, os.environ):
        return None, "no GPU for this step (speaker_model: auto; eres2netv2 runs the model on the CPU too)"
    try:
        found, why = embed_files(ctx, clips)
    except SovitsError as exc:
        if choice == MODEL:
            raise
        return None, exc.message
    return SpeakerEmbeddings(MODEL, {path.name: e for path, e in zip(clips, found, strict=True)}), why


def embed_files(ctx: StepContext, clips: list[Path]) -> tuple[list[list[float]], str]:
    """Each file's embedding in order, and where the model came from. InvalidInput when the model
    or the checkout is not here, Retryable when its process failed."""
    base_dir = ctx.settings.paths.base_dir if ctx.settings is not None else None
    try:
        checkout = runtree.check_checkout(base_dir, f"{MODULE_DIR}/ERes2NetV2.py", f"{MODULE_DIR}/kaldi.py")
    except InvalidInput as exc:
        raise InvalidInput(f"speaker_model: no upstream checkout ({exc.message})", field="speaker_model") from None
    weights = pretrained.fetch(ctx.models, [REQUIREMENT]).get(REQUIREMENT.name)
    if weights is None:
        raise InvalidInput(
            f"speaker_model: {ctx.models.prefix}{REQUIREMENT.name} is not in the model store "
            "(upload it with `sovits models upload`)",
            field="speaker_model",
        )
    listing = ctx.work / "speaker-model-clips.json"
    out = ctx.work / "speaker-model-embeddings.json"
    listing.write_text(json.dumps([str(p) for p in clips]), encoding="utf-8")
    path = os.pathsep.join(filter(None, [str(checkout / MODULE_DIR), os.environ.get("PYTHONPATH")]))
    outcome = process.run(
        [sys.executable, "-s", "-m", __name__, str(weights), str(listing), str(out)],
        cwd=checkout,
        env={**os.environ, "PYTHONPATH": path},
        on_line=lambda line: log.info("speaker model: %s", line),
    )
    outcome.raise_if_out_of_memory(__name__)
    if outcome.returncode != 0 or not out.is_file():
        raise Retryable(f"speaker_model: the speaker-verification model failed: {outcome.reason()}")
    found: list[list[float]] = json.loads(out.read_text(encoding="utf-8"))
    return found, f"{REQUIREMENT.name} from the model store"


def has_gpu(spec: TrainingTaskSpec | None, environ: Mapping[str, str]) -> bool:
    """Whether the step was given a GPU: the task asks for one and the step can see it."""
    try:
        return bool(spec and environment.device_ids(environ, spec.gpu.count))
    except InvalidInput:  # GPU UUIDs, which upstream's own scripts refuse; torch takes them
        return True


def main(weights: str, listing: str, out: str) -> None:  # pragma: no cover - runs in upstream's interpreter
    import kaldi  # type: ignore[import-not-found]  # upstream's, from GPT_SoVITS/eres2net
    import torch  # type: ignore[import-not-found]  # upstream's interpreter has it; ours need not
    import torchaudio  # type: ignore[import-not-found]
    from ERes2NetV2 import ERes2NetV2  # type: ignore[import-not-found]

    from ..audio import SLICE_RATE, read_pcm16

    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = ERes2NetV2(baseWidth=24, scale=4, expansion=4)  # the checkpoint's shape, as upstream's sv.py builds it
    model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    model.eval().to(device)
    found: list[list[float]] = []
    start = time.perf_counter()
    with torch.no_grad():
        for clip in map(Path, json.loads(Path(listing).read_text(encoding="utf-8"))):
            samples = torch.from_numpy(read_pcm16(clip, SLICE_RATE, mapped=True).astype("float32") / 32768)
            wav = torchaudio.functional.resample(samples, SLICE_RATE, RATE)
            feat = kaldi.fbank(wav.unsqueeze(0), num_mel_bins=80, sample_frequency=RATE, dither=0)
            if len(feat) < MIN_FRAMES:
                found.append([0.0] * EMBEDDING_DIM)
                continue
            feat = feat - feat.mean(dim=0, keepdim=True)
            found.append([round(x, 6) for x in model(feat.unsqueeze(0).to(device))[0].cpu().tolist()])
    Path(out).write_text(json.dumps(found), encoding="utf-8")
    print(f"{len(found)} clips embedded on {device} in {time.perf_counter() - start:.2f} s", flush=True)


if __name__ == "__main__":  # pragma: no cover
    main(*sys.argv[1:4])
