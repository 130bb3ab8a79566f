"""The environment upstream's scripts read (reference §0 and the per-step sections).

webui passes nearly everything through ``os.environ`` and lets it leak from step to step;
we build it explicitly per run: our own settings and credentials stay out, the model paths
are set under every name upstream spells them (bert_pretrained_dir / bert_path,
cnhubert_base_dir / cnhubert_base_path), and ``is_half`` is the Python literal it evals.
"""

from __future__ import annotations

from collections.abc import Mapping

from sovits_core.errors import InvalidInput

from . import numba_cache
from . import versions as v
from .runtree import RunTree

# Never handed to upstream: our settings and secrets, and `language`, which inference_webui
# would use for its i18n while inference_cli uses the system locale (labels would not match).
_DROP_PREFIXES = ("SOVITS_", "AWS_")
_DROP = {"language", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "_CUDA_VISIBLE_DEVICES"}


def py_bool(value: bool) -> str:
    """What upstream's ``eval(os.environ["is_half"])`` accepts: exactly True or False."""
    return "True" if value else "False"


def device_ids(inherited: Mapping[str, str], count: int) -> list[str]:
    """GPU ids for upstream, as this process sees them.

    In a pod the runtime exposes the granted GPUs as 0..n-1. The local runtime picks devices
    by setting CUDA_VISIBLE_DEVICES for us; upstream overwrites that variable from its own
    inputs, so we hand it the same physical ids instead of 0..n-1.
    """
    if count <= 0:
        return []
    visible = inherited.get("CUDA_VISIBLE_DEVICES")
    if visible is None or not visible.strip():
        return [str(i) for i in range(count)] if visible is None else []
    ids = [part.strip() for part in visible.split(",") if part.strip()]
    if not all(part.isdigit() for part in ids):
        raise InvalidInput(
            f"CUDA_VISIBLE_DEVICES={visible!r}: upstream takes numeric GPU ids ('-'-joined), not UUIDs",
            field="gpu",
        )
    return ids[:count]


def base(
    inherited: Mapping[str, str],
    tree: RunTree,
    *,
    version: str,
    is_half: bool,
    nltk_data: str | None = None,
    numba_cache_dir: str | None = None,
    cores: int | None = None,
) -> dict[str, str]:
    """What every upstream script gets, whatever the step; numba's cache in the run's scratch
    folder unless ``numba_cache_dir`` (``numba_cache.folder``) says where. ``cores``
    (``parallel.usable_cores``) sizes torch's OpenMP pool unless the pod sets OMP_NUM_THREADS:
    torch counts the node's cores, not the container's CPU limit, and a pool of 64 threads
    under a limit of 4 CPUs spends its quota early in each period and waits out the rest."""
    env = {
        k: val
        for k, val in inherited.items()
        if k not in _DROP and not any(k.startswith(prefix) for prefix in _DROP_PREFIXES)
    }
    root = str(tree.root)
    temp = str(tree.temp)
    env.update(
        PYTHONPATH=f"{root}:{root}/GPT_SoVITS",
        PYTHONUNBUFFERED="1",  # progress lines arrive as they are printed
        PYTHONIOENCODING="utf-8",  # upstream prints Chinese; a C locale would crash on it
        version=version,
        is_half=py_bool(is_half),
        TEMP=temp,
        TMPDIR=temp,
        KMP_DUPLICATE_LIB_OK="TRUE",
        no_proxy="localhost, 127.0.0.1, ::1",
        all_proxy="",
        # Everything comes from the model store: fail fast instead of waiting on a hub.
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        NUMBA_CACHE_DIR=numba_cache_dir or f"{temp}/numba",
        # what the seed of that cache was compiled for (numba_cache.py); a setting of the pod wins
        NUMBA_CPU_NAME=inherited.get("NUMBA_CPU_NAME", numba_cache.CPU_NAME),
        MPLCONFIGDIR=f"{temp}/matplotlib",
        # Model paths under every name the scripts read; relative to the run root, as webui.
        bert_pretrained_dir=v.pretrained(v.BERT),
        bert_path=v.pretrained(v.BERT),
        cnhubert_base_dir=v.pretrained(v.HUBERT),
        cnhubert_base_path=v.pretrained(v.HUBERT),
        sv_path=v.pretrained(v.SPEAKER_VERIFICATION),
    )
    if nltk_data:
        env["NLTK_DATA"] = nltk_data
    if cores is not None and "OMP_NUM_THREADS" not in inherited:
        env["OMP_NUM_THREADS"] = str(cores)
    return env


def feature(
    env: dict[str, str],
    tree: RunTree,
    *,
    inp_text: str,
    inp_wav_dir: str,
    index: int,
    count: int,
    device: str,
) -> dict[str, str]:
    """Steps 5-8: one shard, its part of the .list, one GPU (or "" for the CPU)."""
    env = dict(env)
    env.update(
        inp_text=inp_text,
        inp_wav_dir=inp_wav_dir,
        exp_name=tree.exp,
        opt_dir=f"logs/{tree.exp}",
        i_part=str(index),
        all_parts=str(count),
        _CUDA_VISIBLE_DEVICES=device,
    )
    return env


def inference(env: dict[str, str], *, gpt_path: str, sovits_path: str, device: str) -> dict[str, str]:
    """inference_cli ignores --sovits_model: the model it uses is env sovits_path (trap 10).

    inference_webui copies _CUDA_VISIBLE_DEVICES only after config.py initialised CUDA, so the
    real CUDA_VISIBLE_DEVICES is set as well.
    """
    env = dict(env)
    env.update(
        gpt_path=gpt_path,
        sovits_path=sovits_path,
        _CUDA_VISIBLE_DEVICES=device,
        CUDA_VISIBLE_DEVICES=device,
        is_share="False",
    )
    return env
