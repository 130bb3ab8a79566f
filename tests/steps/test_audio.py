"""Reading PCM16 WAVs: the plain path our own clips take reads what libsndfile reads, and leaves
every other file to libsndfile or ffmpeg."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from sovits_steps.audio import plain_pcm16, read_pcm16
from tests.support.audio import RATE, speech, tone, write_wav


def test_a_mono_pcm16_clip_reads_the_samples_libsndfile_reads(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "a.wav", speech("water flows downhill"))
    plain = plain_pcm16(path, RATE)
    assert plain is not None and plain.flags.writeable
    assert np.array_equal(plain, sf.read(str(path), dtype="int16")[0])


def test_a_mapped_read_shows_the_same_samples_without_letting_them_be_changed(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "a.wav", speech("water flows downhill"))
    mapped = read_pcm16(path, RATE, mapped=True)
    assert np.array_equal(mapped, sf.read(str(path), dtype="int16")[0])
    assert not mapped.flags.writeable  # the file's pages: a writer would change the file
    assert read_pcm16(path, RATE).flags.writeable
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    assert plain_pcm16(empty, RATE, mapped=True) is None


def test_other_rates_channels_encodings_and_truncated_files_take_the_general_path(tmp_path: Path) -> None:
    x = tone(440, 0.5)
    at_16k = write_wav(tmp_path / "16k.wav", tone(440, 0.5, rate=16000), rate=16000)
    stereo = tmp_path / "stereo.wav"
    sf.write(str(stereo), np.stack([x, x], axis=1), RATE, subtype="PCM_16")
    floats = tmp_path / "float.wav"
    sf.write(str(floats), x, RATE, subtype="FLOAT")
    whole = write_wav(tmp_path / "whole.wav", x).read_bytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(whole[: len(whole) // 2])

    for path in (at_16k, stereo, floats, cut):
        assert plain_pcm16(path, RATE) is None and plain_pcm16(path, RATE, mapped=True) is None, path.name
    assert len(read_pcm16(at_16k, RATE)) == len(x)  # resampled by ffmpeg
    written = sf.read(str(stereo), dtype="int16")[0][:, 0]
    assert np.array_equal(read_pcm16(stereo, RATE), written)  # two equal channels mixed down by ffmpeg
    assert np.array_equal(read_pcm16(cut, RATE), written[: (len(whole) // 2 - 44) // 2])  # what is there
