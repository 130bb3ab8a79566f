"""slice_audio on espeak-ng speech joined by pauses the test places itself."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sovits_core import contract as c
from sovits_core.params import SliceAudioParams
from sovits_steps.audio import read_pcm16
from sovits_steps.slicer import SLICE_NAME, Slicing, below, normalise, slice_file
from tests.steps.conftest import LocalTask
from tests.support.audio import RATE, join_with_pauses, silence, speech, write_wav

HOP = 320  # 10 ms at 32 kHz, the default hop_size
PHRASES = [
    "the quick brown fox jumps over the lazy dog and keeps running through the open field",
    "many voices sing together in the morning light while the river flows to the sea",
    "a long time ago people wrote letters by hand and waited weeks for every answer",
    "the train leaves the station at noon and crosses the mountains before the night",
]


def long_segment(i: int) -> np.ndarray:
    """About eight seconds of speech without a pause anywhere near min_interval."""
    return np.concatenate([speech(PHRASES[i % 4]), speech(PHRASES[(i + 1) % 4])])


def slices(paths: list[Path]) -> list[tuple[int, int]]:
    bounds = []
    for path in sorted(paths):
        match = SLICE_NAME.match(path.name)
        assert match, path.name
        bounds.append((int(match["start"]), int(match["end"])))
    return sorted(bounds)


def run_slicer(tmp_path: Path, audio: np.ndarray, **params: float) -> tuple[np.ndarray, list[Path]]:
    src = write_wav(tmp_path / "talk.wav", audio)
    out = tmp_path / "sliced"
    out.mkdir()
    written = slice_file(src, src.name, out, Slicing.from_params(SliceAudioParams(**params)))
    return read_pcm16(src), written


@pytest.fixture(scope="module")
def paused() -> tuple[np.ndarray, list[tuple[int, int]]]:
    # Pauses shorter than max_sil_kept, between it and twice it, and far longer.
    return join_with_pauses([long_segment(i) for i in range(4)], [0.4, 0.8, 2.0])


def test_cuts_fall_within_one_hop_of_each_pause(
    paused: tuple[np.ndarray, list[tuple[int, int]]], tmp_path: Path
) -> None:
    audio, pauses = paused
    _, written = run_slicer(tmp_path, audio)
    bounds = slices(written)

    assert len(bounds) == len(pauses) + 1
    for (_, end), (start, _), (p_start, p_end) in zip(bounds[:-1], bounds[1:], pauses, strict=True):
        assert p_start - HOP <= end <= start <= p_end + HOP


def test_no_samples_are_lost_beyond_removed_silence(
    paused: tuple[np.ndarray, list[tuple[int, int]]], tmp_path: Path
) -> None:
    audio = np.concatenate([silence(1.5), paused[0], silence(1.0)])
    source, written = run_slicer(tmp_path, audio, alpha=0.0)  # alpha 0 only scales by 32767/32768

    bounds = slices(written)
    edges = [0, *[x for pair in bounds for x in pair], len(source)]
    for gap_start, gap_end in zip(edges[::2], edges[1::2], strict=True):
        assert not source[gap_start:gap_end].any(), "a removed stretch held sound"
    for path, (start, end) in zip(sorted(written), bounds, strict=True):
        written_samples, original = read_pcm16(path).astype(int), source[start:end].astype(int)
        assert len(written_samples) == len(original)
        assert np.abs(written_samples - original).max() <= 1
    assert bounds[0][0] <= 1.5 * RATE and len(source) - bounds[-1][1] <= 1.0 * RATE


def test_no_chunk_is_shorter_than_min_length_except_the_tail(tmp_path: Path) -> None:
    short = [speech(PHRASES[i % 4])[: int(2.2 * RATE)] for i in range(7)]
    audio, _ = join_with_pauses(short, [0.6] * 6)
    _, written = run_slicer(tmp_path, audio, min_length=4000)

    lengths = [end - start for start, end in slices(written)]
    assert len(lengths) >= 2
    assert all(n >= 4 * RATE for n in lengths[:-1])


def test_long_leading_and_trailing_silence_keep_at_most_max_sil_kept(tmp_path: Path) -> None:
    audio = np.concatenate([silence(3.0), long_segment(0), silence(3.0)])
    source, written = run_slicer(tmp_path, audio, max_sil_kept=500)

    ((start, end),) = slices(written)
    first_sound = int(np.flatnonzero(source)[0])
    assert first_sound - 500 * 32 - HOP <= start <= first_sound
    assert end <= int(np.flatnonzero(source)[-1]) + 500 * 32 + HOP


def test_output_names_carry_upstreams_offsets_even_past_the_last_sample(
    tmp_path: Path, paused: tuple[np.ndarray, list[tuple[int, int]]]
) -> None:
    source, written = run_slicer(tmp_path, paused[0])
    ends = []
    for path in written:
        match = SLICE_NAME.match(path.name)
        assert match and match["source"] == "talk.wav"
        start, end = int(match["start"]), int(match["end"])
        assert len(read_pcm16(path)) == min(end, len(source)) - start
        ends.append(end)
    # Upstream names the last chunk after its last frame, one hop boundary past the end.
    assert max(ends) == (len(source) // HOP + 1) * HOP


def test_each_chunk_blends_with_its_peak_normalised_copy() -> None:
    chunk = (np.sin(np.linspace(0, 20, 3200)) * 0.2 * 32768).astype(np.int16)
    out = normalise(chunk, max_amp=0.9, alpha=0.25)
    assert out is not None
    peak = np.abs(chunk).max() / 32768
    assert np.abs(out).max() / 32768 == pytest.approx(0.9 * 0.25 + 0.75 * peak, abs=1e-4)
    assert normalise(np.zeros(100, dtype=np.int16), 0.9, 0.25) is None


def test_alpha_zero_scales_by_32767_and_truncates_as_upstream_writes_int16() -> None:
    chunk = np.array([32767, -32768, 100, -100, 1, -1], dtype=np.int16)
    assert normalise(chunk, max_amp=0.9, alpha=0.0).tolist() == [32766, -32767, 99, -99, 0, 0]  # type: ignore[union-attr]


def test_shards_split_sorted_files_round_robin_and_keep_each_others_slices(task: LocalTask, tmp_path: Path) -> None:
    names = ["d.wav", "a.wav", "c.wav", "b.wav"]
    for i, name in enumerate(names):
        task.put(f"converted_wav/{name}", write_wav(tmp_path / name, long_segment(i)))

    assert task.run("slice_audio", shard=(1, 2)) == c.EXIT_OK
    assert {SLICE_NAME.match(n)["source"] for n in task.names("sliced")} == {"b.wav", "d.wav"}  # type: ignore[index]
    assert task.run("slice_audio", shard=(0, 2)) == c.EXIT_OK
    assert {SLICE_NAME.match(n)["source"] for n in task.names("sliced")} == set(names)  # type: ignore[index]
    assert task.names("logs") == ["slice_audio.0.log", "slice_audio.1.log"]
    assert set(task.names("progress")) == {"slice_audio.json", "slice_audio.0.json", "slice_audio.1.json"}


def test_only_silence_fails_as_bad_input_naming_the_threshold(task: LocalTask, tmp_path: Path) -> None:
    task.put("converted_wav/quiet.wav", write_wav(tmp_path / "quiet.wav", silence(6.0)))
    assert task.run("slice_audio", {"threshold": -20}) == c.EXIT_BAD_INPUT
    assert "threshold: no sound above -20 dB" in task.reason


def test_input_at_another_rate_is_sliced_at_32k(task: LocalTask, tmp_path: Path) -> None:
    task.put("converted_wav/v.wav", write_wav(tmp_path / "v.wav", speech(PHRASES[0], rate=16000), 16000))
    assert task.run("slice_audio") == c.EXIT_OK
    ((_, end),) = slices([Path(n) for n in task.names("sliced")])
    assert end == pytest.approx(len(speech(PHRASES[0])), abs=HOP)


def test_silence_is_decided_per_frame_as_upstreams_loop_compares() -> None:
    threshold = 10 ** (-40 / 20.0)
    edge = np.float32(threshold)  # rounds below it: silent under numpy 1.x's float64 test, not under 2.x
    rms = np.array([np.nextafter(edge, np.float32(0)), edge, np.nextafter(edge, np.float32(1))], dtype=np.float32)
    assert below(rms, threshold).tolist() == [bool(frame < threshold) for frame in rms]
