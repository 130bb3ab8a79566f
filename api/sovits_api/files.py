"""A task's files: listing with the step that wrote each, and resolving download names.

Download names stay inside the task's prefix: anything that could leave it (``..``, an
absolute path, a backslash, NUL) is "not found", exactly like a name that does not exist,
so probing reveals nothing. A bare filename is looked up where the seed looked (``output/``,
``experiments/{exp_name}/``, the task folder); a relative path such as ``sliced/a.wav`` (as
the file listing shows it) names one file directly.
"""

from __future__ import annotations

from collections.abc import Iterator

from sovits_core import contract, storage
from sovits_core.catalog import CATALOG, StepName
from sovits_core.errors import InvalidInput, NotFound

from .schemas import FileEntry

# Folders one step writes alone; transcripts/, experiments/ and reports/ hold files of several.
_SHARED_FOLDERS = {contract.TRANSCRIPTS, contract.EXPERIMENTS, contract.REPORTS}
_FOLDER_STEP: dict[str, StepName] = {
    folder: name for name, d in CATALOG.items() for folder in d.outputs if folder not in _SHARED_FOLDERS
}
# Upstream's names inside experiments/{exp}/ (see reference/upstream-gpt-sovits.md).
_EXPERIMENT_STEP: tuple[tuple[str, StepName], ...] = (
    ("2-name2text", "extract_text_features"),
    ("3-bert", "extract_text_features"),
    ("4-cnhubert", "extract_audio_features"),
    ("5-wav32k", "extract_audio_features"),
    ("7-sv_cn", "extract_speaker_vectors"),
    ("6-name2semantic", "extract_semantic_features"),
    ("logs_s2", "train_sovits"),
    ("SoVITS_weights", "train_sovits"),
    ("logs_s1", "train_gpt"),
    ("GPT_weights", "train_gpt"),
)
_STEP_NAMED_FILES = ("logs", "progress")  # logs/{step}.log, progress/{step}.json
DOWNLOAD_CHUNK = 1024 * 1024


def step_of(rel: str, steps: tuple[StepName, ...]) -> StepName | None:
    """The step that writes ``rel`` (a key relative to the task prefix); None for uploads."""
    parts = rel.split("/")
    top = parts[0]
    if top in _FOLDER_STEP:
        return _FOLDER_STEP[top]
    if top == contract.TRANSCRIPTS:
        # Only the step's own list is its output; any other .list there was uploaded.
        return "asr_transcribe" if rel == contract.ASR_TRANSCRIPT_KEY else None
    if top in _STEP_NAMED_FILES and len(parts) == 2:
        stem = parts[1].rsplit(".", 1)[0]
        return next((s for s in steps if s == stem), None)
    if top == contract.EXPERIMENTS:
        for part in parts[1:]:
            for marker, step in _EXPERIMENT_STEP:
                if part.startswith(marker):
                    return step
    return None


def listing(objects: storage.TaskFiles, steps: tuple[StepName, ...]) -> list[FileEntry]:
    return [
        FileEntry(name=info.key, size=info.size, step=step_of(info.key, steps), last_modified=info.last_modified)
        for info in objects.iter_objects()
    ]


def resolve(objects: storage.TaskFiles, filename: str, exp_name: str) -> str:
    """The key (relative to the task prefix) a download name means; NotFound otherwise.

    A path is taken as it is. A bare name, as the seed's clients send, is looked for where a
    result of that kind lives: the test sentence (``output/``), the transcript
    (``transcripts/``), the experiment's files, its exported weights, then the task's root.
    """
    try:
        storage.check_key(filename, field="filename")
    except InvalidInput:
        raise NotFound(f"file {filename!r} not found", field="filename") from None
    if "/" in filename:
        candidates = [filename]
    else:
        experiment = f"experiments/{exp_name}/"
        candidates = [f"output/{filename}", f"transcripts/{filename}", experiment + filename]
        candidates += [info.key for info in objects.iter_objects(experiment) if _exported_weight(info.key, filename)]
        candidates.append(filename)
    for rel in candidates:
        if objects.exists(rel):
            return rel
    raise NotFound(f"file {filename!r} not found", field="filename")


def _exported_weight(rel: str, filename: str) -> bool:
    """``experiments/<exp>/{SoVITS,GPT}_weights*/<filename>``: where upstream exports trained weights."""
    parts = rel.split("/")
    return len(parts) == 4 and parts[3] == filename and parts[2].startswith(("SoVITS_weights", "GPT_weights"))


def read_chunks(objects: storage.TaskFiles, rel: str, chunk: int = DOWNLOAD_CHUNK) -> Iterator[bytes]:
    """The file's bytes in chunks, never whole in memory (blocking; iterate in a thread).

    A file gone since ``resolve`` is reported by its download name, not by bucket and key.
    """
    try:
        yield from objects.iter_bytes(rel, chunk)
    except NotFound:
        raise NotFound(f"file {rel!r} not found", field="filename") from None
