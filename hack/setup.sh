#!/usr/bin/env bash
# Set-up for a fresh machine: system packages, the Python environment, then the parts the tests
# need, side by side, each cached outside the repository (so a second run is quick):
#   - the test control plane, built from pinned Go modules (tests/cluster/build.sh), then the real
#     node's kubelet, kube-proxy and pause image (hack/node.sh);
#   - the operator and step-audio images (hack/images.sh);
#   - upstream GPT-SoVITS and its environment, from the pinned archive (hack/upstream.sh).
#   hack/setup.sh                everything (what CI and contributors run)
#   hack/setup.sh --no-cluster   skip the control plane, the node and the images (enough for `sovits local`)
#   hack/setup.sh --no-upstream  skip upstream GPT-SoVITS (the audio steps need none of it)
set -euo pipefail
cd "$(dirname "$0")/.."
cluster=1 upstream=1
for arg in "$@"; do
  case $arg in
    --no-cluster) cluster=0 ;;
    --no-upstream) upstream=0 ;;
    *) echo "unknown option $arg" >&2; exit 2 ;;
  esac
done

# Every Debian package any part needs, in one apt run before the parts start side by side (two
# apt runs at once would fight over its lock): the audio tools; for the images podman, runc and
# debootstrap; for the real node containerd, runc, the CNI plugins and iptables; for the web
# console's browser tests Debian's chromium (playwright drives it; playwright's own browser
# download needs the internet). The service itself needs none of the test tools.
tools=(ffmpeg:ffmpeg ffprobe:ffmpeg espeak-ng:espeak-ng)
((cluster)) && tools+=(podman:podman runc:runc debootstrap:debootstrap containerd:containerd ctr:containerd
  /usr/lib/cni/bridge:containernetworking-plugins iptables:iptables nsenter:util-linux
  /usr/lib/chromium/chromium:chromium)
source hack/apt.sh
apt_need "${tools[@]}"

logs=$(mktemp -d "${TMPDIR:-/tmp}/sovits-setup.XXXXXX")
declare -A pids
start() { # name command...: run a part in the background, its output in a log of its own
  local name=$1
  shift
  "$@" >"$logs/$name.log" 2>&1 &
  pids[$name]=$!
  echo "set-up: $name started ($(date +%T); log $logs/$name.log)" >&2
}

if ((cluster)); then
  command -v go >/dev/null || { echo "Go is needed to build the test control plane" >&2; exit 1; }
  # The control plane, then the real node's kubelet and kube-proxy from the same (warm) modules.
  start cluster bash -c 'tests/cluster/build.sh && hack/node.sh'
fi

python=${PYTHON:-python3}
[[ -x .venv/bin/python ]] || "$python" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[service,steps,dev]'

if ((upstream)); then
  # After .venv: both install this checkout in editable mode, which must not run at once.
  start upstream hack/upstream.sh
fi

if ((cluster)); then
  # The operator image and the step image's audio target, for the image and real-node tests
  # (cached by layer; the engine's store and the archives live outside the repository).
  start images hack/images.sh operator step-audio
fi

failed=0
for name in "${!pids[@]}"; do
  if wait "${pids[$name]}"; then
    echo "set-up: $name done ($(date +%T)): $(tail -1 "$logs/$name.log")" >&2
  else
    echo "set-up: $name FAILED; the end of its log:" >&2
    tail -40 "$logs/$name.log" >&2
    failed=1
  fi
done
exit $failed
