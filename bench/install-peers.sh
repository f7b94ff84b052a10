#!/usr/bin/env bash
# Installs the peer tools bench/run.sh compares kperf-plan with (Debian 12, as root or via sudo).
# Kept apart from scripts/install-deps: building and testing kperf-plan never needs them.
set -euo pipefail
missing=()
for p in iperf3 sockperf; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
((${#missing[@]})) || exit 0
sudo_cmd=()
[ "$(id -u)" = 0 ] || sudo_cmd=(sudo)
"${sudo_cmd[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
