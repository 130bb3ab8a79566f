"""What an upload really is, from its first bytes: the seed's formats are accepted by content,
never by extension. Magic bytes decide the common cases; ffprobe names the rest so a refusal
can say what was sent.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import threading
from collections.abc import Iterable
from dataclasses import dataclass

HEAD_BYTES = 64 * 1024
FFPROBE_TIMEOUT_S = 10.0
STREAMS_TIMEOUT_S = 600.0  # a whole upload read back from the store


@dataclass(frozen=True)
class Detected:
    format: str  # short name, e.g. "wav", "mp3", "ogg", "png", "text"
    media_type: str
    ext: str
    accepted: bool


AUDIO = {
    "wav": Detected("wav", "audio/wav", "wav", True),
    "mp3": Detected("mp3", "audio/mpeg", "mp3", True),
    "m4a": Detected("m4a", "audio/mp4", "m4a", True),
    "aac": Detected("aac", "audio/aac", "aac", True),
    "flac": Detected("flac", "audio/flac", "flac", True),
}
ACCEPTED_FORMATS = tuple(AUDIO)


def _other(fmt: str, media_type: str, ext: str = "bin") -> Detected:
    return Detected(fmt, media_type, ext, False)


# ISO base media brands that carry audio-only or general MP4 (ffmpeg reads their audio track).
_MP4_AUDIO_BRANDS = {b"M4A ", b"M4B ", b"M4P ", b"F4A ", b"mp41", b"mp42", b"isom", b"iso2", b"iso4",
                     b"iso5", b"iso6", b"dash", b"3gp4", b"3gp5", b"3g2a", b"MSNV"}  # fmt: skip
_SIMPLE_MAGIC: tuple[tuple[bytes, Detected], ...] = (
    (b"fLaC", AUDIO["flac"]),
    (b"OggS", _other("ogg", "audio/ogg", "ogg")),
    (b"\x1aE\xdf\xa3", _other("webm", "video/webm", "webm")),
    (b"\x89PNG\r\n\x1a\n", _other("png", "image/png", "png")),
    (b"\xff\xd8\xff", _other("jpeg", "image/jpeg", "jpg")),
    (b"GIF8", _other("gif", "image/gif", "gif")),
    (b"%PDF-", _other("pdf", "application/pdf", "pdf")),
    (b"PK\x03\x04", _other("zip", "application/zip", "zip")),
    (b"\x1f\x8b", _other("gzip", "application/gzip", "gz")),
    (b"\x7fELF", _other("elf", "application/x-executable")),
    (b"#!AMR", _other("amr", "audio/amr", "amr")),
    (b".snd", _other("au", "audio/basic", "au")),
)


def sniff(head: bytes) -> Detected | None:
    """The format the first bytes show, or None when magic bytes cannot tell."""
    head = _skip_id3(head)
    if head[:4] in (b"RIFF", b"RF64") and head[8:12] == b"WAVE":
        return AUDIO["wav"]
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return _other("aiff", "audio/aiff", "aiff")
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _MP4_AUDIO_BRANDS:
            return AUDIO["m4a"]
        return _other(f"mp4 ({brand.decode('latin-1').strip()})", "video/mp4", "mp4")
    for magic, detected in _SIMPLE_MAGIC:
        if head.startswith(magic):
            return detected
    frame = _mpeg_frame(head)
    if frame is not None:
        return frame
    if _is_text(head):
        return _other("text", "text/plain", "txt")
    return None


def probe(head: bytes) -> Detected:
    """ffprobe's name for bytes the magic table does not know (always a refusal)."""
    try:
        out = subprocess.run(
            ["ffprobe", "-v", "error", "-hide_banner", "-show_entries", "format=format_name",
             "-of", "json", "-i", "pipe:0"],
            input=head, capture_output=True, timeout=FFPROBE_TIMEOUT_S, check=False,
        )  # fmt: skip
        name = json.loads(out.stdout or b"{}").get("format", {}).get("format_name")
    except (OSError, subprocess.TimeoutExpired, ValueError):
        name = None
    if not name:
        return _other("unknown binary data", "application/octet-stream")
    return _other(str(name), "application/octet-stream")


def audio_streams(chunks: Iterable[bytes], timeout_s: float = STREAMS_TIMEOUT_S) -> int | None:
    """How many audio streams ffprobe finds in a whole file fed as ``chunks`` (blocking), or None
    when it cannot read the file. An MP4 names its streams in its ``moov`` box, which is often
    at the end, so the head alone cannot tell a video-only MP4 from an M4A."""
    proc = subprocess.Popen(
        ["ffprobe", "-v", "error", "-hide_banner", "-show_entries", "stream=codec_type", "-of", "csv=p=0",
         "-i", "pipe:0"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None
    stdin = proc.stdin

    def feed() -> None:
        with contextlib.suppress(OSError):  # ffprobe stops reading once it has seen enough
            for chunk in chunks:
                stdin.write(chunk)
        with contextlib.suppress(OSError):
            stdin.close()

    feeder = threading.Thread(target=feed, name="ffprobe-feed", daemon=True)
    watchdog = threading.Timer(timeout_s, proc.kill)
    with proc:  # closes the pipes however this ends
        feeder.start()
        watchdog.start()
        try:
            out = proc.stdout.read()
            code = proc.wait()
        finally:
            watchdog.cancel()
        feeder.join()  # ffprobe is gone: the feeder's writes fail at once and it ends
    if code != 0:
        return None
    return sum(1 for line in out.decode(errors="replace").split() if line.strip(",") == "audio")


def detect(head: bytes) -> Detected:
    return sniff(head) or probe(head)


def is_transcript_text(data: bytes) -> bool:
    return _is_text(data)


def _skip_id3(head: bytes) -> bytes:
    """Past an ID3v2 tag (MP3, sometimes AAC or FLAC carry one in front)."""
    if len(head) >= 10 and head[:3] == b"ID3":
        size = 10 + ((head[6] & 0x7F) << 21 | (head[7] & 0x7F) << 14 | (head[8] & 0x7F) << 7 | head[9] & 0x7F)
        if head[5] & 0x10:  # footer present
            size += 10
        rest = head[size:]
        # A tag longer than the head: the ID3 tag itself says MP3 in practice.
        return rest if rest else b"\xff\xfb"
    return head


def _mpeg_frame(head: bytes) -> Detected | None:
    if len(head) < 2 or head[0] != 0xFF:
        return None
    b1 = head[1]
    if b1 & 0xF6 == 0xF0:  # 12 sync bits, layer 00: ADTS
        return AUDIO["aac"]
    version, layer = (b1 >> 3) & 0x3, (b1 >> 1) & 0x3
    if b1 & 0xE0 == 0xE0 and version != 0b01 and layer != 0b00:
        return AUDIO["mp3"] if layer == 0b01 else _other("mpeg audio (layer I/II)", "audio/mpeg", "mp2")
    return None


def _is_text(data: bytes) -> bool:
    if not data or b"\x00" in data:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        # The head may end inside a multi-byte character.
        return exc.start >= len(data) - 3 and exc.reason == "unexpected end of data"
    return True
