# shellcheck shell=bash
# Fetches Debian packages without installing anything: `apt-get download` with a private
# sources list (one suite of the archive this machine's apt configuration names) and
# `dpkg-deb -x`. The archive's address is read from the apt configuration, never written
# into the project. Sourced by scripts/etcd-versions and scripts/promtool.

debian_archive=""

# The codename of this machine's release (bookworm).
debian_codename() {
  (. /etc/os-release && echo "${VERSION_CODENAME:-}")
}

# Sets $debian_archive: the address of this machine's Debian archive (the main component
# of its own release).
debian_find_archive() {
  [ -n "$debian_archive" ] && return
  local codename
  codename=$(debian_codename)
  debian_archive=$(apt-cache policy 2>/dev/null \
    | awk -v c="$codename" '$2 ~ /^https?:\/\// && $3 == c"/main" {print $2; exit}')
  if [ -z "$debian_archive" ]; then
    echo "$(basename "$0"): no Debian archive for '$codename' in this machine's apt configuration (apt-cache policy)" >&2
    exit 1
  fi
}

# debian_unpack SUITE ROOT PACKAGE...: downloads the packages (an `=VERSION*` suffix
# pins one) from SUITE and unpacks them all under ROOT.
debian_unpack() {
  local suite=$1 root=$2
  shift 2
  debian_find_archive
  local work
  work=$(mktemp -d)
  mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/debs" "$root"
  echo "deb $debian_archive $suite main" >"$work/sources.list"
  local opts=(-o "Dir::Etc::SourceList=$work/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
    -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache" -o "Debug::NoLocking=1" -o "APT::Sandbox::User=root")
  if ! apt-get "${opts[@]}" -qq update || ! (cd "$work/debs" && apt-get "${opts[@]}" -qq download "$@"); then
    rm -rf "$work"
    echo "$(basename "$0"): could not download $* from $suite" >&2
    exit 1
  fi
  local deb
  for deb in "$work"/debs/*.deb; do dpkg-deb -x "$deb" "$root"; done
  rm -rf "$work"
}
