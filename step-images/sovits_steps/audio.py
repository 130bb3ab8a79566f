"""Audio I/O shared by the preparation steps: ffmpeg decoding with integrity checks, PCM16 WAV.

ffmpeg decodes happily what is left of a cut-off file, so a clean exit is not enough to call
an input whole: we also compare the decoded length with what the container declares, read
a WAV's own data size, and look for the end-of-stream page of an Ogg file.
"""

from __future__ import annotations

import json
import mmap
import os
import struct
import subprocess
from pathlib import Path

import numpy as np
import numpy.typing as npt
import soundfile as sf

SLICE_RATE = 32000  # upstream loads every clip at 32 kHz for slicing and training
PCM16_SCALE = 32768.0


class DecodeError(Exception):
    """A file ffmpeg cannot turn into usable audio; the message says why, in a few words."""


# What reading one file raises when the file itself is bad: our own checks and libsndfile's.
UNREADABLE: tuple[type[Exception], ...] = (DecodeError, sf.SoundFileError)


def _tail(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:200] if lines else "no detail"


def declared_duration(path: Path) -> float | None:
    """What the container says the length is, or None when ffmpeg only guesses it."""
    proc = subprocess.run(
        ["ffprobe", "-v", "warning", "-show_entries", "format=duration:stream=codec_type", "-of", "json", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise DecodeError(f"not a media file ({_tail(proc.stderr)})")
    info = json.loads(proc.stdout or "{}")
    if not any(s.get("codec_type") == "audio" for s in info.get("streams", [])):
        raise DecodeError("has no audio stream")
    if "Estimating duration from bitrate" in proc.stderr:
        return None
    try:
        return float(info["format"]["duration"])
    except (KeyError, TypeError, ValueError):
        return None


def wav_shortfall(path: Path) -> str | None:
    """A reason if a RIFF/WAVE file holds fewer data bytes than its header declares."""
    with path.open("rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        size = path.stat().st_size
        pos = 12
        while pos + 8 <= size:
            f.seek(pos)
            chunk_id, chunk_len = struct.unpack("<4sI", f.read(8))
            if chunk_id == b"data":
                # 0 and 0xFFFFFFFF mean "unknown length" (streamed WAV): nothing to compare.
                if chunk_len not in (0, 0xFFFFFFFF) and size - (pos + 8) < chunk_len:
                    return f"truncated: header declares {chunk_len} data bytes, file has {size - pos - 8}"
                return None
            pos += 8 + chunk_len + (chunk_len & 1)
    return None


def ogg_shortfall(path: Path) -> str | None:
    """A reason if an Ogg file's last page is not marked end-of-stream."""
    with path.open("rb") as f:
        if f.read(4) != b"OggS":
            return None
        f.seek(max(0, path.stat().st_size - 65536))
        tail = f.read()
    last = tail.rfind(b"OggS")
    if last < 0 or last + 6 > len(tail) or not tail[last + 5] & 0x04:
        return "truncated: the Ogg stream has no end-of-stream page"
    return None


def decode_to_wav(src: Path, dst: Path, sample_rate: int) -> float:
    """Decode ``src`` to mono PCM16 WAV at ``sample_rate``; seconds decoded, or DecodeError."""
    if src.stat().st_size == 0:
        raise DecodeError("is empty")
    declared = declared_duration(src)
    for check in (wav_shortfall, ogg_shortfall):
        if reason := check(src):
            raise DecodeError(reason)
    proc = subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-hide_banner",
            "-v",
            "error",
            "-y",
            "-i",
            str(src),
            "-vn",
            "-ac",
            "1",
            "-ar",
            str(sample_rate),
            "-c:a",
            "pcm_s16le",
            "-f",
            "wav",
            str(dst),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise DecodeError(f"ffmpeg failed ({_tail(proc.stderr)})")
    if proc.stderr.strip():
        raise DecodeError(f"damaged or truncated ({_tail(proc.stderr)})")
    decoded = float(sf.info(str(dst)).frames) / sample_rate
    if decoded <= 0:
        raise DecodeError("decodes to no samples")
    if declared is not None and decoded < 0.95 * declared - 0.1:
        raise DecodeError(f"truncated: decodes to {decoded:.2f}s of a declared {declared:.2f}s")
    return decoded


def plain_pcm16(path: Path, sample_rate: int, *, mapped: bool = False) -> npt.NDArray[np.int16] | None:
    """The samples of a whole mono PCM16 WAV at ``sample_rate`` (what our steps write), read
    straight from its data chunk; None for any other file. Opening a file with libsndfile costs
    more than reading a short clip, and the dataset report reads thousands of them. ``mapped``:
    a read-only view of the file's pages (the system's cache, no copy), for a reader that only
    looks; otherwise one read into a buffer numpy may write to."""
    with path.open("rb", buffering=0) as f:
        size = os.fstat(f.fileno()).st_size
        if mapped and size > 0:
            buf: bytearray | mmap.mmap = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        else:
            buf = bytearray(size)
            f.readinto(buf)
    if buf[:4] != b"RIFF" or buf[8:12] != b"WAVE":
        return None
    pos, fmt = 12, (0,) * 6
    while pos + 8 <= len(buf):
        chunk_id, size = struct.unpack_from("<4sI", buf, pos)
        body = pos + 8
        if chunk_id == b"fmt " and size >= 16 and body + 16 <= len(buf):
            fmt = struct.unpack_from("<HHIIHH", buf, body)  # tag (1: integer PCM), channels, rate, ..., bits
        elif chunk_id == b"data":
            if fmt[:3] != (1, 1, sample_rate) or fmt[5:] != (16,) or body + size > len(buf):
                return None
            return np.frombuffer(buf, dtype="<i2", count=size // 2, offset=body).astype(np.int16, copy=False)
        pos = body + size + (size & 1)
    return None


def read_pcm16(path: Path, sample_rate: int = SLICE_RATE, *, mapped: bool = False) -> npt.NDArray[np.int16]:
    """Mono int16 samples at ``sample_rate``: read directly when the WAV already is, else ffmpeg;
    ``mapped``: read-only where the file is plain PCM16 (``plain_pcm16``)."""
    if (plain := plain_pcm16(path, sample_rate, mapped=mapped)) is not None:
        return plain
    info = sf.info(str(path))
    if info.samplerate == sample_rate and info.channels == 1 and info.subtype == "PCM_16":
        data, _ = sf.read(str(path), dtype="int16")  # a truncated one: what libsndfile makes of it
        return np.asarray(data, dtype=np.int16)
    proc = subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-ac", "1", "-ar", str(sample_rate), "-f", "s16le", "-"],
        capture_output=True,
        check=False,
    )
    if proc.returncode != 0:
        raise DecodeError(f"ffmpeg failed ({_tail(proc.stderr.decode(errors='replace'))})")
    return np.frombuffer(proc.stdout, dtype=np.int16)


def write_pcm16(path: Path, samples: npt.NDArray[np.int16], sample_rate: int) -> None:
    sf.write(str(path), samples, sample_rate, subtype="PCM_16", format="WAV")


def to_pcm16(x: npt.NDArray[np.floating]) -> npt.NDArray[np.int16]:
    """Float samples in [-1, 1) to int16 on the same 1/32768 scale ``read_pcm16`` implies."""
    return np.asarray(np.clip(np.rint(x * PCM16_SCALE), -32768, 32767), dtype=np.int16)
