"""hack/images.sh refuses what it cannot build before it starts an engine or a build."""

from __future__ import annotations

import os
import subprocess

from tests.support.containers import SCRIPT


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SCRIPT), *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=60)


def test_an_unknown_image_name_is_refused_naming_the_choices() -> None:
    result = run("operator", "gpu")

    assert result.returncode == 1
    assert result.stderr.strip() == "images: unknown image 'gpu': choose from operator step-audio step"


def test_an_unknown_base_mode_is_refused_naming_the_choices() -> None:
    result = run("operator", SOVITS_BASE="docker-hub")

    assert result.returncode == 1
    assert result.stderr.strip() == "images: SOVITS_BASE=docker-hub: choose auto, registry or local"


def test_a_missing_ca_file_is_refused_before_any_build() -> None:
    result = run("operator", SOVITS_BUILD_CA_FILE="/nonexistent/ca.pem")

    assert result.returncode == 1
    assert result.stderr.strip() == (
        "images: CA certificates /nonexistent/ca.pem (SOVITS_BUILD_CA_FILE, else PIP_CERT): no such file, or empty"
    )


def test_help_lists_the_settings() -> None:
    result = run("--help")

    assert result.returncode == 0
    for setting in ("SOVITS_IMAGE_PREFIX", "SOVITS_IMAGE_TAG", "SOVITS_BUILD_CA_FILE", "SOVITS_BASE"):
        assert setting in result.stdout
