#!/usr/bin/env bash
# Set-up for the real-node tests (pytest marker real_node): containerd, runc, the CNI plugins
# and iptables from Debian, then the kubelet, kube-proxy and a locally built pause image
# (tests/cluster/build-node.sh, cached outside the repository). Nothing is started here and no
# host setting is changed: the tests run the node in namespaces of their own.
set -euo pipefail
cd "$(dirname "$0")/.."

source hack/apt.sh
apt_need containerd:containerd ctr:containerd runc:runc /usr/lib/cni/bridge:containernetworking-plugins \
  iptables:iptables nsenter:util-linux

start=$(date +%s)
dir=$(tests/cluster/build-node.sh)
echo "real-node binaries and pause image in $dir ($(($(date +%s) - start)) s)" >&2
