#!/usr/bin/env bash
# Set-up for a fresh machine: system packages, the Python environment, and the test control
# plane built from pinned Go modules (cached outside the repository, so a second run is quick).
#   hack/setup.sh            everything (what CI and contributors run)
#   hack/setup.sh --no-cluster   skip the Go build (enough for `sovits local`)
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
for tool in ffmpeg:ffmpeg ffprobe:ffmpeg espeak-ng:espeak-ng; do
  command -v "${tool%%:*}" >/dev/null || need_apt+=("${tool##*:}")
done
if ((${#need_apt[@]})); then
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  echo "installing Debian packages: ${need_apt[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $(printf '%s\n' "${need_apt[@]}" | sort -u) >/dev/null
fi

python=${PYTHON:-python3}
[[ -x .venv/bin/python ]] || "$python" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[service,steps,dev]'

if [[ ${1:-} != --no-cluster ]]; then
  command -v go >/dev/null || { echo "Go is needed to build the test control plane" >&2; exit 1; }
  start=$(date +%s)
  bin=$(tests/cluster/build.sh)
  echo "control plane binaries in $bin ($(($(date +%s) - start)) s)" >&2
fi

# The operator image and the step image's audio target, for the image tests (cached by layer).
if [[ ${1:-} != --no-cluster ]]; then
  hack/images.sh operator step-audio
fi
