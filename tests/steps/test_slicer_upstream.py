"""Our slicer against upstream's own tools/slicer2.py, run from the pinned archive on the same
samples: every signal must give the same chunks at the same sample offsets (hence the same
file names) and as many of them."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from sovits_core.params import SliceAudioParams
from sovits_steps import slicer
from sovits_steps.audio import read_pcm16
from sovits_steps.slicer import Slicing, as_float, find_chunks, frame_rms, slice_file
from tests.support import upstream
from tests.support.audio import RATE, join_with_pauses, silence, speech, speech_like, white_noise, write_wav

pytestmark = pytest.mark.upstream

# Upstream's step defaults (ours too) and its slicer2.py command-line defaults, then combinations
# that move each knob: a coarse and a 1 ms hop, a window narrower than four hops (min_interval
# below 4 x hop_size), max_sil_kept at its floor and above min_length, a low and a high threshold.
PARAMS: list[dict[str, Any]] = [
    {},
    {"threshold": -40, "min_length": 5000, "min_interval": 300, "hop_size": 20, "max_sil_kept": 5000},
    {"threshold": -50, "min_length": 2000, "min_interval": 200, "hop_size": 5, "max_sil_kept": 300},
    {"threshold": -28, "min_length": 8000, "min_interval": 1000, "hop_size": 25, "max_sil_kept": 200},
    {"threshold": -34, "min_length": 3000, "min_interval": 30, "hop_size": 10, "max_sil_kept": 700},
    {"threshold": -45, "min_length": 1500, "min_interval": 100, "hop_size": 1, "max_sil_kept": 1},
    {"threshold": -34, "min_length": 4000, "min_interval": 70, "hop_size": 7, "max_sil_kept": 9000},
]
# Silence lengths in seconds for the defaults (min_interval 0.3 s, max_sil_kept 0.5 s): shorter
# than min_interval, up to max_sil_kept, up to twice it, longer; each class twice.
PAUSES = [0.05, 0.25, 0.3, 0.45, 0.5, 0.55, 0.8, 1.0, 1.05, 3.0]
SENTENCE = "the quick brown fox jumps over the lazy dog and keeps running through the open field"


@pytest.fixture(scope="module")
def slicer2() -> ModuleType:
    return upstream.load("tools/slicer2.py")


def pcm16(x: np.ndarray) -> np.ndarray:
    return np.asarray(np.clip(np.rint(x * 32768), -32768, 32767), dtype=np.int16)


def upstream_chunks(slicer2: ModuleType, x: np.ndarray, params: dict[str, Any]) -> list[tuple[int, int]]:
    """Upstream's chunks for PCM16 ``x``, as (start, end) offsets; the chunk samples must be what
    those offsets select, so offsets alone describe the result."""
    p = SliceAudioParams(**params)
    slicer = slicer2.Slicer(
        sr=RATE, threshold=p.threshold, min_length=p.min_length, min_interval=p.min_interval,
        hop_size=p.hop_size, max_sil_kept=p.max_sil_kept,
    )  # fmt: skip
    waveform = as_float(x)
    got = slicer.slice(waveform)
    if len(got) == 1 and isinstance(got[0], np.ndarray):  # a file too short to measure comes back whole
        assert got[0] is waveform
        return [(0, x.shape[-1])]
    for chunk, start, end in got:
        assert np.array_equal(chunk, waveform[..., start:end])
    return [(start, end) for _, start, end in got]


def same_cuts(slicer2: ModuleType, x: np.ndarray, **params: Any) -> list[tuple[int, int]]:
    ours = find_chunks(x, Slicing.from_params(SliceAudioParams(**params)))
    theirs = upstream_chunks(slicer2, x, params)
    assert len(ours) == len(theirs)
    assert ours == theirs
    return ours


@pytest.fixture(scope="module")
def sentence() -> np.ndarray:
    return speech(SENTENCE)


@pytest.fixture(scope="module")
def speech_20_min() -> np.ndarray:
    """20 minutes of sentences at varied loudness with pauses from 0.05 to 2.5 s over a faint
    noise floor, so that quietest-frame searches meet no ties."""
    return pcm16(speech_like(1200, seed=7, pauses=(0.05, 2.5), gains=(0.05, 1.0), noise=3e-4))


@pytest.mark.parametrize(("hop", "win"), [(320, 1280), (640, 2560), (160, 640), (224, 896), (32, 128), (320, 960)])
def test_rms_is_bit_equal_to_upstreams(slicer2: ModuleType, speech_20_min: np.ndarray, hop: int, win: int) -> None:
    x = speech_20_min[: 90 * RATE + 17]
    theirs = slicer2.get_rms(as_float(x), frame_length=win, hop_length=hop).squeeze(0)
    assert np.array_equal(frame_rms(x, hop, win), theirs)


@pytest.mark.parametrize("floor", [0.0, 1e-4], ids=["digital-silence", "noise-floor"])
@pytest.mark.parametrize("edge", [0.0, *PAUSES], ids=lambda s: f"edges-{s}s")
def test_leading_middle_and_trailing_silences_of_every_length(
    slicer2: ModuleType, sentence: np.ndarray, edge: float, floor: float
) -> None:
    parts = [sentence[: int(len(sentence) * (0.4 + 0.1 * (i % 5)))] for i in range(len(PAUSES) + 1)]
    middle, _ = join_with_pauses(parts, PAUSES)
    audio = np.concatenate([silence(edge), middle, silence(edge)])
    if floor:
        audio += white_noise(len(audio) / RATE, std=floor, seed=len(audio))
    cuts = same_cuts(slicer2, pcm16(audio))
    assert len(cuts) >= 3  # the signal does get cut, so the comparison covers cutting


@pytest.mark.parametrize("params", PARAMS, ids=lambda p: "-".join(f"{v}" for v in p.values()) or "defaults")
def test_every_pause_length_under_other_parameters(
    slicer2: ModuleType, sentence: np.ndarray, params: dict[str, Any]
) -> None:
    pauses = [0.002, 0.01, 0.04, 0.09, 0.15, 0.21, 0.35, 0.6, 1.1, 2.2, 4.5, 9.5, 12.0]
    parts = [sentence[: int(len(sentence) * (0.2 + 0.2 * (i % 5)))] for i in range(len(pauses) + 1)]
    audio, _ = join_with_pauses(parts, pauses)
    audio = np.concatenate([silence(1.7), audio, silence(0.9)])
    audio += white_noise(len(audio) / RATE, std=2e-4, seed=3)
    assert len(same_cuts(slicer2, pcm16(audio), **params)) >= 2


@pytest.mark.parametrize("params", PARAMS, ids=lambda p: "-".join(f"{v}" for v in p.values()) or "defaults")
def test_three_minutes_of_speech_under_other_parameters(
    slicer2: ModuleType, speech_20_min: np.ndarray, params: dict[str, Any]
) -> None:
    assert len(same_cuts(slicer2, speech_20_min[: 180 * RATE], **params)) >= 5


def test_twenty_minutes_of_speech_like_audio(slicer2: ModuleType, speech_20_min: np.ndarray) -> None:
    assert len(same_cuts(slicer2, speech_20_min)) >= 150


def test_twenty_minutes_in_digital_silence_where_every_search_ties(slicer2: ModuleType) -> None:
    x = pcm16(speech_like(1200, seed=8, pauses=(0.05, 2.5)))
    assert len(same_cuts(slicer2, x)) >= 150


def test_quiet_speech_around_the_threshold(slicer2: ModuleType) -> None:
    # Sentences whose median RMS lies between -46 and -33 dB, against the -34 dB threshold: frames
    # flicker across it inside sentences.
    x = pcm16(speech_like(300, seed=9, pauses=(0.05, 1.2), gains=(0.08, 0.35), noise=1e-4))
    assert len(same_cuts(slicer2, x)) >= 5


@pytest.mark.parametrize("seconds", [0.0, 0.004, 0.0125, 0.0126, 0.5, 1.0, 3.9], ids=lambda s: f"{s}s")
def test_files_shorter_than_min_length(slicer2: ModuleType, sentence: np.ndarray, seconds: float) -> None:
    # 0.0125 s is 400 samples, the 400 frames of min_length that upstream compares samples with.
    body = sentence[: round(seconds * RATE)]
    for audio in (body, np.concatenate([silence(0.6), body, silence(0.6)])):
        same_cuts(slicer2, pcm16(audio))


@pytest.mark.parametrize(
    "audio",
    [silence(6.0), white_noise(6.0, std=1e-3), np.concatenate([white_noise(3.0, std=1e-3), silence(3.0)])],
    ids=["digital-silence", "quiet-noise", "quiet-noise-then-silence"],
)
def test_files_without_sound_above_the_threshold(slicer2: ModuleType, audio: np.ndarray) -> None:
    same_cuts(slicer2, pcm16(audio))


def test_stereo_is_mixed_down_as_upstream_mixes_it(slicer2: ModuleType, speech_20_min: np.ndarray) -> None:
    left = speech_20_min[: 120 * RATE]
    right = pcm16(speech_like(120, seed=10, pauses=(0.05, 2.0), gains=(0.05, 1.0), noise=3e-4))
    assert len(same_cuts(slicer2, np.stack([left, right]))) >= 5


def test_rms_stays_bit_equal_if_numpy_summed_windows_in_another_order(
    slicer2: ModuleType, speech_20_min: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Our fast path assumes numpy's pairwise order; a numpy summing otherwise must lose it, not the cuts.
    monkeypatch.setattr(slicer, "_hop_tree", lambda n, hop, first=0: ((0, (1, 2)), 3))
    slicer._shared_hop_tree.cache_clear()
    try:
        x = speech_20_min[: 30 * RATE]
        theirs = slicer2.get_rms(as_float(x), frame_length=1280, hop_length=320).squeeze(0)
        assert slicer._shared_hop_tree(1280, 320) is None
        assert np.array_equal(frame_rms(x, 320, 1280), theirs)
    finally:
        slicer._shared_hop_tree.cache_clear()


STEP_PARAMS = [
    {},
    {"threshold": -45, "min_length": 2000, "min_interval": 200, "hop_size": 5, "max_sil_kept": 300, "_max": 0.6,
     "alpha": 0.7},
]  # fmt: skip


SLICE_THERE = """
import sys
from pathlib import Path
from sovits_core.params import SliceAudioParams
from sovits_steps.slicer import Slicing, slice_file
params = SliceAudioParams.model_validate_json(sys.argv[3])
slice_file(Path(sys.argv[1]), "talk.wav", Path(sys.argv[2]), Slicing.from_params(params))
"""


@pytest.fixture(scope="module")
def talk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What convert_audio leaves: 32 kHz mono PCM16, here 150 s of speech between silences."""
    audio = speech_like(150, seed=11, pauses=(0.05, 2.5), gains=(0.05, 1.0), noise=3e-4)
    audio = np.concatenate([silence(1.2), audio, silence(0.7)])
    return write_wav(tmp_path_factory.mktemp("talk") / "talk.wav", audio)


def samples_by_name(folder: Path) -> dict[str, list[int]]:
    return {path.name: read_pcm16(path).tolist() for path in sorted(folder.iterdir())}


@pytest.mark.parametrize("params", STEP_PARAMS, ids=["defaults", "others"])
@pytest.mark.parametrize("where", ["here", "upstream-env"])
def test_we_write_the_files_upstreams_slice_audio_py_writes(
    talk: Path, tmp_path: Path, params: dict[str, Any], where: str
) -> None:
    p = SliceAudioParams(**params)
    theirs, ours = tmp_path / "theirs", tmp_path / "ours"
    ours.mkdir()
    upstream.run(
        "tools/slice_audio.py", str(talk), str(theirs), str(p.threshold), str(p.min_length), str(p.min_interval),
        str(p.hop_size), str(p.max_sil_kept), str(p.max_amp), str(p.alpha), "0", "1",
    )  # fmt: skip
    if where == "here":
        slice_file(talk, talk.name, ours, Slicing.from_params(p))
    else:  # the step image's environment: upstream's pins, numpy 1.x
        upstream.run("-c", SLICE_THERE, str(talk), str(ours), p.model_dump_json(by_alias=True))

    expected = samples_by_name(theirs)
    assert len(expected) >= 10
    assert samples_by_name(ours) == expected
