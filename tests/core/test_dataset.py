"""The dataset report's decisions, on measurements written out by hand for each boundary."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sovits_core import dataset
from sovits_core.dataset_store import summary_due, summary_status
from sovits_core.model import StepStatus, TrainingTaskStatus
from sovits_core.transcripts import Line

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def clip(name: str, **measured: Any) -> dict[str, Any]:
    base = {
        "clip": name, "duration_s": 5.0, "peak_dbfs": -1.0, "rms_dbfs": -20.0, "clipping_ratio": 0.0,
        "snr_db": 40.0, "lead_silence_s": 0.2, "trail_silence_s": 0.3, "speaker_similarity": 0.97,
        "duplicate_of": None,
    }  # fmt: skip
    return {**base, **measured}


def line(name: str, text: str = "a sentence of about fifty letters spoken at ease", language: str = "EN") -> Line:
    return Line(name, "alice", language, text)


def flags_of(audio: dict[str, Any], ln: Line | None) -> set[str]:
    return {f["flag"] for f in dataset.clip_flags(audio, ln)}


def test_each_threshold_flags_just_past_it_and_not_at_it() -> None:
    at = {"duration_s": 1.0, "clipping_ratio": 0.01, "snr_db": 15.0, "rms_dbfs": -40.0, "speaker_similarity": 0.85}
    past = {"duration_s": 0.99, "clipping_ratio": 0.011, "snr_db": 14.9, "rms_dbfs": -40.1, "speaker_similarity": 0.84}
    short_text = line("a", "a few words")
    assert flags_of(clip("a", **at), short_text) == set()
    assert flags_of(clip("a", **past), short_text) == {"too_short", "clipping", "noisy", "quiet"}
    assert flags_of(clip("a", **{**past, "duration_s": 1.0}), short_text) == {
        "clipping",
        "noisy",
        "quiet",
        "other_speaker",
    }
    assert flags_of(clip("a", duration_s=30.5), line("a", "x" * 300)) == {"too_long"}
    assert flags_of(clip("a", lead_silence_s=1.2), line("a")) == {"long_silence"}


def test_the_other_speaker_threshold_is_that_of_the_embedding_measured_with() -> None:
    # 0.5 is far for the cepstral statistics, close for a speaker-verification model.
    assert flags_of(clip("a", speaker_similarity=0.5), line("a")) == {"other_speaker"}
    assert flags_of(clip("a", speaker_similarity=0.5, speaker_model="eres2netv2"), line("a")) == set()
    far = dataset.clip_flags(clip("a", speaker_similarity=0.2, speaker_model="eres2netv2"), line("a"))
    assert [f["flag"] for f in far] == ["other_speaker"] and "(eres2netv2 embedding)" in far[0]["reason"]
    report = dataset.report([clip("a.wav", speaker_model="eres2netv2")], [line("a.wav")])
    assert report["summary"]["speaker_model"] == "eres2netv2"
    assert dataset.report([clip("a.wav")], [line("a.wav")])["summary"]["speaker_model"] == "cepstral"


def test_the_text_rate_depends_on_the_script() -> None:
    chinese = line("a", "今天天气很好我们去公园散步吧", "ZH")  # 14 characters in 4.5 s of sound
    assert flags_of(clip("a"), chinese) == set()
    assert flags_of(clip("a"), line("a", "today the weather is fine", "EN")) == set()
    assert flags_of(clip("a"), line("a", "hi")) == {"text_rate"}
    assert flags_of(clip("a"), None) == {"empty_text"}


def test_usable_minutes_and_the_verdict() -> None:
    audio = [clip(f"c{i}.wav", duration_s=10.0) for i in range(7)] + [clip("long.wav", duration_s=40.0)]
    lines = [line(f"c{i}.wav", "words " * 25) for i in range(7)] + [line("long.wav", "words " * 100)]
    summary = dataset.report(audio, lines)["summary"]
    assert summary["usable_minutes"] == round(70 / 60, 2) and summary["total_minutes"] == round(110 / 60, 2)
    assert summary["verdict"] == "warn" and summary["excluded"] == ["long.wav"]
    assert dataset.report(audio[:7], lines[:7])["summary"]["verdict"] == "ok"
    assert dataset.report(audio[:5], lines[:5])["summary"]["verdict"] == "insufficient"  # 50 s


def test_a_recorded_exclusion_and_a_dropped_clip_are_what_the_report_shows() -> None:
    audio = [clip("a.wav"), clip("b.wav"), clip("c.wav", snr_db=5.0)]
    lines = [line("a.wav"), line("c.wav")]
    record = {"exclude_flags": ["noisy"], "clips": {"c.wav": ["noisy"]}}
    report = dataset.report(audio, lines, dropped=["b.wav"], excluded=record)
    by_clip = {c["clip"]: c for c in report["clips"]}
    assert by_clip["b.wav"]["flags"] == [{"flag": "dropped", "reason": "dropped in proofreading"}]
    assert report["summary"]["excluded"] == ["b.wav", "c.wav"] and report["summary"]["excluded_by"] == (
        "extract_text_features"
    )
    assert report["summary"]["flagged_clips"] == 1 and report["summary"]["dropped"] == ["b.wav"]
    assert dataset.exclusions(audio, lines, ["noisy", "empty_text"]) == {"c.wav": ["noisy"]}


def test_the_status_summary_is_due_after_each_step_that_changes_the_report() -> None:
    def done(name: str, at: datetime) -> StepStatus:
        return StepStatus(name=name, phase="completed", finished_at=at)

    status = TrainingTaskStatus(steps=[done("denoise_audio", T0)])
    assert summary_due(status) is None
    status.steps.append(done("asr_transcribe", T0 + timedelta(minutes=1)))
    assert summary_due(status) == T0 + timedelta(minutes=1)
    report = dataset.report([clip("a.wav")], [line("a.wav")])
    status.dataset = summary_status(report, T0 + timedelta(minutes=1))
    assert summary_due(status) is None
    assert status.dataset.summary == "insufficient: 0.08 usable min, 0 flagged clips"
    status.steps.append(done("extract_text_features", T0 + timedelta(minutes=2)))
    assert summary_due(status) == T0 + timedelta(minutes=2)
