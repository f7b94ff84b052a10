#!/usr/bin/env bash
# Installs the peer tools bench/run.sh compares kperf-plan with (Debian 12, as root or via sudo):
# iperf3, sockperf and qperf from Debian's main component, netperf from its non-free component.
# Kept apart from scripts/install-deps: building and testing kperf-plan never needs them.
#
# netperf is only in non-free. When apt has no candidate for it, this script enables non-free for
# the bench only: it writes /etc/apt/sources.list.d/kperf-bench-nonfree.sources, a deb822 entry
# with the same URIs and suite as the machine's existing Debian entry but `Components: non-free`,
# and says so. Remove that file to undo it. Nothing else in the apt setup is changed.
set -euo pipefail
main_pkgs=(iperf3 sockperf qperf)
nonfree_pkgs=(netperf)
extra=/etc/apt/sources.list.d/kperf-bench-nonfree.sources

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
missing=()
for p in "${main_pkgs[@]}" "${nonfree_pkgs[@]}"; do installed "$p" || missing+=("$p"); done
((${#missing[@]})) || exit 0
sudo_cmd=()
[ "$(id -u)" = 0 ] || sudo_cmd=(sudo)
"${sudo_cmd[@]}" apt-get update -qq

candidate() { apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ {print $2}'; }
need_nonfree=0
for p in "${nonfree_pkgs[@]}"; do
  installed "$p" && continue
  c=$(candidate "$p")
  [ -n "$c" ] && [ "$c" != "(none)" ] || need_nonfree=1
done
if ((need_nonfree)) && [ ! -f "$extra" ]; then
  # The URIs and signing key of the existing Debian entry (deb822 or one-line format); the suite
  # is this release's codename.
  . /etc/os-release
  suite=${VERSION_CODENAME:?no VERSION_CODENAME in /etc/os-release}
  uri=$(awk '/^URIs:/ && $2 ~ /\/debian\/?$/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
  [ -n "$uri" ] || uri=$(awk '$1 == "deb" && $0 !~ /security/ {for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) {print $i; exit}}' \
    /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true)
  [ -n "$uri" ] || { echo "install-peers: no Debian apt entry found to extend with non-free" >&2; exit 1; }
  key=/usr/share/keyrings/debian-archive-keyring.gpg
  echo "install-peers: netperf is in Debian's non-free component; enabling non-free for the bench only:"
  echo "install-peers:   writing $extra ($uri $suite non-free); delete it to undo"
  printf 'Types: deb\nURIs: %s\nSuites: %s\nComponents: non-free\nSigned-By: %s\n' "$uri" "$suite" "$key" |
    "${sudo_cmd[@]}" tee "$extra" >/dev/null
  "${sudo_cmd[@]}" apt-get update -qq
fi
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
