#!/usr/bin/python3
"""The regression gate measured (issue 14): how often a calibrated baseline with confirmation
cries wolf on unchanged runs (A/A), and how often it catches a real drop on a tbf-shaped link.

  loopback   a 4-instance plan (tcp_stream; tcp_rr 1 flow; tcp_rr 8 flows in_flight 4; tcp_crr):
             `kperf-plan baseline --runs B`, then --aa runs of `run --baseline BL --confirm C`.
  shaped     two namespaces (bench/run.py's Veth), tbf at --rate on both ends' egress (the
             client's toward the server, the server's own); a tcp_stream plan calibrated at the
             rate, then --aa unchanged runs, and --drop runs each at 90% and at 50% of it.

Each run is the tool's real path: its exit code counts (1 = regression). The table gives per
setting the runs, how many exited 1, and the rows flagged before confirmation (REGRESSION or
'not confirmed') against those left after it. Takes long (defaults: ~25 min); not a unit test.

    python3 bench/gate.py [--bin build/kperf-plan] [--baseline-runs 5] [--aa 8] [--drop 8]
                          [--confirm 2] [--duration 2] [--warmup 1] [--repeat 5] [--rate 2gbit]
                          [--sections loopback,shaped]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as benchrun  # noqa: E402  (bench/run.py: Veth, sh)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def plan_text(name, hosts, scenarios, a):
    return (f"version: 1\nname: {name}\nhosts:\n{hosts}defaults:\n  client: cli\n  server: srv\n"
            f"  duration: {a.duration}s\n  warmup: {a.warmup}s\n  repeat: {a.repeat}\nscenarios:\n{scenarios}")


LOOPBACK_SCENARIOS = """  - {name: stream, traffic: tcp_stream}
  - {name: rr1, traffic: tcp_rr, flows: 1}
  - {name: rr8, traffic: tcp_rr, flows: 8, in_flight: 4}
  - {name: crr, traffic: tcp_crr}
"""
SHAPED_SCENARIOS = """  - {name: stream, traffic: tcp_stream}
"""


def kperf(a, prefix, args, log, timeout=3600):
    with open(log, "w") as f:
        p = subprocess.run(prefix + [a.bin] + args, stdout=f, stderr=subprocess.STDOUT, timeout=timeout)
    return p.returncode


def flagged(out_dir):
    """(rows flagged by the first comparison, rows still regressed after confirmation)."""
    with open(os.path.join(out_dir, "results.json")) as f:
        doc = json.load(f)
    rows = (doc.get("baseline") or {}).get("rows", [])
    first = [f"{r['instance']}:{r['metric']}" for r in rows if r["verdict"] in ("REGRESSION", "not confirmed")]
    after = [f"{r['instance']}:{r['metric']}" for r in rows if r["verdict"] == "REGRESSION"]
    return first, after


class Row:
    def __init__(self, setting):
        self.setting, self.runs, self.exit1, self.first, self.after, self.other = setting, 0, 0, [], [], 0

    def add(self, rc, out):
        self.runs += 1
        if rc == 1:
            self.exit1 += 1
        elif rc != 0:
            self.other += 1
        try:
            f, af = flagged(out)
        except (OSError, ValueError, KeyError):
            f, af = [], []
        self.first += f
        self.after += af
        print(f"  {self.setting}: run {self.runs}: exit {rc}; flagged {f or '-'}; after confirmation "
              f"{af or '-'}", flush=True)

    def line(self):
        def top(xs):
            counts = {}
            for x in xs:
                counts[x] = counts.get(x, 0) + 1
            return ", ".join(f"{k} {v}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1])) or "-"
        pct = 100.0 * self.exit1 / self.runs if self.runs else 0
        extra = f", {self.other} other exit" if self.other else ""
        return (f"| {self.setting} | {self.runs} | {self.exit1} ({pct:.0f}%){extra} | {len(self.first)}: "
                f"{top(self.first)} | {len(self.after)}: {top(self.after)} |")


def series(a, prefix, plan, bl, work, tag, n, row):
    for i in range(n):
        out = os.path.join(work, f"{tag}-{i}")
        rc = kperf(a, prefix, ["run", plan, "-o", out, "-q", "--baseline", bl, "--confirm", str(a.confirm)],
                   out + ".log")
        row.add(rc, out)


def calibrate(a, prefix, plan, bl):
    rc = kperf(a, prefix, ["baseline", plan, "--runs", str(a.baseline_runs), "-o", bl, "-q"], bl + ".log")
    with open(bl + ".log") as f:
        text = f.read()
    if rc != 0:
        raise benchrun.BenchError(f"baseline exited {rc}:\n{text[-2000:]}")
    table = text[text.find("instance "):] if "instance " in text else text
    print(table, flush=True)
    return table


def section_loopback(a, work, rows, tables):
    plan = os.path.join(work, "lo.yaml")
    with open(plan, "w") as f:
        f.write(plan_text("gate-loopback", "  cli: {}\n  srv: {}\n", LOOPBACK_SCENARIOS, a))
    bl = os.path.join(work, "lo-bl")
    tables.append(("loopback", calibrate(a, [], plan, bl)))
    row = Row("loopback A/A")
    series(a, [], plan, bl, work, "lo-aa", a.aa, row)
    rows.append(row)


def shape(env, rate):
    """tbf at `rate` on both ends' egress: the client's toward the server and the server's own."""
    for prefix in (env.client_prefix, env.server_prefix):
        benchrun.sh(prefix + ["tc", "qdisc", "replace", "dev", "eth0", "root", "tbf", "rate", rate, "burst",
                              "256kb", "latency", "20ms"], 10)


def scaled(rate, factor):
    units = {"kbit": 1e3, "mbit": 1e6, "gbit": 1e9}
    for u, m in units.items():
        if rate.endswith(u):
            return f"{int(float(rate[:-len(u)]) * m * factor / 1e6)}mbit"
    raise benchrun.BenchError(f"--rate {rate}: expected e.g. 2gbit or 500mbit")


def section_shaped(a, work, rows, tables):
    env = benchrun.Veth(work)
    try:
        hosts, prefix = env.kperf_hosts(os.path.abspath(a.bin))
        plan = os.path.join(work, "shaped.yaml")
        with open(plan, "w") as f:
            f.write(plan_text("gate-shaped", hosts, SHAPED_SCENARIOS, a))
        shape(env, a.rate)
        bl = os.path.join(work, "sh-bl")
        tables.append((f"tbf {a.rate}", calibrate(a, prefix, plan, bl)))
        row = Row(f"shaped A/A ({a.rate})")
        series(a, prefix, plan, bl, work, "sh-aa", a.aa_shaped, row)
        rows.append(row)
        for factor, label in ((0.9, "10% drop"), (0.5, "2x drop")):
            rate = scaled(a.rate, factor)
            shape(env, rate)
            row = Row(f"{label} ({rate})")
            series(a, prefix, plan, bl, work, f"sh-{int(factor * 100)}", a.drop, row)
            rows.append(row)
        shape(env, a.rate)
    finally:
        env.close()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bin", default=os.environ.get("KPERF_PLAN_BIN", os.path.join(ROOT, "build", "kperf-plan")))
    p.add_argument("--baseline-runs", type=int, default=5)
    p.add_argument("--aa", type=int, default=8, help="unchanged runs on loopback")
    p.add_argument("--aa-shaped", type=int, default=4, help="unchanged runs on the shaped link")
    p.add_argument("--drop", type=int, default=8, help="runs per drop level on the shaped link")
    p.add_argument("--confirm", type=int, default=2)
    p.add_argument("--duration", type=float, default=2)
    p.add_argument("--warmup", type=float, default=1)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--rate", default="2gbit")
    p.add_argument("--sections", default="loopback,shaped")
    a = p.parse_args()
    if not os.access(a.bin, os.X_OK):
        sys.exit(f"gate.py: {a.bin}: not an executable (build first, or --bin)")
    rows, tables = [], []
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="kp-gate-") as work:
        for s in a.sections.split(","):
            {"loopback": section_loopback, "shaped": section_shaped}[s](a, work, rows, tables)
    print(f"\nbaseline {a.baseline_runs} runs, each run {a.repeat} repeats of {a.duration} s (+{a.warmup} s "
          f"warm-up), --confirm {a.confirm}; {time.monotonic() - t0:.0f} s in all\n")
    print("| setting | runs | exit 1 | rows flagged first | rows after confirmation |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(r.line())


if __name__ == "__main__":
    main()
