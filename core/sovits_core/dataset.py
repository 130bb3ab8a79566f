"""The dataset report: flags, summary, verdict and advice, from measurements and the transcript.

A pure function of three stored documents (``contract``): asr_transcribe's audio
measurements of every clip, the current transcript (``.list``), and, once
extract_text_features has run, the record of what it left out. The REST API computes it on
each request, so a proofreading edit changes the text flags at once; extract_text_features
computes it to decide what to leave out. Thresholds are constants here, documented in
docs/dataset-report.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal, get_args

from .contract import SLICE_NAME
from .transcripts import Line

Flag = Literal[
    "too_short",
    "too_long",
    "clipping",
    "noisy",
    "quiet",
    "long_silence",
    "empty_text",
    "text_rate",
    "other_speaker",
    "duplicate",
]
FLAGS: tuple[Flag, ...] = get_args(Flag)
DROPPED = "dropped"  # not a flag: a clip proofreading took out of the transcript

# Clips these flags mark break training (an empty line reaches BERT as nothing; a very long
# clip runs out of GPU memory), so extract_text_features leaves them out unless told otherwise.
DEFAULT_EXCLUDE: tuple[Flag, ...] = ("empty_text", "too_long")

MIN_SECONDS = 1.0
MAX_SECONDS = 30.0  # hosted trainers refuse longer clips; upstream runs out of memory on them
CLIPPING_RATIO = 0.01
NOISY_SNR_DB = 15.0
QUIET_RMS_DBFS = -40.0
EDGE_SILENCE_S = 1.0
# The similarity to the main voice under which a clip is another speaker's, by the embedding
# asr_transcribe measured with (``speaker_model`` of each clip; docs/dataset-report.md):
# the lightweight cepstral statistics, or upstream's v2Pro speaker-verification model when the
# model store holds it (0.25: the verification threshold 3D-Speaker publishes for ERes2Net).
CEPSTRAL, ERES2NETV2 = "cepstral", "eres2netv2"
OTHER_SPEAKER_SIMILARITY: dict[str, float] = {CEPSTRAL: 0.85, ERES2NETV2: 0.25}
# Characters (letters and digits) per second of speech: scripts that write a syllable per
# character run slower than alphabetic ones.
SYLLABIC = {"ZH", "JA", "YUE", "KO"}
RATE_BOUNDS = {True: (1.0, 12.0), False: (3.0, 30.0)}
MIN_USABLE_MINUTES = 1.0

ADVICE: dict[str, str] = {
    "too_short": "Clips under 1 s teach little: raise slice_audio's min_length, or drop them.",
    "too_long": "Clips over 30 s run out of GPU memory: re-slice with a shorter min_interval, or drop them.",
    "clipping": "The recording is overdriven: record again at a lower input gain; clipping cannot be undone.",
    "noisy": "Background noise is high: run denoise_audio (frcrn for heavy noise) or record in a quieter room.",
    "quiet": "Speech is very quiet: record closer to the microphone or raise the input gain.",
    "long_silence": "Long silence at a clip's start or end: re-slice with a smaller max_sil_kept.",
    "empty_text": "No transcript: type the text in the proofreading view or drop the clip.",
    "text_rate": "The text is implausibly long or short for the clip: check the transcript in the proofreading view.",
    "other_speaker": "Another voice than the main one: drop these clips unless the voice really is the same.",
    "duplicate": "The same audio appears twice: drop one copy so it is not learned twice as hard.",
}


def source_of(clip: str) -> str:
    """The uploaded file a slice was cut from (the clip itself when it is not a slice)."""
    match = SLICE_NAME.match(clip)
    return match["source"] if match else clip


def spoken_chars(text: str) -> int:
    return sum(ch.isalnum() for ch in text)


def clip_flags(audio: Mapping[str, Any], line: Line | None) -> list[dict[str, str]]:
    """Each problem of one clip, with the measured value that raised it."""
    flags: list[dict[str, str]] = []

    def flag(name: Flag, reason: str) -> None:
        flags.append({"flag": name, "reason": reason})

    duration = float(audio["duration_s"])
    if duration < MIN_SECONDS:
        flag("too_short", f"{duration:.2f} s is under {MIN_SECONDS:g} s")
    if duration > MAX_SECONDS:
        flag("too_long", f"{duration:.1f} s is over {MAX_SECONDS:g} s")
    if audio["clipping_ratio"] > CLIPPING_RATIO:
        flag("clipping", f"{100 * audio['clipping_ratio']:.1f}% of samples sit at the peak")
    if audio["snr_db"] < NOISY_SNR_DB:
        flag("noisy", f"estimated SNR {audio['snr_db']:.1f} dB is under {NOISY_SNR_DB:g} dB")
    if audio["rms_dbfs"] < QUIET_RMS_DBFS:
        flag("quiet", f"RMS level {audio['rms_dbfs']:.1f} dBFS is under {QUIET_RMS_DBFS:g} dBFS")
    edges = {"leading": audio["lead_silence_s"], "trailing": audio["trail_silence_s"]}
    for where, seconds in edges.items():
        if seconds > EDGE_SILENCE_S:
            flag("long_silence", f"{seconds:.1f} s of {where} silence")
    if line is None or not line.text.strip():
        flag("empty_text", "no transcript line" if line is None else "the transcript line is empty")
    else:
        rate = chars_per_s(audio, line.text)
        low, high = RATE_BOUNDS[line.language in SYLLABIC]
        if not low <= rate <= high:
            flag("text_rate", f"{rate:.1f} characters per second of speech is outside {low:g}-{high:g}")
    # Under a second of sound the embedding is too noisy to accuse anyone (too_short says enough).
    model = speaker_model(audio)
    floor = OTHER_SPEAKER_SIMILARITY[model]
    if audio["speaker_similarity"] < floor and duration >= MIN_SECONDS:
        flag(
            "other_speaker",
            f"similarity {audio['speaker_similarity']:.2f} to the main voice is under {floor:g} ({model} embedding)",
        )
    if audio.get("duplicate_of"):
        flag("duplicate", f"the same audio as {audio['duplicate_of']}")
    return flags


def speaker_model(audio: Mapping[str, Any]) -> str:
    """The embedding a clip's speaker similarity was measured with (measurements from before
    the choice existed are cepstral)."""
    return str(audio.get("speaker_model") or CEPSTRAL)


def chars_per_s(audio: Mapping[str, Any], text: str) -> float:
    """Letters and digits per second of sound (edge silences left out)."""
    speaking = float(audio["duration_s"]) - float(audio["lead_silence_s"]) - float(audio["trail_silence_s"])
    return round(spoken_chars(text) / max(speaking, 0.1), 2)


def excluded_by(flags: Iterable[Mapping[str, str]], exclude: Iterable[str]) -> list[str]:
    wanted = set(exclude)
    return sorted({f["flag"] for f in flags if f["flag"] in wanted})


def exclusions(
    audio: Sequence[Mapping[str, Any]], lines: Sequence[Line], exclude: Iterable[str]
) -> dict[str, list[str]]:
    """Clip -> the flags among ``exclude`` it carries, for clips of the transcript (what
    extract_text_features leaves out)."""
    by_clip = {a["clip"]: a for a in audio}
    wanted = list(exclude)
    out: dict[str, list[str]] = {}
    for line in lines:
        if line.clip in by_clip:
            hit = excluded_by(clip_flags(by_clip[line.clip], line), wanted)
        else:  # a clip asr_transcribe did not measure: only its text can be judged
            hit = ["empty_text"] if "empty_text" in wanted and not line.text.strip() else []
        if hit:
            out[line.clip] = hit
    return out


def report(
    audio: Sequence[Mapping[str, Any]],
    lines: Sequence[Line],
    *,
    dropped: Iterable[str] = (),
    excluded: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The report the REST API serves. ``excluded`` is extract_text_features' record
    (``{"exclude_flags": [...], "clips": {clip: [flags]}}``); without one the report shows what
    the default ``exclude_flags`` would leave out."""
    by_clip = {line.clip: line for line in lines}
    gone = set(dropped) - set(by_clip)
    exclude_flags = list(excluded["exclude_flags"]) if excluded else list(DEFAULT_EXCLUDE)
    recorded: Mapping[str, Any] | None = excluded["clips"] if excluded else None
    clips: list[dict[str, Any]] = []
    counts: dict[str, int] = dict.fromkeys(FLAGS, 0)
    total = usable = 0.0
    for a in sorted(audio, key=lambda a: str(a["clip"])):
        name = str(a["clip"])
        line = by_clip.get(name)
        duration = float(a["duration_s"])
        total += duration
        if name in gone:
            flags = [{"flag": DROPPED, "reason": "dropped in proofreading"}]
            out = True
        else:
            flags = clip_flags(a, line)
            for f in flags:
                counts[f["flag"]] += 1
            out = name in recorded if recorded is not None else bool(excluded_by(flags, exclude_flags))
            out = out or line is None
        if not out:
            usable += duration
        clips.append(
            {
                "source": source_of(name),
                "clip": name,
                **{k: a[k] for k in MEASURED},
                "text": line.text if line else "",
                "language": line.language if line else None,
                "chars_per_s": chars_per_s(a, line.text) if line else 0.0,
                "flags": flags,
                "excluded": out,
            }
        )
    flag_counts = {f: n for f, n in counts.items() if n}
    return {
        "summary": {
            "clips": len(clips),
            "total_minutes": round(total / 60, 2),
            "usable_minutes": round(usable / 60, 2),
            "flagged_clips": sum(1 for c in clips if c["flags"] and c["flags"][0]["flag"] != DROPPED),
            "flag_counts": flag_counts,
            "verdict": verdict(usable / 60, flag_counts),
            "advice": [{"flag": f, "text": ADVICE[f]} for f in flag_counts],
            "excluded": sorted(c["clip"] for c in clips if c["excluded"]),
            "exclude_flags": exclude_flags,
            "excluded_by": "extract_text_features" if excluded else "default",
            "dropped": sorted(gone),
            "speaker_model": speaker_model(audio[0]) if audio else CEPSTRAL,
        },
        "clips": clips,
    }


MEASURED = (
    "duration_s",
    "peak_dbfs",
    "rms_dbfs",
    "clipping_ratio",
    "snr_db",
    "lead_silence_s",
    "trail_silence_s",
    "speaker_similarity",
)


def verdict(usable_minutes: float, flag_counts: Mapping[str, int]) -> Literal["ok", "warn", "insufficient"]:
    """insufficient: under a minute of usable speech, too little to clone a voice; warn: anything flagged."""
    if usable_minutes < MIN_USABLE_MINUTES:
        return "insufficient"
    return "warn" if flag_counts else "ok"


def status_line(summary: Mapping[str, Any]) -> str:
    """The short form the TrainingTask status and `kubectl get -o wide` show."""
    return f"{summary['verdict']}: {summary['usable_minutes']:g} usable min, {summary['flagged_clips']} flagged clips"
