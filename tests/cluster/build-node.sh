#!/usr/bin/env bash
# Gathers what the real-node tests add to the test control plane: kubelet and kube-proxy, which
# build.sh builds with the control plane from the same pinned wrapper module (go/kube; one
# `go build`, so they share its compiled packages), and the pod sandbox ("pause") image built
# here from node/pause, packed as a docker-archive tarball that `ctr images import` reads
# without any registry.
# Prints the cache directory as its last line (bin/kubelet, bin/kube-proxy, pause.tar, pause.ref);
# with --check it only says whether that directory is complete, and builds nothing.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache_root=${SOVITS_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sovits-operator/node}
key=$({ go env GOVERSION GOOS GOARCH; cat "$here/build-node.sh" "$here/build.sh" "$here"/go/kube/go.mod "$here"/go/kube/go.sum "$here"/node/pause/*; } | sha256sum | cut -c1-16)
dest=$cache_root/$key
if [[ -f $dest/.complete ]]; then
  echo "$dest"
  exit 0
fi
if [[ ${1:-} == --check ]]; then
  echo "the real-node binaries are not built ($dest): run hack/node.sh" >&2
  exit 1
fi

kube=$(awk '$1 == "require" && $2 == "k8s.io/kubernetes" {print $3} $1 == "k8s.io/kubernetes" && $2 ~ /^v/ {print $2}' "$here/go/kube/go.mod" | head -1)
[[ $kube == v1.* ]] || { echo "no k8s.io/kubernetes version in go/kube/go.mod" >&2; exit 1; }
tmp=$dest.partial.$$
rm -rf "$tmp"
mkdir -p "$tmp/bin" "$tmp/pause/rootfs"
trap 'rm -rf "$tmp"' EXIT
export CGO_ENABLED=0 GOFLAGS=-mod=mod GOTOOLCHAIN=local

bin=$("$here/build.sh" | tail -1)
cp "$bin/kubelet" "$bin/kube-proxy" "$tmp/bin/"
(cd "$here/node/pause" && go build -trimpath -gcflags=all=-dwarf=false -ldflags "-s -w" -o "$tmp/pause/rootfs/pause" .)

# The image: one layer holding /pause, a config, and the docker-archive manifest naming it.
ref=sovits-test.local/pause:$key
p=$tmp/pause
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$p/rootfs" -cf "$p/layer.tar" .
diff_id=$(sha256sum "$p/layer.tar" | cut -d' ' -f1)
printf '{"architecture":"amd64","os":"linux","config":{"Entrypoint":["/pause"],"User":"65535:65535"},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
  "$diff_id" >"$p/config.json"
config=$(sha256sum "$p/config.json" | cut -d' ' -f1)
mkdir -p "$p/archive/$diff_id"
mv "$p/layer.tar" "$p/archive/$diff_id/layer.tar"
mv "$p/config.json" "$p/archive/$config.json"
printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["%s/layer.tar"]}]' "$config" "$ref" "$diff_id" >"$p/archive/manifest.json"
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$p/archive" -cf "$tmp/pause.tar" .
echo "$ref" >"$tmp/pause.ref"
rm -rf "$p"

echo "kube=$kube" >"$tmp/versions"
rm -rf "$dest"
mv "$tmp" "$dest"
trap - EXIT
touch "$dest/.complete"
echo "$dest"
