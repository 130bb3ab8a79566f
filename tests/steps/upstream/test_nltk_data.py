"""The English tagger in the JSON form NLTK 3.9+ reads, made from nltk_data's pinned pickle (the
archive the step image bakes in, from ../shared/upstream), with NLTK itself."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from sovits_steps.upstream.nltk_data import JSON_DIR, write_english_tagger_json

PINNED = Path(__file__).resolve().parents[3].parent / "shared" / "upstream" / "nltk_data.tar.gz"
TAG = "import nltk; print(nltk.pos_tag('the weather is nice today'.split()))"


@pytest.fixture
def nltk_data(tmp_path: Path) -> Path:
    with tarfile.open(PINNED) as archive:
        archive.extractall(tmp_path, filter="data")
    return tmp_path / "nltk_data"


def tag_in_a_fresh_process(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NLTK_DATA": str(root)}
    return subprocess.run([sys.executable, "-c", TAG], env=env, capture_output=True, text=True, timeout=120)


def test_the_pinned_data_alone_has_no_tagger_nltk_can_read(nltk_data: Path) -> None:
    result = tag_in_a_fresh_process(nltk_data)

    assert result.returncode != 0
    assert "averaged_perceptron_tagger_eng" in result.stderr


def test_the_converted_tagger_tags_english_as_g2p_en_needs(nltk_data: Path) -> None:
    out = write_english_tagger_json(nltk_data)

    assert out == nltk_data / JSON_DIR
    assert sorted(p.name for p in out.iterdir()) == [
        "averaged_perceptron_tagger_eng.classes.json",
        "averaged_perceptron_tagger_eng.tagdict.json",
        "averaged_perceptron_tagger_eng.weights.json",
    ]
    result = tag_in_a_fresh_process(nltk_data)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[('the', 'DT'), ('weather', 'NN'), ('is', 'VBZ'), ('nice', 'JJ'), ('today', 'NN')]"
