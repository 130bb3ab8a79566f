"""Which pretrained models each model step needs (reference §12)."""

from __future__ import annotations

from sovits_steps.upstream import pretrained


def names(step: str, version: str, languages: tuple[str, ...] = ("zh",)) -> list[str]:
    return [r.name for r in pretrained.requirements(step, version, languages) if not r.optional]  # type: ignore[arg-type]


def test_each_version_trains_from_its_own_checkpoints() -> None:
    assert names("train_sovits", "v2") == ["gsv-v2final-pretrained/s2G2333k.pth", "gsv-v2final-pretrained/s2D2333k.pth"]
    assert names("train_sovits", "v4") == ["gsv-v4-pretrained/s2Gv4.pth"]
    assert names("train_gpt", "v2ProPlus") == ["s1v3.ckpt"]
    assert names("extract_semantic_features", "v1") == ["s2G488k.pth"]


def test_g2pw_is_needed_for_chinese_text_after_v1_only() -> None:
    assert "G2PWModel" in names("extract_text_features", "v2")
    assert "G2PWModel" not in names("extract_text_features", "v2", ("en",))
    assert "G2PWModel" not in names("extract_text_features", "v1")


def test_speaker_vectors_and_vocoders_follow_the_version() -> None:
    assert names("extract_speaker_vectors", "v2") == []
    assert names("extract_speaker_vectors", "v2Pro") == ["sv/pretrained_eres2netv2w24s4ep4.ckpt"]
    assert "gsv-v4-pretrained/vocoder.pth" in names("test_inference", "v4")
    assert "models--nvidia--bigvgan_v2_24khz_100band_256x" in names("test_inference", "v3")


def test_a_folder_counts_as_present_when_any_file_lies_under_it() -> None:
    reqs = pretrained.requirements("extract_audio_features", "v2")
    assert pretrained.missing({"chinese-hubert-base/config.json"}, reqs) == []
    assert [r.name for r in pretrained.missing({"chinese-hubert-base-old/x"}, reqs)] == ["chinese-hubert-base"]
