"""Upstream's ``.list`` annotation format: ``path|speaker|LANG|text``, one clip per line.

We write the path column as ``denoised/<clip>`` (relative to the task prefix); upstream's
feature scripts resolve a clip by its basename inside the audio folder they are given,
so any prefix works for them. A user's own ``.list`` is checked line by line against the
clips that exist and the language spellings upstream's text step accepts (anything else,
``AUTO`` included, would be dropped there without a word).
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import InvalidInput

# Upstream's accepted spellings, mapped to the upper-case code its ASR writes.
LANGUAGES = {
    "zh": "ZH", "ZH": "ZH",
    "ja": "JA", "JA": "JA", "jp": "JA", "JP": "JA",
    "en": "EN", "EN": "EN", "En": "EN",
    "ko": "KO", "KO": "KO", "Ko": "KO",
    "yue": "YUE", "YUE": "YUE", "Yue": "YUE",
}  # fmt: skip
MAX_PROBLEMS = 10


@dataclass(frozen=True)
class Line:
    clip: str  # basename of the clip
    speaker: str
    language: str  # upper case, one of LANGUAGES' values
    text: str


def format_list(lines: list[Line], folder: str) -> str:
    """Upstream's layout: lines joined by newlines, no trailing newline."""
    return "\n".join(f"{folder}/{ln.clip}|{ln.speaker}|{ln.language}|{ln.text}" for ln in lines)


def parse_list(data: bytes, source: str, clips: set[str], *, allow_empty: bool = False) -> list[Line]:
    """Validate an uploaded ``.list``; InvalidInput lists the first problems with line numbers.
    ``allow_empty`` keeps lines with no text (the dataset report flags them ``empty_text``)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{source}: not UTF-8 (byte {exc.start})", field=source) from None
    lines: list[Line] = []
    problems: list[str] = []
    seen: set[str] = set()
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        fields = raw.split("|")
        if len(fields) != 4:
            problems.append(f"line {number}: expected 4 '|'-separated fields, found {len(fields)}")
            continue
        path, speaker, language, words = (f.strip() for f in fields)
        clip = path.replace("\\", "/").rsplit("/", 1)[-1]
        if clip not in clips:
            problems.append(f"line {number}: clip {clip!r} is not among the denoised clips")
        elif clip in seen:
            problems.append(f"line {number}: clip {clip!r} is listed twice")
        if language not in LANGUAGES:
            problems.append(f"line {number}: language {language!r} is not one of zh, ja, en, ko, yue")
        if not words and not allow_empty:
            problems.append(f"line {number}: empty text")
        seen.add(clip)
        if not problems:
            lines.append(Line(clip, speaker, LANGUAGES[language], words))
    if problems:
        more = f" (and {len(problems) - MAX_PROBLEMS} more)" if len(problems) > MAX_PROBLEMS else ""
        raise InvalidInput(f"{source}: " + "; ".join(problems[:MAX_PROBLEMS]) + more, field=source)
    if not lines:
        raise InvalidInput(f"{source}: no transcript lines", field=source)
    return lines
