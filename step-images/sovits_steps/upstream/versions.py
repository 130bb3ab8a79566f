"""What differs between upstream's model versions, as data (reference §9-§13)."""

from __future__ import annotations

from dataclasses import dataclass

from sovits_core.model import ModelVersion

PRETRAINED = "GPT_SoVITS/pretrained_models"  # upstream's folder, relative to the repo root
CONFIGS = "GPT_SoVITS/configs"
G2PW_DIR = "GPT_SoVITS/text/G2PWModel"  # outside pretrained_models, looked up relative to the CWD

# Names under pretrained_models/ (and under the model store's prefix).
BERT = "chinese-roberta-wwm-ext-large"
HUBERT = "chinese-hubert-base"
SPEAKER_VERIFICATION = "sv/pretrained_eres2netv2w24s4ep4.ckpt"
G2PW = "G2PWModel"
NLTK_DATA = "nltk_data"
FAST_LANGDETECT = "fast_langdetect"


@dataclass(frozen=True)
class VersionInfo:
    sovits_g: str
    sovits_d: str | None  # None: v3/v4 train LoRA on G only
    gpt: str
    s2_template: str
    s1_template: str
    sample_rate: int  # of inference output
    vocoder: tuple[str, bool] | None = None  # (name, is a folder) needed at inference

    @property
    def lora(self) -> bool:
        return self.sovits_d is None


_S1_V2 = "s1longer-v2.yaml"
_GPT_V3 = "s1v3.ckpt"

VERSIONS: dict[ModelVersion, VersionInfo] = {
    "v1": VersionInfo(
        "s2G488k.pth", "s2D488k.pth", "s1bert25hz-2kh-longer-epoch=68e-step=50232.ckpt",
        "s2.json", "s1longer.yaml", 32000,
    ),
    "v2": VersionInfo(
        "gsv-v2final-pretrained/s2G2333k.pth", "gsv-v2final-pretrained/s2D2333k.pth",
        "gsv-v2final-pretrained/s1bert25hz-5kh-longer-epoch=12-step=369668.ckpt", "s2.json", _S1_V2, 32000,
    ),
    "v3": VersionInfo(
        "s2Gv3.pth", None, _GPT_V3, "s2.json", _S1_V2, 24000,
        vocoder=("models--nvidia--bigvgan_v2_24khz_100band_256x", True),
    ),
    "v4": VersionInfo(
        "gsv-v4-pretrained/s2Gv4.pth", None, _GPT_V3, "s2.json", _S1_V2, 48000,
        vocoder=("gsv-v4-pretrained/vocoder.pth", False),
    ),
    "v2Pro": VersionInfo("v2Pro/s2Gv2Pro.pth", "v2Pro/s2Dv2Pro.pth", _GPT_V3, "s2v2Pro.json", _S1_V2, 32000),
    "v2ProPlus": VersionInfo(
        "v2Pro/s2Gv2ProPlus.pth", "v2Pro/s2Dv2ProPlus.pth", _GPT_V3, "s2v2ProPlus.json", _S1_V2, 32000
    ),
}  # fmt: skip


def info(version: ModelVersion) -> VersionInfo:
    return VERSIONS[version]


def has_speaker_vectors(version: str) -> bool:
    """Step 7 and the 7-sv_cn input exist only for the Pro versions (webui tests ``"Pro" in version``)."""
    return "Pro" in version


def _suffix(version: str) -> str:
    return "" if version == "v1" else f"_{version}"


def sovits_weight_dir(version: str) -> str:
    return f"SoVITS_weights{_suffix(version)}"


def gpt_weight_dir(version: str) -> str:
    return f"GPT_weights{_suffix(version)}"


ALL_WEIGHT_DIRS: tuple[str, ...] = tuple(name for v in VERSIONS for name in (sovits_weight_dir(v), gpt_weight_dir(v)))


def s2_script(version: ModelVersion) -> str:
    return "GPT_SoVITS/s2_train_v3_lora.py" if info(version).lora else "GPT_SoVITS/s2_train.py"


def s2_checkpoint_dir(version: ModelVersion, lora_rank: str) -> str:
    """Where s2 keeps its resumable G_/D_ checkpoints, relative to the experiment folder."""
    if info(version).lora:
        return f"logs_s2_{version}_lora_{lora_rank}"
    return f"logs_s2_{version}"


def s1_output_dir(version: str) -> str:
    return f"logs_s1_{version}"


def pretrained(name: str) -> str:
    """A pretrained model's path as upstream spells it, relative to the repo root."""
    return f"{PRETRAINED}/{name}"
