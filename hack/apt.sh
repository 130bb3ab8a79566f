# Sourced by the set-up scripts: install the Debian packages of the tools that are missing.
#   apt_need TOOL:PACKAGE...   (TOOL a command name or an absolute path)
apt_need() {
  local need=() item sudo=""
  for item in "$@"; do
    command -v "${item%%:*}" >/dev/null || need+=("${item##*:}")
  done
  ((${#need[@]})) || return 0
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  echo "installing Debian packages: ${need[*]}" >&2
  $sudo apt-get update -qq
  # No systemd on these machines: packages with daemons (containerd) only install files.
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    $(printf '%s\n' "${need[@]}" | sort -u) >/dev/null
}
