#!/usr/bin/env bash
# Benchmarks kperf-plan against iperf3 and sockperf on loopback, in the same run. See bench/README.md.
exec /usr/bin/python3 "$(dirname "$0")/run.py" "$@"
