"""The operator image, built by hack/images.sh, runs `sovits` as uid 10001 under the chart's
security context and volumes (read-only root, /tmp and the settings ConfigMap mounted)."""

from __future__ import annotations

import tarfile
from pathlib import Path
from typing import Any

import pytest

from sovits_core import __version__
from tests.chart.conftest import run_helm, template_args
from tests.support.cluster import build_binaries
from tests.support.containers import Images, run_args, tail

REPO = Path(__file__).resolve().parents[2]
# The first test pays for the session's cold image build (about 12 min on 2 shared cores).
pytestmark = pytest.mark.timeout(2400)
FAKE_KEYS = {"sovits-s3": {"AWS_ACCESS_KEY_ID": "unused-id", "AWS_SECRET_ACCESS_KEY": "unused-secret"}}


@pytest.fixture(scope="module")
def chart() -> list[dict[str, Any]]:
    import yaml

    result = run_helm(build_binaries() / "helm", *template_args())
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def deployment(chart: list[dict[str, Any]], component: str) -> dict[str, Any]:
    (found,) = [d for d in chart if d["kind"] == "Deployment" and d["metadata"]["name"].endswith(component)]
    return found


def config_dir(chart: list[dict[str, Any]], tmp_path: Path) -> dict[str, Path]:
    """The chart's ConfigMap as the files a kubelet would mount."""
    (config,) = [d for d in chart if d["kind"] == "ConfigMap"]
    folder = tmp_path / "config"
    folder.mkdir()
    for key, value in config["data"].items():
        (folder / key).write_text(value)
    return {config["metadata"]["name"]: folder}


def run_in_pod(
    images: Images, chart: list[dict[str, Any]], component: str, args: list[str], tmp_path: Path
) -> tuple[int, str, str]:
    pod = deployment(chart, component)["spec"]["template"]["spec"]
    container = {**pod["containers"][0], "args": args}
    flags = run_args(
        pod, container, engine=images.engine.command, secrets=FAKE_KEYS, config_maps=config_dir(chart, tmp_path)
    )
    result = images.engine(*flags, *tail(images.built["operator"].ref, container))
    return result.returncode, result.stdout, result.stderr


def test_the_image_is_tagged_with_the_charts_default_name_and_saved_for_nodes(images: Images) -> None:
    built = images.built["operator"]
    assert built.ref == f"ghcr.io/sovits-operator/sovits-operator:{__version__}"
    assert f"built operator   {built.ref}" in images.output
    # A docker-archive whose manifest carries the tag, so `ctr images import` needs no registry.
    with tarfile.open(built.archive) as archive:
        manifest = archive.extractfile("manifest.json")
        assert manifest is not None
        assert f'"{built.ref}"' in manifest.read().decode()


def test_the_image_runs_as_uid_10001_when_nothing_sets_a_user(images: Images) -> None:
    result = images.engine("run", "--rm", "--network", "host", "--entrypoint", "id", images.built["operator"].ref)

    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[:2] == ["uid=10001(sovits)", "gid=10001(sovits)"]


@pytest.mark.parametrize("component", ["operator", "api"])
def test_sovits_version_runs_with_the_charts_security_context(
    images: Images, chart: list[dict[str, Any]], component: str, tmp_path: Path
) -> None:
    code, out, err = run_in_pod(images, chart, component, ["--version"], tmp_path)

    assert code == 0, err
    assert out.strip() == f"sovits {__version__}"


def test_sovits_crd_prints_the_committed_crd_on_a_read_only_root(
    images: Images, chart: list[dict[str, Any]], tmp_path: Path
) -> None:
    code, out, err = run_in_pod(images, chart, "operator", ["crd"], tmp_path)

    assert code == 0, err
    assert out == (REPO / "crds" / "trainingtask.yaml").read_text()


def test_the_root_file_system_is_read_only_and_tmp_is_the_writable_volume(
    images: Images, chart: list[dict[str, Any]], tmp_path: Path
) -> None:
    # The same pod, the image's Python writing where the chart's volumes say it may.
    probe = (
        "import pathlib\n"
        "pathlib.Path('/tmp/ok').write_text('x')\n"
        "try:\n    pathlib.Path('/opt/venv/x').write_text('x')\nexcept OSError as e:\n    print(e.strerror)\n"
    )
    pod = deployment(chart, "operator")["spec"]["template"]["spec"]
    container = pod["containers"][0]
    flags = run_args(
        pod, container, engine=images.engine.command, secrets=FAKE_KEYS, config_maps=config_dir(chart, tmp_path)
    )
    result = images.engine(*flags, "--entrypoint", "python", images.built["operator"].ref, "-c", probe)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "Read-only file system"


def test_every_operator_and_api_module_imports_in_the_image(images: Images) -> None:
    # The `service` extra is all the image installs: a module needing more fails here, not in a pod.
    probe = (
        "import importlib, pkgutil, sovits_api, sovits_operator\n"
        "packages = (sovits_operator, sovits_api)\n"
        "names = [m.name for p in packages for m in pkgutil.walk_packages(p.__path__, p.__name__ + '.')]\n"
        "for name in names:\n    importlib.import_module(name)\n"
        "print(len(names), 'sovits_api.routes.tasks' in names)\n"
    )
    result = images.engine(
        "run", "--rm", "--network", "host", "--entrypoint", "python", images.built["operator"].ref, "-c", probe
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    count, has_routes = result.stdout.split()
    assert int(count) > 20
    assert has_routes == "True"
