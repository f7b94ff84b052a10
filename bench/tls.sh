#!/usr/bin/env bash
# What TLS costs: tcp_stream and tcp_rr with `tls: openssl` against plaintext on loopback, in the
# same run of kperf-plan, printing the throughput ratio and CPU per unit of work for both.
# With `--ktls` (or KTLS=1) it adds `tls: ktls` where the kernel has the TLS ULP.
#
#   bench/tls.sh [--ktls]            env: KPERF_PLAN_BIN (default build/kperf-plan),
#                                         DURATION (default 10s), WARMUP (2s), REPEAT (1),
#                                         RESULTS=results.json: print from an earlier run instead
#
# Callable from the main bench script: `bench/tls.sh` prints its own section and exits non-zero
# only when kperf-plan fails to run.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin=${KPERF_PLAN_BIN:-$root/build/kperf-plan}
duration=${DURATION:-10s}
warmup=${WARMUP:-2s}
repeat=${REPEAT:-1}
modes="none, openssl"
if [[ "${1:-}" == "--ktls" || "${KTLS:-0}" == 1 ]]; then modes="none, openssl, ktls"; fi

[[ -n "${RESULTS:-}" || -x "$bin" ]] || { echo "bench/tls.sh: $bin not built (ninja -C build)" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cat >"$work/tls-bench.yaml" <<EOF
version: 1
name: tls-bench
hosts:
  me: {}
defaults:
  client: me
  server: me
  duration: $duration
  warmup: $warmup
  repeat: $repeat
  tls_version: 1.3
  cipher: aes-128-gcm
scenarios:
  - name: stream
    traffic: tcp_stream
    write_size: 64KiB
    read_size: 64KiB
    matrix:
      tls: [$modes]
  - name: rr
    traffic: tcp_rr
    request_size: 64
    response_size: 64
    in_flight: 1
    matrix:
      tls: [$modes]
EOF

echo "== TLS cost on loopback ($duration per instance, TLS 1.3 aes-128-gcm) =="
results=${RESULTS:-$work/out/results.json}
if [[ -z "${RESULTS:-}" ]]; then
    "$bin" run "$work/tls-bench.yaml" -o "$work/out" >"$work/run.log" 2>&1 || {
        echo "bench/tls.sh: kperf-plan failed; its output:" >&2
        cat "$work/run.log" >&2
        exit 1
    }
fi

# The one place that knows the shape of results.json (docs/results.md): prints, per instance id,
# its status and the aggregate values of the metrics named on the command line ('-' if absent).
metrics() {
    python3 - "$results" "$@" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
for inst in doc.get("instances", []):
    agg = inst.get("aggregate", {}).get("metrics", {})
    vals = []
    for name in sys.argv[2:]:
        m = agg.get(name)
        vals.append("-" if not m or m.get("value") is None else repr(float(m["value"])))
    print(inst["id"], inst.get("status", "?"), *vals)
PY
}

# Loopback: client and server are the same host, so the client's figure is the whole machine's
# CPU (adding the server's would count it twice). Streams: s/GB; rr: µs per transaction, and
# s/GB from the 128 bytes (request + response) each transaction moves.
metrics throughput_bps transactions_per_s client_service_demand latency_p50 latency_p99 >"$work/m.txt"

awk -v rr_bytes=128 '
function ratio(a, b) { return (a == "-" || b == "-" || b + 0 == 0) ? "n/a" : sprintf("%.3f", a / b) }
function num(v, f) { return v == "-" || v == "" ? "-" : sprintf(f, v) }
{ split($1, id, "/"); scen = id[1]; mode = id[2]; sub(/^tls=/, "", mode)
  st[scen, mode] = $2; bps[scen, mode] = $3; tps[scen, mode] = $4; cpu[scen, mode] = $5
  p50[scen, mode] = $6; p99[scen, mode] = $7 }
END {
  n = split("none openssl ktls", order, " ")
  printf "%-24s %14s %14s %10s %12s\n", "tcp_stream (64 KiB)", "status", "Gbit/s", "vs none", "CPU s/GB"
  for (i = 1; i <= n; i++) { m = order[i]; if (!(("stream", m) in st)) continue
    printf "%-24s %14s %14s %10s %12s\n", "  tls: " m, st["stream", m], (bps["stream", m] == "-" ? "-" : sprintf("%.3f", bps["stream", m] / 1e9)),
           ratio(bps["stream", m], bps["stream", "none"]), num(cpu["stream", m], "%.3f") }
  printf "%-24s %14s %14s %10s %12s %12s %9s %9s\n", "tcp_rr (64 B, depth 1)", "status", "trans/s", "vs none",
         "CPU s/GB", "CPU us/tr", "p50 us", "p99 us"
  for (i = 1; i <= n; i++) { m = order[i]; if (!(("rr", m) in st)) continue
    c = cpu["rr", m]
    printf "%-24s %14s %14s %10s %12s %12s %9s %9s\n", "  tls: " m, st["rr", m], num(tps["rr", m], "%.0f"),
           ratio(tps["rr", m], tps["rr", "none"]), (c == "-" ? "-" : sprintf("%.2f", c * 1e3 / rr_bytes)),
           num(c, "%.2f"), num(p50["rr", m], "%.1f"), num(p99["rr", m], "%.1f") }
}' "$work/m.txt"
