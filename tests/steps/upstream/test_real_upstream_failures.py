"""What goes wrong with real upstream, and what the steps make of it: a killed trainer resumes,
upstream's own errors reach the user, and the step environment keeps upstream's pins."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from sovits_core import contract as c
from tests.steps.upstream.real import CLIPS, EXP, Interrupted, clean_environ, new_task
from tests.support.upstream import REPO, Upstream

pytestmark = [pytest.mark.upstream, pytest.mark.timeout(1200)]


def test_sovits_training_killed_mid_run_resumes_from_the_mirrored_checkpoint(interrupted_sovits: Interrupted) -> None:
    task, epochs = interrupted_sovits.task, interrupted_sovits.params["epochs"]
    assert not [n for n in interrupted_sovits.exports_at_kill if f"_e{epochs}_" in n]  # killed before the end
    assert interrupted_sovits.again.code == c.EXIT_OK, interrupted_sovits.again.reason
    started = re.findall(r"start training from epoch (\d+)", task.log("train_sovits"))
    assert started and int(started[-1]) > 1, started  # upstream picked up the restored G_/D_ files
    exports = task.names(f"experiments/{EXP}/SoVITS_weights_{task.spec['modelVersion']}")
    assert [n for n in exports if n.startswith(f"{EXP}_e{epochs}_")], exports


def test_an_item_upstream_fails_on_while_exiting_0_fails_the_step_with_upstreams_error(
    upstream: Upstream, tiny_checkout: Path, model_store: Path, clips: dict[str, Path]
) -> None:
    task = new_task(upstream, tiny_checkout, model_store, clips, "t-broken-clip", "v2Pro")
    broken = next(iter(CLIPS))
    task.store.put_bytes(f"denoised/{broken}", b"RIFF\x00\x00\x00\x00WAVEnot audio at all")
    run = task.run("extract_audio_features")  # reads the clips the .list names; not the text features
    assert run.code == c.EXIT_BAD_INPUT
    assert broken in run.reason
    assert "upstream's last error: " in run.reason and "Error" in run.reason.split("upstream's last error: ")[1]


def test_missing_nltk_data_fails_english_text_features_naming_what_is_missing(
    upstream: Upstream, tiny_checkout: Path, model_store: Path, clips: dict[str, Path], tmp_path: Path
) -> None:
    task = new_task(upstream, tiny_checkout, model_store, clips, "t-no-nltk", "v2Pro")
    task.nltk_data = tmp_path / "empty-nltk-data"
    task.nltk_data.mkdir()
    run = task.run("extract_text_features")
    assert run.code == c.EXIT_BAD_INPUT
    assert "models.nltk_data" in run.reason
    assert "corpora/cmudict" in run.reason and "taggers/averaged_perceptron_tagger_eng" in run.reason


def test_the_step_environment_keeps_upstreams_pins_and_has_no_kubernetes_client(upstream: Upstream) -> None:
    check = subprocess.run([str(upstream.python), "-m", "pip", "check"], capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    pydantic = subprocess.run(
        [str(upstream.python), "-c", "import pydantic; print(pydantic.VERSION)"], capture_output=True, text=True
    )
    assert tuple(int(x) for x in pydantic.stdout.strip().split(".")[:3]) <= (2, 10, 6)
    for module in ("kubernetes", "kopf"):
        found = subprocess.run([str(upstream.python), "-c", f"import {module}"], capture_output=True, check=False)
        assert found.returncode != 0, f"{module} is installed in the step environment"


def test_service_commands_in_the_step_environment_say_which_extra_they_need(upstream: Upstream) -> None:
    # this checkout's package, as the step runs use it (the environment's own install may be another clone's)
    env = {**clean_environ(), "PYTHONPATH": f"{REPO / 'operator'}:{REPO / 'step-images'}"}
    done = subprocess.run(
        [str(upstream.python), "-m", "sovits_cli.main", "operator"],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    assert done.returncode == 2
    assert "needs the `service` extra" in done.stderr and "pip install 'sovits-operator[service]'" in done.stderr
