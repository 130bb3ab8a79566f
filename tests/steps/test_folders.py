"""The step modules read and write the folders the catalog names for their steps."""

from __future__ import annotations

from sovits_core.catalog import CATALOG
from sovits_steps import asr, convert, denoise, slicer
from sovits_steps.upstream import inference


def test_each_audio_step_reads_its_catalog_input_and_writes_its_catalog_output() -> None:
    for step, module in [("convert_audio", convert), ("slice_audio", slicer), ("denoise_audio", denoise)]:
        assert CATALOG[step].inputs == (module.INPUT,), step
        assert CATALOG[step].outputs == (module.OUTPUT,), step


def test_asr_writes_the_transcripts_folder_and_reads_clips_named_by_the_catalog() -> None:
    assert asr.OUTPUT in CATALOG["asr_transcribe"].outputs
    assert set(asr.UPLOAD_FOLDERS) <= {*CATALOG["asr_transcribe"].inputs, *CATALOG["asr_transcribe"].outputs}


def test_inference_writes_the_output_folder_from_the_experiments_folder() -> None:
    assert CATALOG["test_inference"].outputs == (inference.OUTPUT,)
    assert inference.EXPERIMENTS in CATALOG["test_inference"].inputs
