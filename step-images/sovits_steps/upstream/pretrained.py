"""Which pretrained models each model step needs, and fetching them from the model store.

The store's ``models/`` prefix mirrors upstream's ``GPT_SoVITS/pretrained_models/`` names
(reference §12), plus ``G2PWModel/`` (upstream keeps it in ``GPT_SoVITS/text/``) and the
optional ``nltk_data/`` and ``fast_langdetect/``. A missing required model is bad input
naming the key to upload: upstream would otherwise try a hub at run time, or only warn.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from sovits_core.catalog import STEP_ORDER
from sovits_core.errors import InvalidInput
from sovits_core.model import ModelVersion
from sovits_steps.models import ModelStore

from . import versions as v

log = logging.getLogger(__name__)

# The steps upstream does: everything after the audio preparation, in pipeline order.
MODEL_STEPS = STEP_ORDER[STEP_ORDER.index("extract_text_features") :]


# What upstream's English front end (g2p_en) asks NLTK for, as NLTK 3.9 stores it.
NLTK_RESOURCES = ("corpora/cmudict", "taggers/averaged_perceptron_tagger_eng")


def nltk_search_path(environ: Mapping[str, str], prefix: str = sys.prefix) -> list[Path]:
    """Where NLTK looks for its data: ``$NLTK_DATA``, then its default folders (Linux)."""
    home = environ.get("HOME", "")
    defaults = [f"{home}/nltk_data" if home else "", "/usr/share/nltk_data", "/usr/local/share/nltk_data",
                "/usr/lib/nltk_data", "/usr/local/lib/nltk_data",
                f"{prefix}/nltk_data", f"{prefix}/share/nltk_data", f"{prefix}/lib/nltk_data"]  # fmt: skip
    given = [p for p in environ.get("NLTK_DATA", "").split(os.pathsep) if p]
    return [Path(p) for p in [*given, *defaults] if p]


def nltk_missing(search: Iterable[Path]) -> list[str]:
    """The resources of ``NLTK_RESOURCES`` found in none of ``search`` (unpacked or zipped)."""
    folders = list(search)
    return [r for r in NLTK_RESOURCES if not any((f / r).exists() or (f / f"{r}.zip").is_file() for f in folders)]


def check_nltk(store_copy: Path | None, environ: Mapping[str, str] = os.environ) -> None:
    """Fail before upstream does: without this data it prints a LookupError per line and exits 0."""
    search = [store_copy] if store_copy is not None else nltk_search_path(environ)
    absent = nltk_missing(search)
    if absent:
        where = "the model store's nltk_data/" if store_copy is not None else "NLTK_DATA and NLTK's default folders"
        raise InvalidInput(
            f"models.{v.NLTK_DATA}: English text needs NLTK data that is missing: {', '.join(absent)} "
            f"(looked in {where}); bake it into the step image or upload it with "
            f"`sovits models upload <dir> --to {v.NLTK_DATA}`",
            field=f"models.{v.NLTK_DATA}",
        )


@dataclass(frozen=True)
class Requirement:
    name: str  # under the model store prefix, the same as under pretrained_models/
    folder: bool
    why: str
    optional: bool = False


def _g2pw_needed(version: str, languages: Iterable[str]) -> bool:
    # Only v2+ Chinese text goes through G2PW (v1 uses the older front end).
    return version != "v1" and "zh" in set(languages)


def requirements(step: str, version: ModelVersion, languages: Iterable[str] = ("zh",)) -> list[Requirement]:
    """The models ``step`` reads for ``version`` when the text is in ``languages`` (lower-case codes)."""
    info = v.info(version)
    langs = set(languages)
    bert = Requirement(v.BERT, True, "BERT features (bert_pretrained_dir / bert_path)")
    hubert = Requirement(v.HUBERT, True, "HuBERT SSL features (cnhubert_base_dir / cnhubert_base_path)")
    g2pw = Requirement(v.G2PW, True, "Chinese grapheme-to-phoneme (GPT_SoVITS/text/G2PWModel)")
    nltk = Requirement(v.NLTK_DATA, True, "English G2P data (NLTK_DATA); else the image's own", optional=True)
    sv = Requirement(v.SPEAKER_VERIFICATION, False, "speaker vectors of the Pro versions (sv_path)")
    base_g = Requirement(info.sovits_g, False, f"pretrained SoVITS G of {version}")
    out: list[Requirement] = []
    if step == "extract_text_features":
        out = [bert]
        if _g2pw_needed(version, langs):
            out.append(g2pw)
        if "en" in langs:
            out.append(nltk)
    elif step == "extract_audio_features":
        out = [hubert]
    elif step == "extract_speaker_vectors":
        out = [sv] if v.has_speaker_vectors(version) else []
    elif step == "extract_semantic_features":
        out = [base_g]
    elif step == "train_sovits":
        out = [base_g]
        if info.sovits_d is not None:
            out.append(Requirement(info.sovits_d, False, f"pretrained SoVITS D of {version}"))
    elif step == "train_gpt":
        out = [Requirement(info.gpt, False, f"pretrained GPT of {version}")]
    elif step == "test_inference":
        out = [bert, hubert]
        if _g2pw_needed(version, langs):
            out.append(g2pw)
        if v.has_speaker_vectors(version):
            out.append(sv)
        if info.lora:
            out.append(Requirement(info.sovits_g, False, f"base model under the {version} LoRA weights"))
        if info.vocoder is not None:
            out.append(Requirement(info.vocoder[0], info.vocoder[1], f"vocoder of {version}"))
        if "en" in langs:
            out.append(nltk)
        out.append(Requirement(v.FAST_LANGDETECT, True, "language detection of mixed text", optional=True))
    return out


def missing(present: set[str], reqs: Iterable[Requirement]) -> list[Requirement]:
    """Requirements not satisfied by ``present`` (keys relative to the models prefix)."""
    out = []
    for req in reqs:
        found = any(key.startswith(req.name + "/") for key in present) if req.folder else req.name in present
        if not found:
            out.append(req)
    return out


def fetch(models: ModelStore, reqs: Iterable[Requirement]) -> dict[str, Path]:
    """Download ``reqs`` into the model cache; name -> local path. Optional ones may be absent."""
    got: dict[str, Path] = {}
    for req in reqs:
        path = _fetch_folder(models, req) if req.folder else _fetch_file(models, req)
        if path is not None:
            got[req.name] = path
        if req.name == v.NLTK_DATA:
            check_nltk(path)
    return got


def _not_found(models: ModelStore, req: Requirement) -> InvalidInput:
    what = "the files of" if req.folder else "the object"
    where = models.prefix + req.name + ("/" if req.folder else "")
    return InvalidInput(
        f"models.{req.name}: model not found: expected {what} {where} in the model store ({req.why}); "
        "upload it with `sovits models upload`",
        field=f"models.{req.name}",
    )


def _fetch_folder(models: ModelStore, req: Requirement) -> Path | None:
    try:
        return models.fetch(req.name, field=f"models.{req.name}")
    except InvalidInput:
        if req.optional:
            log.info("optional model %s is not in the store; using what the image has", req.name)
            return None
        raise _not_found(models, req) from None


def _fetch_file(models: ModelStore, req: Requirement) -> Path | None:
    key = models.prefix + req.name
    size = next((info.size for info in models.store.iter_objects(key) if info.key == key), None)
    if size is None:
        if req.optional:
            return None
        raise _not_found(models, req)
    dest = models.cache / req.name
    if not (dest.is_file() and dest.stat().st_size == size):
        models.store.download_file(key, dest)
    log.info("model %s: %d bytes in %s", req.name, size, dest)
    return dest
