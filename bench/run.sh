#!/usr/bin/env bash
# Benchmarks kperf-plan against netperf, iperf3, sockperf and qperf on loopback and veth, in the same run. See bench/README.md.
exec /usr/bin/python3 "$(dirname "$0")/run.py" "$@"
