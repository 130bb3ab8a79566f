"""NLTK data in the form the installed NLTK reads, from nltk_data's pinned packages.

g2p_en (upstream's English front end) asks NLTK for ``cmudict`` and the English tagger
``averaged_perceptron_tagger_eng``. NLTK 3.9 and later read that tagger as three JSON files,
which the pinned ``averaged_perceptron_tagger`` package (a pickle) predates; NLTK's own
tagger loads the pickle and writes the JSON form. Run where the data is baked (the step
image build): ``python -m sovits_steps.upstream.nltk_data /opt/nltk_data``.
"""

from __future__ import annotations

import pickle
import sys
import zipfile
from pathlib import Path

PICKLED = Path("taggers") / "averaged_perceptron_tagger.zip"
JSON_DIR = Path("taggers") / "averaged_perceptron_tagger_eng"


def write_english_tagger_json(root: Path) -> Path:
    """Writes ``taggers/averaged_perceptron_tagger_eng/`` beside the pickled tagger under ``root``."""
    import nltk
    from nltk.tag.perceptron import PerceptronTagger

    with zipfile.ZipFile(root / PICKLED) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".pickle"))
        # The pickle is nltk_data's own package, checked against its sha256 before this runs.
        weights, tagdict, classes = pickle.loads(archive.read(name))
    tagger = PerceptronTagger(load=False)
    tagger.model.weights, tagger.tagdict, tagger.classes = weights, tagdict, classes
    tagger.model.classes = classes
    out = root / JSON_DIR
    out.mkdir(parents=True, exist_ok=True)
    # NLTK 3.10 writes models only under one of its data roots.
    if str(root) not in nltk.data.path:
        nltk.data.path.insert(0, str(root))
    tagger.save_to_json("eng", str(out))
    return out


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        sys.exit("usage: python -m sovits_steps.upstream.nltk_data NLTK_DATA_DIR")
    print(write_english_tagger_json(Path(args[0])))


if __name__ == "__main__":
    main()
