"""The repository layout never shadows the standard library's `operator` module."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_the_operator_folder_is_not_a_package() -> None:
    assert (REPO / "operator" / "sovits_operator" / "__init__.py").exists()
    assert not (REPO / "operator" / "__init__.py").exists()


def test_pytest_from_the_repo_root_imports_the_standard_library_operator() -> None:
    import operator

    assert Path(operator.__file__ or "").parent == Path(subprocess.__file__).parent
    assert operator.itemgetter(1)([0, 7]) == 7


def test_python_started_in_the_repo_root_imports_the_standard_library_operator() -> None:
    # `-c` puts the working directory first on sys.path: the case that bites on 3.12+.
    probe = (
        "import operator, subprocess, os; "
        "print(os.path.dirname(operator.__file__) == os.path.dirname(subprocess.__file__))"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"


def test_a_fresh_import_of_operator_from_the_repo_root_is_still_the_standard_library() -> None:
    # Even when nothing imported it during start-up, the folder must not win.
    probe = (
        "import sys; sys.modules.pop('operator', None); import importlib; "
        "m = importlib.import_module('operator'); print(hasattr(m, 'itemgetter'), getattr(m, '__path__', None))"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True None"


def test_the_import_packages_resolve_to_their_component_folders() -> None:
    import sovits_api
    import sovits_cli
    import sovits_core
    import sovits_kube
    import sovits_local
    import sovits_operator
    import sovits_steps

    assert Path(sovits_core.__file__ or "").parent == REPO / "core" / "sovits_core"
    assert Path(sovits_kube.__file__ or "").parent == REPO / "kube" / "sovits_kube"
    assert Path(sovits_operator.__file__ or "").parent == REPO / "operator" / "sovits_operator"
    assert Path(sovits_api.__file__ or "").parent == REPO / "api" / "sovits_api"
    assert Path(sovits_steps.__file__ or "").parent == REPO / "step-images" / "sovits_steps"
    assert Path(sovits_local.__file__ or "").parent == REPO / "local" / "sovits_local"
    assert Path(sovits_cli.__file__ or "").parent == REPO / "cli" / "sovits_cli"
