"""Upload filenames: what a client sends becomes one safe name inside the task's folder.

Rules (documented for users in the API description):
- only the last path component is kept (``C:\\Users\\me\\a.wav`` and ``dir/a.wav`` become ``a.wav``);
- the name is NFC-normalised, so the same text typed on macOS and Linux is one name;
- NUL and other control characters are refused; ``.``/``..``/empty names are refused;
- ``|`` becomes ``_`` (upstream's ``.list`` transcripts use it as the column separator);
- leading dots are dropped (no hidden files) and the name is cut to 200 UTF-8 bytes, keeping
  the extension;
- a name already taken gets a number: ``a.wav``, then ``a-1.wav``, ``a-2.wav``, ... An
  upload never overwrites an earlier one.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable

from sovits_core.errors import InvalidInput

MAX_NAME_BYTES = 200
FIELD = "file.filename"


def sanitize(raw: str | None) -> str:
    if raw is None or raw == "":
        raise InvalidInput(f"{FIELD}: the upload has no filename", field=FIELD)
    name = unicodedata.normalize("NFC", raw)
    if any(unicodedata.category(c) == "Cc" for c in name):
        raise InvalidInput(f"{FIELD}: {raw!r} contains NUL or another control character", field=FIELD)
    name = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    name = name.replace("|", "_").lstrip(".").strip()
    if not name:
        raise InvalidInput(f"{FIELD}: {raw!r} leaves no usable name", field=FIELD)
    return _cut(name)


def with_extension(name: str, ext: str) -> str:
    """``name`` with ``ext`` appended when it has no extension at all."""
    return name if "." in name else _cut(f"{name}.{ext}")


def numbered(name: str, taken: Callable[[str], bool]) -> str:
    """The first of ``name``, ``stem-1.ext``, ``stem-2.ext``, ... that is not taken."""
    if not taken(name):
        return name
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        stem, dot, ext = name, "", ""
    n = 1
    while True:
        candidate = _cut(f"{stem}-{n}{dot}{ext}", keep=len(f"-{n}{dot}{ext}".encode()))
        if not taken(candidate):
            return candidate
        n += 1


def _cut(name: str, keep: int | None = None) -> str:
    """At most MAX_NAME_BYTES of UTF-8, trimming the stem and keeping the tail (extension)."""
    data = name.encode()
    if len(data) <= MAX_NAME_BYTES:
        return name
    if keep is None:
        _, dot, ext = name.rpartition(".")
        keep = len(f".{ext}".encode()) if dot and len(ext) <= 16 else 0
    head = data[: MAX_NAME_BYTES - keep].decode("utf-8", errors="ignore")
    tail = data[len(data) - keep :].decode("utf-8", errors="ignore") if keep else ""
    return head + tail
