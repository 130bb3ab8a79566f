#!/usr/bin/env bash
# Set-up for the real-node tests (pytest marker real_node): containerd, runc, the CNI plugins
# and iptables from Debian, then the kubelet, kube-proxy and a locally built pause image
# (tests/cluster/build-node.sh, cached outside the repository). Nothing is started here and no
# host setting is changed: the tests run the node in namespaces of their own.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
for tool in containerd:containerd ctr:containerd runc:runc /usr/lib/cni/bridge:containernetworking-plugins \
  iptables:iptables nsenter:util-linux; do
  command -v "${tool%%:*}" >/dev/null || need_apt+=("${tool##*:}")
done
if ((${#need_apt[@]})); then
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  echo "installing Debian packages: ${need_apt[*]}" >&2
  $sudo apt-get update -qq
  # No systemd here, so the containerd package only installs files; it starts no daemon.
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $(printf '%s\n' "${need_apt[@]}" | sort -u) >/dev/null
fi

start=$(date +%s)
dir=$(tests/cluster/build-node.sh)
echo "real-node binaries and pause image in $dir ($(($(date +%s) - start)) s)" >&2
