#!/usr/bin/env bash
# Prepares upstream GPT-SoVITS for the model steps and their tests, from the pinned release
# archive (never from the network, never inside this repository):
#   - the archive's checksum is checked and it is unpacked into a cache keyed by the archive,
#     the NLTK data, this script and the Python version;
#   - a virtual environment beside it gets torch/torchaudio from PyPI (CUDA builds that also run
#     on the CPU), upstream's requirements less the ones listed in SKIP below, and NLTK data in
#     the form the installed NLTK reads, and a seed of numba's cache with librosa's functions
#     compiled (SOVITS_PATHS__NUMBA_CACHE=<dir>/numba-cache for `sovits local`);
#   - our package is installed into that environment with the `steps` extra only, constrained to
#     what upstream pinned, and `pip check` must be clean: it is the step image's environment.
# Prints the prepared directory as its last line and links it as .venv/upstream, where the tests
# look for it. A warm cache answers in a few seconds.
#   hack/upstream.sh            prepare (or reuse) the environment
#   hack/upstream.sh --where    print the prepared directory, or fail saying what to run
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
inputs=${SOVITS_UPSTREAM_DIR:-$repo/../shared/upstream}
archive=$inputs/GPT-SoVITS-20250606v2pro.tar.gz
archive_sha=4af1d97c880dd352346a4bb3544f0fa6a015018891bc67f43427f07ec1b67199
nltk=$inputs/nltk_data.tar.gz
nltk_sha=e8ff9a45fc3e62274a13343aa780054742c557b8aed54e6337bb1e7677600e5f
torch_version=2.7.0
python=${PYTHON:-python3}
# Upstream requirements left out, by reason:
#  - Japanese, Korean and Cantonese front ends (pyopenjtalk and opencc compile from source for
#    minutes; the tests cover English and the step image installs them all): pyopenjtalk g2pk2
#    ko_pron python_mecab_ko ToJyutping opencc
#  - upstream's own ASR and its webui tools (asr_transcribe is ours, over faster-whisper/funasr in
#    the step image): funasr modelscope faster-whisper ctranslate2 av
SKIP="pyopenjtalk g2pk2 ko_pron python_mecab_ko tojyutping opencc funasr modelscope faster-whisper ctranslate2 av"

cache_root=${SOVITS_UPSTREAM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sovits-operator/upstream}
link=$repo/.venv/upstream

if [[ ${1:-} == --where ]]; then
  if [[ -f $link/.complete ]]; then
    readlink -f "$link"
    exit 0
  fi
  echo "upstream GPT-SoVITS is not prepared: run hack/setup.sh (or hack/upstream.sh)" >&2
  exit 1
fi

check() {
  [[ -f $1 ]] || { echo "missing $1: put the pinned upstream archives there, or point SOVITS_UPSTREAM_DIR at them" >&2; exit 1; }
  echo "$2  $1" | sha256sum --check --quiet - || { echo "checksum mismatch: $1" >&2; exit 1; }
}
check "$archive" "$archive_sha"
check "$nltk" "$nltk_sha"
# The key names what the environment is made of; a change here (versions, skips, layout) makes
# a new one. Each stage leaves a marker, so a run cut short resumes where it stopped.
layout=2
key=$({ echo "$layout $archive_sha $nltk_sha $torch_version $SKIP"; "$python" -c 'import sys; print(sys.version)'; } \
  | sha256sum | cut -c1-16)
dest=$cache_root/$key
mkdir -p "$dest/.stages"
stage() { [[ -f $dest/.stages/$1 ]] && return 1; echo "upstream: $1 ($(date +%T))" >&2; }
done_stage() { touch "$dest/.stages/$1"; }
pip=("$dest/venv/bin/python" -m pip --disable-pip-version-check -q)

if [[ ! -f $dest/.complete ]]; then
  start=$(date +%s)
  if stage unpack; then
    rm -rf "$dest/GPT-SoVITS" "$dest/nltk_data" "$dest"/GPT-SoVITS-*
    tar -xzf "$archive" -C "$dest"
    mv "$dest"/GPT-SoVITS-* "$dest/GPT-SoVITS"
    tar -xzf "$nltk" -C "$dest"
    done_stage unpack
  fi
  if stage venv; then
    rm -rf "$dest/venv"
    "$python" -m venv "$dest/venv"
    "${pip[@]}" install --upgrade pip
    done_stage venv
  fi
  if stage torch; then
    "${pip[@]}" install "torch==$torch_version" "torchaudio==$torch_version"
    done_stage torch
  fi
  if stage requirements; then
    # upstream's requirements less SKIP, with torch held where it is
    awk -v skip="$SKIP" 'BEGIN { n = split(tolower(skip), s, " "); for (i = 1; i <= n; i++) drop[s[i]] = 1 }
         /^[[:space:]]*(#|--|$)/ { next }
         { name = tolower($0); sub(/[ <>=!~;\[].*/, "", name); if (!(name in drop)) print }' \
      "$dest/GPT-SoVITS/requirements.txt" >"$dest/requirements.txt"
    # botocore (our storage, in the same environment) pins python-dateutil below 3; nothing of
    # upstream's needs a newer one, which pip would otherwise pick.
    printf 'torch==%s\ntorchaudio==%s\npython-dateutil<3\n' "$torch_version" "$torch_version" >"$dest/constraints.txt"
    "${pip[@]}" install -r "$dest/requirements.txt" -c "$dest/constraints.txt"
    done_stage requirements
  fi
  if stage nltk; then
    # NLTK 3.9+ reads the English tagger as JSON; the pinned data has the older pickle. The step
    # image converts it with the same module.
    PYTHONPATH="$repo/step-images:$repo/core" "$dest/venv/bin/python" -m sovits_steps.upstream.nltk_data \
      "$dest/nltk_data" >&2
    NLTK_DATA="$dest/nltk_data" "$dest/venv/bin/python" -c \
      'import nltk; print(nltk.pos_tag(["the", "weather", "is", "nice"])); nltk.corpus.cmudict.dict()' >&2
    done_stage nltk
  fi
  if stage engdict; then
    # Upstream's English front end builds its dictionary cache into its own tree on first import;
    # build it here, while the tree is writable, so runs never write into the checkout.
    (cd "$dest/GPT-SoVITS" && NLTK_DATA="$dest/nltk_data" PYTHONPATH="$dest/GPT-SoVITS:$dest/GPT-SoVITS/GPT_SoVITS" \
      "$dest/venv/bin/python" -s -c 'import text.english')
    test -s "$dest/GPT-SoVITS/GPT_SoVITS/text/engdict_cache.pickle"
    done_stage engdict
  fi
  touch "$dest/.complete"
  echo "upstream environment ready in $(($(date +%s) - start)) s" >&2
fi

# librosa's numba functions compiled once (sovits_steps/upstream/numba_cache.py): every upstream
# process that imports librosa would otherwise spend ~25 s compiling them. Outside the stages
# above, so an environment made before this existed gets it without being made again.
if [[ ! -f $dest/numba-cache/.complete ]]; then
  echo "upstream: numba cache ($(date +%T))" >&2
  rm -rf "$dest/numba-cache"
  # through the resolved path, which the tests use: numba files its cache under the source's path
  real=$(cd "$dest" && pwd -P)
  PYTHONPATH="$repo/step-images:$repo/core" "$real/venv/bin/python" -s -m sovits_steps.upstream.numba_cache \
    "$real/numba-cache" >&2
  touch "$dest/numba-cache/.complete"
fi

# Our package, steps only, held to what upstream installed (upstream pins pydantic <= 2.10.6).
"$dest/venv/bin/python" -m pip freeze --exclude-editable | grep -v '^sovits-operator' >"$dest/installed.txt"
"$dest/venv/bin/python" -m pip --disable-pip-version-check -q install -c "$dest/installed.txt" -e "$repo[steps]"
"$dest/venv/bin/python" -m pip --disable-pip-version-check check >&2
mkdir -p "$repo/.venv"
ln -sfn "$dest" "$link"
echo "$dest"
