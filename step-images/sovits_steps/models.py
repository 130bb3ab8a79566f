"""Pretrained models, read from the model store and never from a hub at run time.

The model store is the ``models_prefix`` (default ``models/``) of the same object store as
the tasks. Each model is a folder copied there as its hub snapshot lays it out:

    models/
      asr/faster-whisper-<size>/          CTranslate2 export (model.bin, config.json,
                                          tokenizer.json, vocabulary.*); size is one of
                                          medium, medium.en, large-v2, large-v3, large-v3-turbo
      asr/Fun-ASR-Nano-2512/              FunASR model for zh/en/ja/ko
      asr/speech_fsmn_vad_zh-cn-16k-common-pytorch/
                                          FunASR VAD used with Fun-ASR-Nano
      asr/speech_UniASR_asr_2pass-cantonese-CHS-16k-common-vocab1468-tensorflow1-online/
                                          FunASR model for yue
      denoise/speech_frcrn_ans_cirm_16k/  ModelScope FRCRN noise suppression

The model steps (another module) add their pretrained folders beside these. A step asks
for a folder with ``fetch``; a missing folder is bad input whose message names the key the
operator has to upload, because trying again will not make it appear.
"""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path

from sovits_core.errors import InvalidInput
from sovits_core.storage import ObjectStore, confine

from .staging import run_all

log = logging.getLogger(__name__)

FASTER_WHISPER = "asr/faster-whisper-{size}"
FUNASR_NANO = "asr/Fun-ASR-Nano-2512"
FUNASR_VAD = "asr/speech_fsmn_vad_zh-cn-16k-common-pytorch"
FUNASR_YUE = "asr/speech_UniASR_asr_2pass-cantonese-CHS-16k-common-vocab1468-tensorflow1-online"
FRCRN = "denoise/speech_frcrn_ans_cirm_16k"


class ModelStore:
    def __init__(self, store: ObjectStore, prefix: str, cache: Path, workers: int = 8) -> None:
        self.store = store
        self.prefix = prefix
        self.cache = cache
        self.workers = workers

    def key(self, folder: str) -> str:
        return confine(self.prefix, folder.rstrip("/") + "/", field="model", folder=True)

    def fetch(self, folder: str, *, field: str) -> Path:
        """A local copy of the model ``folder``, or InvalidInput naming the expected key."""
        prefix = self.key(folder)
        objects = list(self.store.iter_objects(prefix))
        if not objects:
            raise InvalidInput(
                f"{field}: model not found: expected the files of {folder} under {prefix} in the object "
                "store (upload them with `sovits models upload`)",
                field=field,
            )
        target = self.cache / folder
        jobs = []
        for info in objects:
            dest = target / info.key[len(prefix) :]
            if not (dest.is_file() and dest.stat().st_size == info.size):
                jobs.append(partial(self.store.download_file, info.key, dest))
        run_all(jobs, self.workers)
        log.info("model %s: %d files in %s", folder, len(objects), target)
        return target
