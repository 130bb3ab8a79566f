"""The chart's CRD is crds/trainingtask.yaml, templated only in its metadata."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

from tests.chart.conftest import REPO, Render

SYNC = REPO / "hack" / "sync-chart-crd.sh"
SOURCE = REPO / "crds" / "trainingtask.yaml"
TEMPLATE = Path("charts/sovits-operator/templates/crd-trainingtask.yaml")


def copy_of_repo_for_sync(tmp_path: Path) -> Path:
    """The files hack/sync-chart-crd.sh reads and writes, in a scratch tree."""
    for rel in (Path("hack/sync-chart-crd.sh"), Path("crds/trainingtask.yaml"), TEMPLATE):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, tmp_path / rel)
    return tmp_path


def sync_check(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(root / "hack" / "sync-chart-crd.sh"), "--check"], capture_output=True, text=True)


def test_the_chart_copy_of_the_crd_is_in_sync_with_crds_folder() -> None:
    result = sync_check(REPO)
    assert result.returncode == 0, result.stderr


def test_the_sync_check_fails_when_the_source_crd_changes(tmp_path: Path) -> None:
    root = copy_of_repo_for_sync(tmp_path)
    source = root / "crds" / "trainingtask.yaml"
    source.write_text(source.read_text().replace("maximum: 256", "maximum: 512"))

    result = sync_check(root)

    assert result.returncode == 1
    assert "maximum: 512" in result.stderr


def test_the_sync_check_fails_when_the_chart_copy_is_edited_by_hand(tmp_path: Path) -> None:
    root = copy_of_repo_for_sync(tmp_path)
    template = root / TEMPLATE
    template.write_text(template.read_text().replace("shortNames:\n    - tt", "shortNames:\n    - task"))

    assert sync_check(root).returncode == 1


def test_sync_rewrites_a_drifted_copy_back_to_the_source(tmp_path: Path) -> None:
    root = copy_of_repo_for_sync(tmp_path)
    (root / TEMPLATE).write_text("stale\n")

    subprocess.run([str(root / "hack" / "sync-chart-crd.sh")], check=True)

    assert (root / TEMPLATE).read_text() == (REPO / TEMPLATE).read_text()


def test_rendered_crd_spec_equals_the_source_spec(render: Render) -> None:
    source = yaml.safe_load(SOURCE.read_text())

    crd = render().one("CustomResourceDefinition")

    assert crd["metadata"]["name"] == source["metadata"]["name"]
    assert crd["spec"] == source["spec"]


def test_rendered_crd_is_kept_on_uninstall_by_default(render: Render) -> None:
    crd = render().one("CustomResourceDefinition")
    assert crd["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"


def test_crds_keep_false_drops_the_keep_annotation(render: Render) -> None:
    crd = render(sets={"crds.keep": "false"}).one("CustomResourceDefinition")
    assert "helm.sh/resource-policy" not in crd["metadata"].get("annotations", {})


def test_crds_enabled_false_renders_no_crd(render: Render) -> None:
    assert render(sets={"crds.enabled": "false"}).all("CustomResourceDefinition") == []
