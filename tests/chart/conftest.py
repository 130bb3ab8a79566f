"""Fixtures for the Helm chart tests: the helm binary built with the control plane, and a renderer.

Rendering needs no cluster: the helm binary comes from the same cached build as the control
plane (tests/cluster/build.sh), so these tests run without starting one.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.cluster import build_binaries
from tests.support.helm_release import CHART, RELEASE

REPO = Path(__file__).resolve().parents[2]
ALL_OPTIONS = CHART / "ci" / "all-options-values.yaml"
NAMESPACE = "sovits"


@dataclass(frozen=True)
class Rendered:
    """The documents of one `helm template` run, with lookups by kind and name."""

    docs: list[dict[str, Any]]

    def kinds(self) -> list[str]:
        return sorted(doc["kind"] for doc in self.docs)

    def all(self, kind: str) -> list[dict[str, Any]]:
        return [doc for doc in self.docs if doc["kind"] == kind]

    def one(self, kind: str, name: str | None = None) -> dict[str, Any]:
        found = [doc for doc in self.all(kind) if name is None or doc["metadata"]["name"] == name]
        assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
        return found[0]

    def yaml(self) -> str:
        return yaml.safe_dump_all(self.docs)


Render = Callable[..., Rendered]


@pytest.fixture(scope="session")
def helm() -> Path:
    return build_binaries() / "helm"


def run_helm(helm: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(helm), *args], capture_output=True, text=True, timeout=120)


def template_args(
    *values_files: Path, sets: dict[str, str] | None = None, namespace: str = NAMESPACE, release: str = RELEASE
) -> list[str]:
    args = ["template", release, str(CHART), "--namespace", namespace]
    for path in values_files:
        args += ["--values", str(path)]
    for key, value in (sets or {}).items():
        args += ["--set", f"{key}={value}"]
    return args


@pytest.fixture(scope="session")
def render(helm: Path) -> Render:
    """`render(values_file..., sets={"a.b": "v"}, namespace=...)`: the documents of helm template."""

    def _render(
        *values_files: Path, sets: dict[str, str] | None = None, namespace: str = NAMESPACE, release: str = RELEASE
    ) -> Rendered:
        result = run_helm(helm, *template_args(*values_files, sets=sets, namespace=namespace, release=release))
        assert result.returncode == 0, result.stderr
        return Rendered([doc for doc in yaml.safe_load_all(result.stdout) if doc])

    return _render
