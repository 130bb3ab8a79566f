"""Running steps the way the step image does: ``sovits step`` in upstream's environment.

The step runner is a child process of upstream's interpreter (``hack/upstream.sh`` installs our
package there with the ``steps`` extra only), against a local store, with a checkout whose config
templates are shrunk (``tiny_checkout``) so the real model classes train in seconds on a CPU.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from sovits_core import contract as c
from sovits_core.storage import LocalObjectStore, TaskFiles
from sovits_steps.models_cli import upload
from tests.support.audio import silence, speech, write_wav
from tests.support.upstream import REPO, Upstream

STAND_INS = Path(__file__).with_name("stand_in_models.py")
VERSIONS = ["v2", "v2Pro", "v2ProPlus"]  # every version the CRD accepts
EXP = "tiny"
FEATURES = ["extract_text_features", "extract_audio_features", "extract_speaker_vectors", "extract_semantic_features"]
SEMANTIC = f"experiments/{EXP}/6-name2semantic.tsv"
# Three short espeak-ng clips named as the slicer names them. Short, because upstream repeats a
# small dataset to 100 items an epoch and a SoVITS step costs what its clips last.
CLIPS = {
    "talk.wav_0000000000_0000032000.wav": "good morning",
    "talk.wav_0000032000_0000064000.wav": "thank you",
    "talk.wav_0000064000_0000096000.wav": "open the door",
}
# The inference reference (3-10 s), outside the training list: test_inference's ref_audio.
REFERENCE = ("denoised/reference.wav", "please open the window and let the air in")

# The shrunk model shapes: the same classes and code paths, a fraction of the width and depth.
TINY_S2_MODEL = {
    "n_layers": 1,
    "filter_channels": 192,
    "resblock_kernel_sizes": [3],
    "resblock_dilation_sizes": [[1, 3, 5]],
    "upsample_initial_channel": 64,
    "n_layers_q": 1,
}
# A Pro export carries its version in a header; upstream reads a v2 export's version from its
# file size (v1 below 82,978 KiB, v2 up to 700 MiB), and a full v2 export is 83,014 KiB. So v2
# shrinks only the decoder (the costly part: it runs at the sample rate) and widens the text
# encoder's feed-forward layers (they run at the frame rate) until the export is back in v2's
# band: about 89,000 KiB; the tests check the band through upstream's own reader.
TINY_V2_S2_MODEL = {
    "filter_channels": 2048,
    "resblock_kernel_sizes": [3],
    "resblock_dilation_sizes": [[1, 3, 5]],
    "upsample_initial_channel": 64,
    "n_layers_q": 1,
}
# Every version trains on 2-frame (40 ms) segments instead of 32: the cost of a step is the
# decoder and the discriminators (full size: no config shrinks them) over the segment.
TINY_S2_TRAIN = {"segment_size": 1280, "log_interval": 4}
TINY_S1_MODEL = {"embedding_dim": 128, "hidden_dim": 128, "head": 4, "linear_units": 256, "n_layer": 2}
# Inference stops at hz * max_sec tokens: a random GPT that never emits its end token makes at
# most this many seconds (54 upstream), and the training clips are all shorter.
TINY_MAX_SEC = 8
SOVITS_EPOCHS = 1
RESUMED_SOVITS_EPOCHS = 2  # v2Pro's: killed in the second epoch, resumed from the first's checkpoint


TEMP_DIRS: list[Path] = []  # the step runs' TMPDIRs, removed when the session ends


def remove_temp_dirs() -> None:
    while TEMP_DIRS:
        shutil.rmtree(TEMP_DIRS.pop(), ignore_errors=True)


def tiny_checkout(upstream: Upstream, dest: Path) -> Path:
    """A copy of the prepared checkout whose model config templates are shrunk."""
    shutil.copytree(upstream.checkout, dest, symlinks=True)
    configs = dest / "GPT_SoVITS" / "configs"
    for name in ("s2.json", "s2v2Pro.json", "s2v2ProPlus.json"):
        data = json.loads((configs / name).read_text(encoding="utf-8"))
        data["model"].update(TINY_V2_S2_MODEL if name == "s2.json" else TINY_S2_MODEL)
        data["train"].update(TINY_S2_TRAIN)
        (configs / name).write_text(json.dumps(data, indent=2), encoding="utf-8")
    for name in ("s1longer.yaml", "s1longer-v2.yaml"):
        data = yaml.safe_load((configs / name).read_text(encoding="utf-8"))
        data["model"].update(TINY_S1_MODEL)
        data["data"].update(max_sec=TINY_MAX_SEC, num_workers=1)  # 0 breaks its prefetch_factor
        (configs / name).write_text(yaml.safe_dump(data), encoding="utf-8")
    return dest


def make_clips(folder: Path) -> dict[str, Path]:
    out = {name: write_wav(folder / name, speech(text)) for name, text in CLIPS.items()}
    reference = speech(REFERENCE[1])
    reference = np.concatenate([reference, silence(max(0.0, 3.5 - len(reference) / 32000))])
    out[REFERENCE[0]] = write_wav(folder / "reference.wav", reference)
    return out


def model_store(stand_ins: Path, root: Path) -> Path:
    """A local store with the stand-ins under ``models/``, shared by the tasks made in it."""
    upload(LocalObjectStore(root), "models/", stand_ins)
    return root


def new_task(upstream: Upstream, checkout: Path, store: Path, clips: dict[str, Path], task_id: str,
             version: str, **spec: Any) -> ImageTask:  # fmt: skip
    """A task with the clips sliced, denoised and transcribed, in a store that has the models."""
    task = ImageTask(
        upstream, checkout, store, task_id,
        {"expName": EXP, "language": "en", "modelVersion": version, "gpu": {"count": 0}, "batchSize": 32, **spec},
    )  # fmt: skip
    lines = []
    task.store.put_file(REFERENCE[0], clips[REFERENCE[0]])
    for name, text in CLIPS.items():
        task.store.put_file(f"denoised/{name}", clips[name])
        lines.append(f"denoised/{name}|{EXP}|EN|{text}")
    task.store.put_bytes("transcripts/denoised.list", "\n".join(lines).encode())
    return task


def make_stand_ins(upstream: Upstream, checkout: Path, out: Path, versions: list[str]) -> Path:
    made = subprocess.run(
        [str(upstream.python), "-s", str(STAND_INS), str(out), *versions],
        cwd=checkout,
        env=upstream_env(checkout),
        capture_output=True,
        text=True,
        check=False,
    )
    assert made.returncode == 0, made.stdout[-3000:] + made.stderr[-3000:]
    return out


def clean_environ() -> dict[str, str]:
    """This process's environment without our settings and this interpreter's Python variables."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("SOVITS_", "PYTHON", "VIRTUAL_ENV"))}


def upstream_env(checkout: Path) -> dict[str, str]:
    return {**clean_environ(), "PYTHONPATH": f"{checkout}:{checkout}/GPT_SoVITS", "CUDA_VISIBLE_DEVICES": ""}


@dataclass
class Run:
    code: int
    reason: str
    progress: list[float] = field(default_factory=list)  # distinct values seen while it ran
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class Interrupted:
    """A training run SIGKILLed once its first checkpoint was mirrored, and run again."""

    task: ImageTask
    params: dict[str, Any]
    exports_at_kill: list[str]  # what the killed run had exported
    again: Run


@dataclass
class ImageTask:
    """A task in a local store whose steps run as the step image runs them."""

    upstream: Upstream
    checkout: Path
    root: Path  # the local store
    task_id: str
    spec: dict[str, Any]
    nltk_data: Path | None = None
    runs: dict[str, Run] = field(default_factory=dict)
    temp: Path | None = None

    @property
    def store(self) -> TaskFiles:
        return TaskFiles(LocalObjectStore(self.root), f"tasks/{self.task_id}/")

    @property
    def tmp(self) -> Path:
        # Short, under the system's temporary folder: upstream's data loaders put AF_UNIX sockets
        # in it, whose paths may not pass 107 bytes (a folder under pytest's basetemp is too long).
        if self.temp is None:
            self.temp = Path(tempfile.mkdtemp(prefix=f"sv-{self.task_id}-"))
            TEMP_DIRS.append(self.temp)
        return self.temp

    def env(self, step: str, params: dict[str, Any], shard: tuple[int, int], termination: Path) -> dict[str, str]:
        return {
            **clean_environ(),
            "HOME": str(self.root.parent / f"home-{self.task_id}"),  # not the machine's ~/nltk_data or hub caches
            # the runner's work tree (GBs with v2's models) is removed with the session's
            # temporary folders, also when a test killed the runner before it could remove it
            "TMPDIR": str(self.tmp),
            "CUDA_VISIBLE_DEVICES": "",
            # this checkout's packages first: the environment's own install may be another clone's
            "PYTHONPATH": f"{REPO / 'core'}:{REPO / 'step-images'}:{REPO / 'cli'}",
            "NLTK_DATA": str(self.nltk_data or self.upstream.nltk_data),  # as the step image sets it
            "SOVITS_STORAGE__BACKEND": "local",
            "SOVITS_STORAGE__LOCAL_ROOT": str(self.root),
            "SOVITS_PATHS__BASE_DIR": str(self.checkout),
            "SOVITS_PATHS__NUMBA_CACHE": str(self.upstream.numba_cache),  # compiled once, as in the image
            # a tiny model trains in seconds: progress must be written often enough to be seen
            c.ENV_PROGRESS_INTERVAL: "0.5",
            c.ENV_TASK_ID: self.task_id,
            c.ENV_STEP: step,
            c.ENV_PARAMS: json.dumps(params),
            c.ENV_SPEC: json.dumps(self.spec),
            c.ENV_PREFIX: f"tasks/{self.task_id}/",
            c.ENV_SHARD_INDEX: str(shard[0]),
            c.ENV_SHARD_COUNT: str(shard[1]),
            c.ENV_TERMINATION_LOG: str(termination),
        }

    def start(self, step: str, params: dict[str, Any] | None = None, shard: tuple[int, int] = (0, 1)) -> Popen:
        termination = self.root.parent / f"termination-{self.task_id}-{step}-{time.monotonic_ns()}"
        argv = [str(self.upstream.python), "-m", "sovits_cli.main", "step", step, "--task", self.task_id]
        proc = subprocess.Popen(
            argv,
            env=self.env(step, params or {}, shard, termination),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        return Popen(proc, termination, self, step)

    def run(self, step: str, params: dict[str, Any] | None = None, shard: tuple[int, int] = (0, 1)) -> Run:
        run = self.start(step, params, shard).wait()
        run.params = params or {}
        self.runs[step] = run
        return run

    def interrupted_sovits(self, params: dict[str, Any]) -> Interrupted:
        """train_sovits killed as a lost node kills it (SIGKILL to the runner and upstream's
        trainer alike: no final upload) once a G_/D_ checkpoint pair is mirrored, then run again."""
        checkpoints = f"experiments/{EXP}/logs_s2_{self.spec['modelVersion']}"

        def mirrored() -> bool:
            # Upstream saves G_ then D_, and resumes only from both: a kill between the two uploads
            # would leave nothing to resume from.
            names = self.names(checkpoints)
            return any(n.startswith("G_") for n in names) and any(n.startswith("D_") for n in names)

        first = self.start("train_sovits", params)
        held = first.wait(until=mirrored)
        assert held.code == -1, f"train_sovits ended before a checkpoint was mirrored: {held.reason}"
        first.kill_tree()
        exports = self.names(f"experiments/{EXP}/SoVITS_weights_{self.spec['modelVersion']}")
        return Interrupted(self, params, exports, self.run("train_sovits", params))

    def clone(self, task_id: str, version: str, drop: tuple[str, ...] = ()) -> ImageTask:
        """A new task in the same store with this one's files (less ``drop``), for ``version``."""
        src, dest = self.root / "tasks" / self.task_id, self.root / "tasks" / task_id
        shutil.copytree(src, dest, ignore=shutil.ignore_patterns("logs", "progress"))
        for rel in drop:
            (dest / rel).unlink()
        spec = {**self.spec, "modelVersion": version}
        return ImageTask(self.upstream, self.checkout, self.root, task_id, spec, self.nltk_data)

    def progress(self, step: str) -> float | None:
        try:
            return float(json.loads(self.store.get_bytes(c.PROGRESS_KEY.format(step=step)))["progress"])
        except Exception:  # not written yet, or caught mid-replace
            return None

    def log(self, step: str) -> str:
        return self.store.get_bytes(c.LOG_KEY.format(step=step)).decode("utf-8")

    def fetch(self, rel: str, dest: Path) -> Path:
        self.store.download_file(rel, dest)
        return dest

    def names(self, folder: str) -> list[str]:
        return [info.key[len(folder) + 1 :] for info in self.store.iter_objects(f"{folder}/")]


@dataclass
class Popen:
    proc: subprocess.Popen[bytes]
    termination: Path
    task: ImageTask
    step: str

    def wait(self, until: Callable[[], bool] | None = None, timeout_s: float = 900) -> Run:
        """Follow the step's progress until it exits (or ``until`` holds: then it keeps running)."""
        seen: list[float] = []
        deadline = time.monotonic() + timeout_s
        while self.proc.poll() is None:
            value = self.task.progress(self.step)
            if value is not None and (not seen or seen[-1] != value):
                seen.append(value)
            if until is not None and until():
                return Run(-1, "still running", seen)
            assert time.monotonic() < deadline, f"{self.step} did not finish in {timeout_s} s"
            time.sleep(0.3)
        reason = self.termination.read_text(encoding="utf-8").strip() if self.termination.exists() else ""
        return Run(self.proc.returncode, reason, seen)

    def kill_tree(self) -> None:
        """SIGKILL the runner and every process under it, as a container's OOM kill does."""
        victims = descendants(self.proc.pid)
        for pid in [self.proc.pid, *victims]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.proc.wait()


def descendants(pid: int) -> list[int]:
    out: list[int] = []
    todo = [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                children = [int(x) for x in (task / "children").read_text().split()]
            except OSError:
                continue
            out += children
            todo += children
    return out
