"""tests/cluster/build.sh cleans up after itself when a build fails.

The Go toolchain is replaced by a stand-in script on PATH: the real control-plane build takes
minutes and cannot be made to fail on purpose. The stand-in's kwok build sleeps; its kube build
fails, as a compile error would, once kwok's is under way.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.support.processes import wait_for

BUILD = Path(__file__).parent / "build.sh"

STAND_IN_GO = """#!/usr/bin/env bash
case $1 in
  env) echo go-stand-in; echo linux; echo amd64 ;;
  build)
    if [[ $PWD == */kwok ]]; then echo $$ >"$MARKER"; exec sleep 300; fi
    until [[ -s $MARKER ]]; do sleep 0.05; done
    echo "stand-in: compile error" >&2; exit 1 ;;
esac
"""


def test_a_failed_kube_build_stops_kwoks_build_and_leaves_no_partial_folder(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "go").write_text(STAND_IN_GO)
    (bin_dir / "go").chmod(0o755)
    cache, marker = tmp_path / "cache", tmp_path / "kwok.pid"
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "SOVITS_CLUSTER_CACHE": str(cache)}
    env["MARKER"] = str(marker)

    proc = subprocess.Popen(["bash", str(BUILD)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # A kwok build left running holds the pipes open: communicate would wait for it.
        _, err = proc.communicate(timeout=30)

        assert proc.returncode == 1, err
        assert "stand-in: compile error" in err
        kwok = Path(f"/proc/{int(marker.read_text())}")
        wait_for(lambda: not kwok.exists(), timeout=5, what="kwok's build to stop with the script")
        assert list(cache.iterdir()) == []  # the partial folder went with it
    finally:
        if marker.exists():  # what a failing run left behind
            subprocess.run(["kill", marker.read_text().strip()], capture_output=True)
