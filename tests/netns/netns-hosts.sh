#!/usr/bin/env bash
# Creates N throwaway "hosts" (network namespaces) running Debian's sshd, for kperf-plan tests
# and for trying plans by hand. Needs root, iproute2 and openssh-server.
#
#   tests/netns/netns-hosts.sh up N DIR    # creates hosts 1..N; writes keys and files into DIR
#   tests/netns/netns-hosts.sh down DIR    # kills everything in them and deletes them
#
# Layout: a switch namespace kp-<B>-br holds a bridge; each host namespace kp-<B>-<i> has eth0
# = 198.18.<B>.<i>/24 on it, and the root namespace reaches the bridge as 198.18.<B>.254 through
# the link kp<B>root. B is a free byte picked under a lock, so parallel runs do not collide.
# Addresses stay inside 198.18.0.0/15 (reserved for benchmarking).
#
# DIR receives: id_ed25519{,.pub} (the client key every sshd authorizes, also for root),
# known_hosts (every host's key), hosts (lines "name namespace address"), hosts6 (lines "name
# 2001:2:0:<B>::<i>", the hosts' IPv6 addresses where the kernel has IPv6), state (for down),
# host<i>/ (sshd config, host key, pid file, log). Example by hand:
#   sudo tests/netns/netns-hosts.sh up 2 /tmp/kp
#   ssh -i /tmp/kp/id_ed25519 -o UserKnownHostsFile=/tmp/kp/known_hosts root@198.18.B.1 uname -a
#   sudo tests/netns/netns-hosts.sh down /tmp/kp
set -euo pipefail

die() { echo "netns-hosts: $*" >&2; exit 1; }

# Kills every process in namespace $1 (TERM, then KILL after up to 2 s) and deletes it.
destroy_ns() {
  local ns=$1 pids i
  ip netns list | grep -qw -- "$ns" || return 0
  pids=$(ip netns pids "$ns" 2>/dev/null || true)
  [ -n "$pids" ] && kill -TERM $pids 2>/dev/null || true
  for i in $(seq 20); do
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    [ -z "$pids" ] && break
    sleep 0.1
  done
  [ -n "$pids" ] && kill -KILL $pids 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
}

cmd_down() {
  local dir=$1 byte n i
  [ -f "$dir/state" ] || return 0
  # shellcheck disable=SC1091
  . "$dir/state"
  byte=$KP_BYTE n=$KP_N
  for i in $(seq "$n"); do destroy_ns "kp-$byte-$i"; done
  destroy_ns "kp-$byte-br"
  ip link del "kp${byte}root" 2>/dev/null || true
  rm -f "$dir/state"
}

# Picks a subnet byte no live run uses (its root-side address is the marker) and claims it by
# creating the root link with that address, all under one lock.
claim_byte() {
  local start=$(( ($$ % 200) + 20 )) k b
  exec 9>/run/kperf-plan-netns.lock
  flock -w 10 9 || die "timed out waiting for /run/kperf-plan-netns.lock"
  for k in $(seq 0 199); do
    b=$(( (start - 20 + k) % 200 + 20 ))
    ip -o -4 addr show | grep -q " 198\.18\.$b\.254/" && continue
    ip link show "kp${b}root" >/dev/null 2>&1 && continue
    ip netns list | grep -q "^kp-$b-" && continue
    ip netns add "kp-$b-br"
    ip link add "kp${b}root" type veth peer name root netns "kp-$b-br"
    ip addr add "198.18.$b.254/24" dev "kp${b}root"
    exec 9>&-
    echo "$b"
    return 0
  done
  die "no free subnet byte in 198.18.20-219.0/24"
}

cmd_up() {
  local n=$1 dir=$2 byte i ns addr h
  [ "$(id -u)" = 0 ] || die "must run as root"
  command -v ip >/dev/null || die "ip (iproute2) not found"
  [ -x /usr/sbin/sshd ] || die "/usr/sbin/sshd not found (apt-get install openssh-server)"
  [[ $n =~ ^[0-9]+$ ]] && ((n >= 1 && n <= 50)) || die "N must be 1..50, got '$n'"
  mkdir -p "$dir" /run/sshd
  dir=$(cd "$dir" && pwd)
  [ -f "$dir/state" ] && die "$dir already holds running hosts; run: $0 down $dir"
  byte=$(claim_byte)
  printf 'KP_BYTE=%s\nKP_N=%s\n' "$byte" "$n" >"$dir/state"
  trap 'cmd_down "$dir"' ERR INT TERM

  ip -n "kp-$byte-br" link add br0 type bridge
  ip -n "kp-$byte-br" link set lo up
  ip -n "kp-$byte-br" link set br0 up
  ip -n "kp-$byte-br" link set root master br0 up
  ip link set "kp${byte}root" up

  rm -f "$dir/id_ed25519" "$dir/id_ed25519.pub"
  ssh-keygen -q -t ed25519 -N '' -C kperf-plan-test -f "$dir/id_ed25519"
  cp "$dir/id_ed25519.pub" "$dir/authorized_keys"
  : >"$dir/known_hosts"
  : >"$dir/hosts"
  : >"$dir/hosts6"

  for i in $(seq "$n"); do
    ns="kp-$byte-$i" addr="198.18.$byte.$i" h="$dir/host$i"
    mkdir -p "$h"
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    ip -n "$ns" link add eth0 type veth peer name "p$i" netns "kp-$byte-br"
    ip -n "$ns" addr add "$addr/24" dev eth0
    # IPv6 too, where the kernel has it: 2001:2:0:<B>::<i>/64 (benchmarking prefix 2001:2::/48),
    # nodad so that it is usable at once; listed in DIR/hosts6 ("name address").
    ip -n "$ns" addr add "2001:2:0:$byte::$i/64" dev eth0 nodad 2>/dev/null &&
      echo "host$i 2001:2:0:$byte::$i" >>"$dir/hosts6"
    ip -n "$ns" link set eth0 up
    ip -n "kp-$byte-br" link set "p$i" master br0 up
    rm -f "$h/ssh_host_ed25519_key" "$h/ssh_host_ed25519_key.pub"
    ssh-keygen -q -t ed25519 -N '' -C "$ns" -f "$h/ssh_host_ed25519_key"
    cat >"$h/sshd_config" <<EOF
Port 22
ListenAddress $addr
ListenAddress 127.0.0.1
HostKey $h/ssh_host_ed25519_key
PidFile $h/sshd.pid
AuthorizedKeysFile $dir/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
UseDNS no
Subsystem sftp internal-sftp
LogLevel VERBOSE
EOF
    ip netns exec "$ns" /usr/sbin/sshd -f "$h/sshd_config" -E "$h/sshd.log"
    echo "$addr $(cut -d' ' -f1,2 "$h/ssh_host_ed25519_key.pub")" >>"$dir/known_hosts"
    echo "host$i $ns $addr" >>"$dir/hosts"
  done

  # Bounded wait: every sshd accepts on port 22 through the bridge within 10 s.
  for i in $(seq "$n"); do
    addr="198.18.$byte.$i"
    for _ in $(seq 100); do
      timeout 1 bash -c "exec 3<>/dev/tcp/$addr/22" 2>/dev/null && continue 2
      sleep 0.1
    done
    die "sshd on $addr did not accept within 10 s (see $dir/host$i/sshd.log)"
  done
  trap - ERR INT TERM
  echo "up: $n hosts 198.18.$byte.1-$n, root side 198.18.$byte.254, files in $dir"
}

case "${1:-}" in
  up) [ $# = 3 ] || die "usage: $0 up N DIR"; cmd_up "$2" "$3" ;;
  down) [ $# = 2 ] || die "usage: $0 down DIR"; cmd_down "$2" ;;
  *) die "usage: $0 up N DIR | down DIR" ;;
esac
