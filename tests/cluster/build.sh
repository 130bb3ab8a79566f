#!/usr/bin/env bash
# Builds the test control plane (kube-apiserver, kube-controller-manager, kube-scheduler,
# kubectl, etcd, helm, and the real node's kubelet and kube-proxy from go/kube; kwok, kwokctl
# from go/kwok) from the pinned wrapper modules, into a cache outside the repository keyed by
# the modules, this script and the Go version. Only the Go module proxy is used: there is no
# route to prebuilt release binaries.
# Speed (a cold set-up waits on this build): everything from go/kube is one `go build`, so each
# library compiles once and the single-threaded links overlap other compiles; kwok, a module of
# its own, builds beside it and fills the cores' gaps (module downloads, links); no DWARF is
# generated (-dwarf=false), as -s -w strips it from the binaries anyway.
# Prints the bin directory as its last line; a warm cache answers in well under a second.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache_root=${SOVITS_CLUSTER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sovits-operator/cluster}
key=$({ go env GOVERSION GOOS GOARCH; cat "$here/build.sh" "$here"/go/*/go.mod "$here"/go/*/go.sum; } | sha256sum | cut -c1-16)
dest=$cache_root/$key
if [[ -f $dest/.complete ]]; then
  echo "$dest/bin"
  exit 0
fi

mod_version() { awk -v m="$2" '$1 == "require" && $2 == m {print $3} $1 == m && $2 ~ /^v/ {print $2}' "$here/go/$1/go.mod" | head -1; }
kube=$(mod_version kube k8s.io/kubernetes)      # v1.X.Y
etcd=$(mod_version kube go.etcd.io/etcd/server/v3)
kwok=$(mod_version kwok sigs.k8s.io/kwok)
helm=$(mod_version kube helm.sh/helm/v3)
minor=$(cut -d. -f2 <<<"$kube")

tmp=$dest.partial.$$
rm -rf "$tmp"
mkdir -p "$tmp/bin" "$tmp/kwok"
trap 'rm -rf "$tmp"' EXIT
export CGO_ENABLED=0 GOFLAGS=-mod=mod GOTOOLCHAIN=local

build() { # module-dir output ldflags packages...
  local dir=$1 out=$2 flags=$3
  shift 3
  echo "building $* ($(date +%T))" >&2
  (cd "$here/go/$dir" && go build -trimpath -gcflags=all=-dwarf=false -ldflags "-s -w $flags" -o "$out" "$@")
  echo "built $* ($(date +%T))" >&2
}

# In a process group of its own (set -m), so that a failed kube build stops all of kwok's build
# (go and its compilers) instead of leaving it writing into a removed $tmp.
set -m
build kwok "$tmp/kwok/" "-X sigs.k8s.io/kwok/pkg/consts.Version=${kwok#v} -X sigs.k8s.io/kwok/pkg/consts.KubeVersion=${kube#v}" \
  sigs.k8s.io/kwok/cmd/kwok sigs.k8s.io/kwok/cmd/kwokctl &
kwok_build=$!
set +m
trap 'kill -- -$kwok_build 2>/dev/null; wait $kwok_build 2>/dev/null || true; rm -rf "$tmp"' EXIT

# One link's -X settings name packages of one program; the others' are ignored by its linker.
cb=k8s.io/component-base/version
hv=helm.sh/helm/v3
build kube "$tmp/bin/" "-X $cb.gitVersion=$kube -X $cb.gitMajor=1 -X $cb.gitMinor=$minor -X $cb.gitTreeState=clean -X $cb.buildDate=1970-01-01T00:00:00Z \
-X $hv/internal/version.version=$helm -X $hv/internal/version.gitTreeState=clean -X $hv/pkg/lint/rules.k8sVersionMajor=1 -X $hv/pkg/lint/rules.k8sVersionMinor=$minor -X $hv/pkg/chartutil.k8sVersionMajor=1 -X $hv/pkg/chartutil.k8sVersionMinor=$minor" \
  k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl \
  k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy \
  go.etcd.io/etcd/server/v3 helm.sh/helm/v3/cmd/helm
mv "$tmp/bin/server" "$tmp/bin/etcd"  # go names go.etcd.io/etcd/server/v3's program "server"
wait "$kwok_build"
mv "$tmp/kwok/kwok" "$tmp/kwok/kwokctl" "$tmp/bin/"
rmdir "$tmp/kwok"

printf 'kube=%s\netcd=%s\nkwok=%s\nhelm=%s\n' "$kube" "$etcd" "$kwok" "$helm" >"$tmp/versions"
rm -rf "$dest"
mv "$tmp" "$dest"
trap - EXIT
touch "$dest/.complete"
echo "$dest/bin"
