#!/usr/bin/env bash
# Builds the project's container images from its own Dockerfiles, with the engine this machine
# has: docker where its daemon answers, else podman (installed from Debian when missing).
#
#   hack/images.sh                        operator, step-audio and step (the full step image)
#   hack/images.sh operator step-audio    only the images named
#
# Each image is tagged with the chart's default name (charts/sovits-operator/values.yaml; the tag
# is the chart's appVersion) and also saved as a docker-archive tarball for nodes without a
# registry (`ctr -n k8s.io images import`, `docker load -i`):
#   operator    ghcr.io/sovits-operator/sovits-operator:TAG   ->  $out/operator.tar
#   step-audio  ghcr.io/sovits-operator/step-audio:TAG        ->  $out/step-audio.tar
#   step        ghcr.io/sovits-operator/step:TAG              ->  $out/step.tar
# with $out = ${XDG_CACHE_HOME:-~/.cache}/sovits-operator/images; $out/images.json lists them
# with the engine and the environment that reaches its store.
#
# Settings (environment):
#   SOVITS_IMAGE_PREFIX    repository prefix instead of ghcr.io/sovits-operator (your registry)
#   SOVITS_IMAGE_TAG       tag instead of the chart's appVersion
#   SOVITS_BUILD_CA_FILE   extra CA certificates (PEM) pip trusts during the build, for builds
#                          behind a TLS-inspecting proxy; default: the bundle pip here uses
#                          ($PIP_CERT), if set
#   SOVITS_BASE            auto (default): the Dockerfiles' base image, pulled if missing, else a
#                          local stand-in; registry: never a stand-in; local: always the stand-in
#   SOVITS_UPSTREAM_DIR    where the pinned upstream archives are (default ../shared/upstream);
#                          when present the step image reads them from there instead of GitHub,
#                          served on 127.0.0.1:SOVITS_UPSTREAM_PORT (default 38233)
#
# Where the base image cannot be pulled (no registry), the script builds a stand-in: Debian
# bookworm from `debootstrap --variant=minbase` with Python 3.11 and venv, imported as
# localhost/sovits-base/python:3.11-bookworm and passed as the Dockerfiles' PYTHON_IMAGE. It says
# so loudly; ship images built on the real base.
#
# podman runs with its own configuration and store under $out/podman (CONTAINERS_CONF and
# friends): host networking (no bridge, no iptables rules), cgroupfs, and open-file limits that
# fit this machine's; the machine's /etc/containers is left alone.
set -euo pipefail
{ # read to the end before running: editing the script mid-build cannot derail it
repo=$(cd "$(dirname "$0")/.." && pwd)
out=${XDG_CACHE_HOME:-$HOME/.cache}/sovits-operator/images
inputs=${SOVITS_UPSTREAM_DIR:-$repo/../shared/upstream}
tag=${SOVITS_IMAGE_TAG:-$(awk -F'"' '/^appVersion:/ {print $2}' "$repo/charts/sovits-operator/Chart.yaml")}
prefix=${SOVITS_IMAGE_PREFIX:-ghcr.io/sovits-operator}
base_mode=${SOVITS_BASE:-auto}
real_base=python:3.11.14-slim-bookworm  # the PYTHON_IMAGE default of both Dockerfiles
standin=localhost/sovits-base/python:3.11-bookworm
all=(operator step-audio step)

say() { echo "images: $*" >&2; }
die() { echo "images: $*" >&2; exit 1; }

images=("$@")
((${#images[@]})) || images=("${all[@]}")
for name in "${images[@]}"; do
  case $name in
    operator | step-audio | step) ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown image '$name': choose from ${all[*]}" ;;
  esac
done
[[ $base_mode =~ ^(auto|registry|local)$ ]] || die "SOVITS_BASE=$base_mode: choose auto, registry or local"
[[ -n $tag ]] || die "no tag: set SOVITS_IMAGE_TAG (the chart's appVersion was not found)"
ca=${SOVITS_BUILD_CA_FILE:-${PIP_CERT:-}}
[[ -z $ca || -s $ca ]] || die "CA certificates $ca (SOVITS_BUILD_CA_FILE, else PIP_CERT): no such file, or empty"

source "$(dirname "$0")/apt.sh"

# --- the engine -----------------------------------------------------------------------------
podman_config() {
  local conf=$out/podman nofile nproc
  # Without CAP_SYS_RESOURCE the runtime cannot give a container limits above its own: podman's
  # default of 1048576 open files fails where the machine caps them lower, and podman starts the
  # runtime with at most 32768 processes (measured: any container nproc above that fails).
  nofile=$(ulimit -Hn)
  [[ $nofile == unlimited ]] && nofile=1048576
  nproc=$(ulimit -Hu)
  [[ $nproc == unlimited || $nproc -gt 32768 ]] && nproc=32768
  mkdir -p "$conf/storage" "$conf/run"
  cat >"$conf/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]
netns = "host"
log_driver = "k8s-file"

[engine]
cgroup_manager = "cgroupfs"
runtime = "runc"
events_logger = "file"
events_logfile_path = "$conf/events.log"
EOF
  cat >"$conf/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$conf/storage"
runroot = "$conf/run"
EOF
  cat >"$conf/registries.conf" <<EOF
unqualified-search-registries = ["docker.io"]
short-name-mode = "permissive"
EOF
  export CONTAINERS_CONF=$conf/containers.conf CONTAINERS_STORAGE_CONF=$conf/storage.conf \
    CONTAINERS_REGISTRIES_CONF=$conf/registries.conf
}

if docker info >/dev/null 2>&1; then
  engine=docker
  export DOCKER_BUILDKIT=1
else
  # runc, not Debian's default crun: crun refuses cgroup v1 hosts that also mount a cgroup2 tree.
  apt_need podman:podman runc:runc
  engine=podman
  podman_config
fi
say "engine: $engine ($($engine --version))"

# --- the base image -------------------------------------------------------------------------
banner() {
  local line
  line=$(printf '=%.0s' {1..78})
  printf '%s\n' "$line" "$@" "$line" >&2
}

# Debian bookworm with what the Dockerfiles use of the python image: python and python3 3.11 on
# PATH, venv with pip, the C headers (compiled requirements), CA certificates and netbase.
standin_packages=python3,python3-venv,python3-dev,python-is-python3,ca-certificates,netbase
standin_mirror=${SOVITS_DEBIAN_MIRROR:-http://deb.debian.org/debian}

build_standin() {
  local key dir rootfs have start
  key=$(echo "bookworm minbase $standin_mirror $standin_packages stand-in-1" | sha256sum | cut -c1-16)
  dir=$out/base/$key
  have=$($engine image inspect --format '{{ index .Config.Labels "io.sovits.base-key" }}' "$standin" 2>/dev/null || true)
  [[ $have == "$key" ]] && return 0
  if [[ ! -f $dir/.complete ]]; then
    apt_need debootstrap:debootstrap
    start=$(date +%s)
    rm -rf "$dir"
    rootfs=$dir/rootfs
    mkdir -p "$rootfs"
    say "debootstrap bookworm into $rootfs"
    debootstrap --variant=minbase --include="$standin_packages" bookworm "$rootfs" "$standin_mirror" \
      >"$dir/debootstrap.log" 2>&1 || die "debootstrap failed; see $dir/debootstrap.log"
    # The sources of Debian's own images: the release, its updates and its security archive.
    rm -f "$rootfs/etc/apt/sources.list"
    cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<'EOF'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/log/*.log
    tar --numeric-owner --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' \
      -C "$rootfs" -cf "$dir/rootfs.tar" .
    rm -rf "$rootfs"
    touch "$dir/.complete"
    say "stand-in root file system made in $(($(date +%s) - start)) s"
  fi
  $engine import --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' \
    --change "LABEL io.sovits.base-key=$key" "$dir/rootfs.tar" "$standin" >/dev/null 2>&1
}

base=$real_base
if [[ $base_mode != local ]] && ! $engine image inspect "$real_base" >/dev/null 2>&1; then
  say "pulling $real_base"
  start=$(date +%s)
  timeout 300 $engine pull "$real_base" >/dev/null 2>&1 || { base=""; say "cannot pull $real_base ($(($(date +%s) - start)) s)"; }
fi
if [[ $base_mode == local || -z $base ]]; then
  [[ $base_mode == registry ]] && die "$real_base cannot be pulled and SOVITS_BASE=registry"
  build_standin
  base=$standin
  banner \
    " LOCAL STAND-IN BASE: $real_base is not used (it could not be pulled, or SOVITS_BASE=local)." \
    " Both images are built on $standin: Debian bookworm from" \
    " debootstrap --variant=minbase with Debian's Python 3.11. Good for testing on this machine;" \
    " build the images you ship where the real base can be pulled."
fi

# --- extra CA certificates and the upstream archives ----------------------------------------
secret_file=$out/.build-ca.pem  # an empty file when there is none: a secret id the builds can mount
mkdir -p "$out"
if [[ -n $ca ]]; then
  cp "$ca" "$secret_file"
  say "pip in the builds also trusts the CA certificates in $ca"
else
  : >"$secret_file"
fi
build_args=(--build-arg "PYTHON_IMAGE=$base")
server_pid=""
cleanup() { [[ -z $server_pid ]] || kill "$server_pid" 2>/dev/null || true; }
trap cleanup EXIT

# The step image downloads upstream's release archive and two NLTK packages (checked against their
# sha256 in the Dockerfile). With the pinned copies at hand, serve them on loopback instead.
serve_upstream() {
  local archive=$inputs/GPT-SoVITS-20250606v2pro.tar.gz dir port
  [[ -f $archive && -f $inputs/nltk_data.tar.gz ]] || { say "upstream archives from GitHub (none in $inputs)"; return 0; }
  dir=$out/serve
  rm -rf "$dir"
  mkdir -p "$dir"
  ln -s "$(readlink -f "$archive")" "$dir/gpt-sovits.tar.gz"
  tar -xzf "$inputs/nltk_data.tar.gz" -C "$dir"
  # A fixed port: the URLs are build arguments, and a new value would rebuild every layer after them.
  port=${SOVITS_UPSTREAM_PORT:-38233}
  if ! python3 -c "import socket; socket.socket().bind(('127.0.0.1', $port))" 2>/dev/null; then
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    say "port ${SOVITS_UPSTREAM_PORT:-38233} is taken: serving on $port, so the step image's upstream layers rebuild"
  fi
  python3 -m http.server --bind 127.0.0.1 --directory "$dir" "$port" >"$out/serve.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 50); do
    python3 -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$port/gpt-sovits.tar.gz').close()" 2>/dev/null && break
    sleep 0.2
  done
  build_args+=(--build-arg "GPT_SOVITS_URL=http://127.0.0.1:$port/gpt-sovits.tar.gz"
    --build-arg "NLTK_DATA_URL=http://127.0.0.1:$port/nltk_data")
  say "upstream archives served from $inputs on 127.0.0.1:$port"
}
[[ " ${images[*]} " == *" step "* ]] && serve_upstream

# --- build, save, report --------------------------------------------------------------------
declare -A dockerfile=([operator]=Dockerfile.operator [step-audio]=step-images/Dockerfile [step]=step-images/Dockerfile)
declare -A repository=([operator]=sovits-operator [step-audio]=step-audio [step]=step)
declare -A target=([operator]="" [step-audio]=step-audio [step]=step)

manifest=()
for name in "${images[@]}"; do
  ref=$prefix/${repository[$name]}:$tag
  args=(build --network host -f "$repo/${dockerfile[$name]}" -t "$ref" "${build_args[@]}"
    --secret "id=extra-ca,src=$secret_file")
  [[ -n ${target[$name]} ]] && args+=(--target "${target[$name]}")
  # podman writes OCI images by default, which drop SHELL (pipefail in the Dockerfiles).
  [[ $engine == podman ]] && args+=(--format docker)
  say "building $name as $ref"
  start=$(date +%s)
  $engine "${args[@]}" "$repo" >"$out/$name.build.log" 2>&1 || {
    tail -n 40 "$out/$name.build.log" >&2
    die "building $name failed; the whole log is $out/$name.build.log"
  }
  seconds=$(($(date +%s) - start))
  id=$($engine image inspect --format '{{.Id}}' "$ref")
  size=$($engine image inspect --format '{{.Size}}' "$ref")
  archive=$out/$name.tar
  # The tarball is rewritten only when the image changed.
  if [[ ! -f $archive || $(cat "$archive.id" 2>/dev/null) != "$id" ]]; then
    rm -f "$archive.id"
    if [[ $engine == podman ]]; then
      podman save --format docker-archive -o "$archive.tmp" "$ref"
    else
      docker save -o "$archive.tmp" "$ref"
    fi
    mv "$archive.tmp" "$archive"
    echo "$id" >"$archive.id"
  fi
  manifest+=("$name" "$ref" "$id" "$size" "$archive" "$seconds")
  printf 'built %-10s %s  %s MB  %s s  -> %s\n' "$name" "$ref" $((size / 1000000)) "$seconds" "$archive"
done

# Every build leaves the previous images untagged (GBs each). In the project's own podman store
# they are pruned, except the layers of the step image's torch/upstream stage, which are the
# build cache worth keeping; a user's docker is left alone.
if [[ $engine == podman ]]; then
  podman image prune -f --filter 'label!=io.sovits.build-cache=upstream' >/dev/null
fi

# images.json: what was built, and the environment that reaches this engine's store.
python3 - "$out/images.json" "$engine" "$base" "${manifest[@]}" <<'PY'
import json, os, sys
path, engine, base, *rows = sys.argv[1:]
engine_env = {k: os.environ[k] for k in ("CONTAINERS_CONF", "CONTAINERS_STORAGE_CONF", "CONTAINERS_REGISTRIES_CONF")
              if k in os.environ}
try:
    with open(path) as f:
        known = json.load(f)["images"]
except (OSError, ValueError, KeyError):
    known = {}
for i in range(0, len(rows), 6):
    name, ref, image_id, size, archive, seconds = rows[i : i + 6]
    known[name] = {"ref": ref, "id": image_id, "size": int(size), "archive": archive,
                   "build_seconds": int(seconds), "base": base}
with open(path, "w") as f:
    json.dump({"engine": engine, "engine_env": engine_env, "images": known}, f, indent=2, sort_keys=True)
PY
exit 0
}
