#!/usr/bin/python3
"""kperf-plan against its peers on loopback, in the same run; prints ratios against the targets.

Sections (all by default):
  stream    tcp_stream, 1 flow, 64 KiB writes      vs iperf3 -P1          target >= 1.0x
  rr        tcp_rr, 1 flow, 64 B, depth 1          vs sockperf ping-pong  target >= 1.0x, p50/p99 beside
  overhead  tcp_rr with histograms on vs off       (kperf-plan only)      target within 3%
  scale     10,000 tcp_rr flows over two workers   (kperf-plan only)      prints peak RSS

It builds nothing: it runs an existing kperf-plan (--bin, $KPERF_PLAN_BIN, or build/kperf-plan)
through plan files written to a temporary directory and reads its results.json.
"""
import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class BenchError(Exception):
    pass


# ---------------------------------------------------------------- results.json (one place)

def instance_figures(doc):
    """The one function that knows the shape of results.json (docs/results.md).

    Returns a list of {"scenario", "parameters", "status", "metrics": {name: value}} per instance,
    where value is the aggregate headline value (latency in us, throughput in bit/s)."""
    out = []
    for inst in doc.get("instances", []):
        metrics = {}
        for name, m in inst.get("aggregate", {}).get("metrics", {}).items():
            if isinstance(m, dict) and m.get("value") is not None:
                metrics[name] = float(m["value"])
        out.append({"scenario": inst.get("scenario", inst.get("id", "?").split("/")[0]),
                    "parameters": inst.get("parameters", {}),
                    "status": inst.get("status", "?"),
                    "failure": inst.get("failure"),
                    "metrics": metrics})
    return out


class Metrics(dict):
    """Metric values of one instance; a missing metric is a clear BenchError, not a KeyError."""

    def __init__(self, values, where):
        super().__init__(values)
        self.where = where

    def __missing__(self, name):
        raise BenchError(f"results.json: instance {self.where} has no metric '{name}'")


def pick(figures, scenario, **params):
    """The figures of the instance of `scenario` whose matrix parameters include `params`."""
    for f in figures:
        if f["scenario"] != scenario:
            continue
        if all(str(f["parameters"].get(k)).lower() == str(v).lower() for k, v in params.items()):
            if f["status"] not in ("ok", "expect_failed"):
                raise BenchError(f"kperf-plan instance {scenario} {params}: {f['status']} {f.get('failure') or ''}")
            return Metrics(f["metrics"], f"{scenario} {params or ''}".strip())
    raise BenchError(f"results.json has no instance {scenario} {params}")


# ---------------------------------------------------------------- processes

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def descendants(pid):
    """pid and every process below it (from /proc/*/stat parent links)."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
            ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def status_kib(pid, field):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def role_of(pid):
    """'runner', 'agent' or the command name of a process, from its command line."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
    except OSError:
        return "?"
    name = os.path.basename(argv[0]).decode(errors="replace")
    if name.startswith("kperf-plan") and len(argv) > 1:
        return {"run": "runner", "agent": "agent"}.get(argv[1].decode(errors="replace"), name)
    return name


class RssMonitor(threading.Thread):
    """Samples the summed VmRSS of a process tree every 0.2 s; keeps the peak and each VmHWM."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak_total_kib, self.hwm_kib, self.role = pid, 0, {}, {}
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            pids = descendants(self.pid)
            self.peak_total_kib = max(self.peak_total_kib, sum(status_kib(p, "VmRSS") for p in pids))
            for p in pids:
                self.hwm_kib[p] = max(self.hwm_kib.get(p, 0), status_kib(p, "VmHWM"))
                if p not in self.role:
                    self.role[p] = role_of(p)
            self.stop.wait(0.2)


NOFILE_WANTED = 65536


def raise_nofile():
    """Lifts the child's open-file soft limit towards 64Ki, as far as the hard limit (or, with
    CAP_SYS_RESOURCE, beyond it) allows: 10,000 flows need 10,000+ descriptors per agent."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    for limit in (NOFILE_WANTED, hard):
        try:
            if limit > soft:
                resource.setrlimit(resource.RLIMIT_NOFILE, (limit, max(limit, hard)))
            return
        except (ValueError, OSError):
            continue


def run_kperf(binary, workdir, name, plan_text, timeout_s):
    """Runs one plan; returns (instance figures, RssMonitor). Raises BenchError with the log tail."""
    plan = os.path.join(workdir, f"{name}.yaml")
    out = os.path.join(workdir, f"{name}-out")
    with open(plan, "w") as f:
        f.write(plan_text)
    log_path = os.path.join(workdir, f"{name}.log")
    with open(log_path, "w") as log:
        proc = subprocess.Popen([binary, "run", plan, "-o", out], stdout=log, stderr=subprocess.STDOUT,
                                preexec_fn=raise_nofile)
        mon = RssMonitor(proc.pid)
        mon.start()
        try:
            rc = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            rc = "timeout"
        mon.stop.set()
        mon.join()
    results = os.path.join(out, "results.json")
    if rc != 0 or not os.path.exists(results):
        with open(log_path) as f:
            tail = "".join(f.readlines()[-15:])
        raise BenchError(f"kperf-plan run {name}.yaml failed (exit {rc}); last output:\n{tail}")
    with open(results) as f:
        return instance_figures(json.load(f)), mon


def start_server(argv, port):
    """Starts a peer's server and waits (bounded) until it accepts connections."""
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise BenchError(f"{argv[0]} server did not come up on port {port}")


def stop(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# ---------------------------------------------------------------- peers

def parse_iperf3(doc):
    """iperf3 -J: received goodput (bit/s) and host CPU %."""
    end = doc.get("end", {})
    if "error" in doc:
        raise BenchError(f"iperf3: {doc['error']}")
    return {"bps": float(end["sum_received"]["bits_per_second"]),
            "cpu_pct": float(end.get("cpu_utilization_percent", {}).get("host_total", float("nan")))}


def run_iperf3(duration, warmup):
    port = free_port()
    # Not one-off (-1): the readiness probe in start_server would be its one client.
    server = start_server(["iperf3", "-s", "-B", "127.0.0.1", "-p", str(port)], port)
    try:
        r = subprocess.run(["iperf3", "-c", "127.0.0.1", "-p", str(port), "-P1", "-l", "64K",
                            "-t", str(duration), "-O", str(warmup), "-J"],
                           capture_output=True, text=True, timeout=duration + warmup + 30)
    finally:
        stop(server)
    try:
        return parse_iperf3(json.loads(r.stdout))
    except (ValueError, KeyError) as e:
        raise BenchError(f"iperf3 output not understood ({e}): {r.stdout[-500:]}{r.stderr[-500:]}")


def parse_sockperf(text):
    """sockperf ping-pong --full-rtt: transactions/s over the valid duration, and RTT percentiles (us)."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)
    m = re.search(r"\[Valid Duration\] RunTime=([\d.]+) sec; SentMessages=(\d+); ReceivedMessages=(\d+)", text)
    if not m:
        raise BenchError("sockperf output has no '[Valid Duration]' line:\n" + text[-800:])
    out = {"tps": int(m.group(3)) / float(m.group(1))}
    for p, key in (("50.000", "p50_us"), ("99.000", "p99_us"), ("99.900", "p999_us")):
        pm = re.search(r"percentile " + re.escape(p) + r" =\s*([\d.]+)", text)
        if pm:
            out[key] = float(pm.group(1))
    if "p50_us" not in out or "p99_us" not in out:
        raise BenchError("sockperf output has no p50/p99 lines:\n" + text[-800:])
    return out


def run_sockperf(duration):
    port = free_port()
    server = start_server(["sockperf", "server", "-i", "127.0.0.1", "-p", str(port), "--tcp"], port)
    try:
        r = subprocess.run(["sockperf", "ping-pong", "-i", "127.0.0.1", "-p", str(port), "--tcp", "-m", "64",
                            "-t", str(duration), "--full-rtt"],
                           capture_output=True, text=True, timeout=duration + 30)
    finally:
        stop(server)
    return parse_sockperf(r.stdout + r.stderr)


# ---------------------------------------------------------------- plans

def plan(name, duration, warmup, repeat, scenarios, client="me", server="me"):
    hosts = "".join(f"  {h}: {{}}\n" for h in dict.fromkeys((client, server)))
    return f"""version: 1
name: {name}
hosts:
{hosts}defaults:
  client: {client}
  server: {server}
  duration: {duration}s
  warmup: {warmup}s
  repeat: {repeat}
scenarios:
{scenarios}"""


STREAM = """  - name: stream
    traffic: tcp_stream
    flows: 1
    write_size: 64KiB
    read_size: 64KiB
"""
RR = """  - name: rr
    traffic: tcp_rr
    flows: 1
    request_size: 64
    response_size: 64
    in_flight: 1
    nodelay: true
"""
OVERHEAD = """  - name: overhead
    traffic: tcp_rr
    flows: 1
    request_size: 64
    response_size: 64
    in_flight: 1
    nodelay: true
    matrix:
      histograms: [true, false]
"""
SCALE = """  - name: scale
    traffic: tcp_rr
    flows: 10000
    workers: 2
    request_size: 64
    response_size: 64
    in_flight: 1
"""


# ---------------------------------------------------------------- report

def verdict(ok):
    return "PASS" if ok else "BELOW TARGET"


def median(values):
    v = sorted(values)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def interleaved(a, run_ours, run_peer):
    """Alternates kperf-plan and the peer for --rounds rounds, so both see the same drift in machine
    state; returns the per-round results of each."""
    ours, peer = [], []
    for _ in range(a.rounds):
        ours.append(run_ours())
        peer.append(run_peer())
    return ours, peer


def rounds_note(a):
    return f" (median of {a.rounds} interleaved rounds)" if a.rounds > 1 else ""


def section_stream(a, work):
    print(f"== tcp_stream, 1 flow, 64 KiB writes, {a.duration} s{rounds_note(a)} ==")
    text = plan("bench-stream", a.duration, a.warmup, 1, STREAM)
    ours, peer = interleaved(a, lambda: pick(run_kperf(a.bin, work, "stream", text, a.timeout)[0], "stream"),
                             lambda: run_iperf3(a.duration, a.warmup))
    bps = median([m["throughput_bps"] for m in ours])
    peer_bps = median([p["bps"] for p in peer])
    ratio = bps / peer_bps
    print(f"  kperf-plan   {bps / 1e9:8.3f} Gbit/s")
    print(f"  iperf3 -P1   {peer_bps / 1e9:8.3f} Gbit/s")
    print(f"  ratio        {ratio:8.3f}x         target >= 1.0x: {verdict(ratio >= 1.0)}")


def section_rr(a, work):
    print(f"== tcp_rr, 1 flow, 64 B, depth 1, {a.duration} s{rounds_note(a)} ==")
    text = plan("bench-rr", a.duration, a.warmup, 1, RR)
    ours, peer = interleaved(a, lambda: pick(run_kperf(a.bin, work, "rr", text, a.timeout)[0], "rr"),
                             lambda: run_sockperf(a.duration))
    tps = median([m["transactions_per_s"] for m in ours])
    p50 = median([m["latency_p50"] for m in ours])
    p99 = median([m["latency_p99"] for m in ours])
    peer_tps = median([p["tps"] for p in peer])
    ratio = tps / peer_tps
    print(f"  {'':22}{'trans/s':>12} {'p50 us':>9} {'p99 us':>9}")
    print(f"  {'kperf-plan':22}{tps:12.0f} {p50:9.1f} {p99:9.1f}")
    print(f"  {'sockperf ping-pong':22}{peer_tps:12.0f} {median([p['p50_us'] for p in peer]):9.1f} "
          f"{median([p['p99_us'] for p in peer]):9.1f}")
    print(f"  ratio        {ratio:8.3f}x         target >= 1.0x: {verdict(ratio >= 1.0)}")


def section_overhead(a, work):
    print(f"== tcp_rr histograms on vs off, {a.duration} s x {a.repeat} repeats each ==")
    ours, _ = run_kperf(a.bin, work, "overhead", plan("bench-overhead", a.duration, a.warmup, a.repeat, OVERHEAD),
                        a.timeout * 2 * a.repeat)
    on = pick(ours, "overhead", histograms="true")["transactions_per_s"]
    off = pick(ours, "overhead", histograms="false")["transactions_per_s"]
    cost = 1 - on / off
    print(f"  histograms on   {on:12.0f} trans/s")
    print(f"  histograms off  {off:12.0f} trans/s")
    print(f"  overhead        {cost * 100:+8.2f}%        target within 3%: {verdict(cost <= 0.03)}")


def section_scale(a, work):
    print(f"== 10,000 tcp_rr flows over two workers, {a.scale_duration} s ==")
    # Two local hosts, so client and server run in separate agents: one agent holding both ends
    # of 10,000 connections needs over 20,000 descriptors, more than many boxes allow a process.
    text = plan("bench-scale", a.scale_duration, a.warmup, 1, SCALE, client="cli", server="srv")
    ours, mon = run_kperf(a.bin, work, "scale", text, a.timeout + a.scale_duration)
    m = pick(ours, "scale")
    print(f"  transactions/s       {m['transactions_per_s']:12.0f}   p99 {m.get('latency_p99', float('nan')):.1f} us")
    print(f"  peak RSS, all kperf-plan processes together: {mon.peak_total_kib / 1024:8.1f} MiB")
    for pid, kib in sorted(mon.hwm_kib.items(), key=lambda kv: -kv[1]):
        if kib > 0:
            print(f"  peak RSS (VmHWM) of {mon.role.get(pid, '?'):8} pid {pid:<8} {kib / 1024:8.1f} MiB")


SECTIONS = {"stream": section_stream, "rr": section_rr, "overhead": section_overhead, "scale": section_scale}


def peers_only(a):
    """Runs just the peers (no kperf-plan): checks the tools and their parsing."""
    print(f"== peers only, {a.duration} s each ==")
    ip = run_iperf3(a.duration, a.warmup)
    print(f"  iperf3 -P1 64 KiB          {ip['bps'] / 1e9:8.3f} Gbit/s  (host CPU {ip['cpu_pct']:.0f}%)")
    sp = run_sockperf(a.duration)
    print(f"  sockperf ping-pong 64 B    {sp['tps']:8.0f} trans/s  p50 {sp['p50_us']:.1f} us  p99 {sp['p99_us']:.1f} us")


SOCKPERF_SAMPLE = """sockperf: [Total Run] RunTime=2.001 sec; Warm up time=400 msec; SentMessages=25528; ReceivedMessages=25527
sockperf: ========= Printing statistics for Server No: 0
sockperf: [Valid Duration] RunTime=1.544 sec; SentMessages=23230; ReceivedMessages=23230
sockperf: \x1b[2;35m====> avg-rtt=66.435 (std-dev=526.114)\x1b[0m
sockperf: ---> <MAX> observation = 13264.287
sockperf: ---> percentile 99.900 = 7990.359
sockperf: ---> percentile 99.000 = 2582.813
sockperf: ---> percentile 50.000 =   13.730
sockperf: ---> <MIN> observation =   13.379
"""


def self_test():
    """Checks the parsers on recorded outputs (no tools run)."""
    sp = parse_sockperf(SOCKPERF_SAMPLE)
    assert abs(sp["tps"] - 23230 / 1.544) < 1e-6 and sp["p50_us"] == 13.73 and sp["p99_us"] == 2582.813, sp
    ip = parse_iperf3({"end": {"sum_received": {"bits_per_second": 3.9e9},
                               "cpu_utilization_percent": {"host_total": 7.5}}})
    assert ip == {"bps": 3.9e9, "cpu_pct": 7.5}, ip
    doc = {"instances": [
        {"id": "overhead/histograms=true", "scenario": "overhead", "parameters": {"histograms": True},
         "status": "ok", "aggregate": {"metrics": {"transactions_per_s": {"value": 100.0},
                                                   "latency_p99": {"value": None}}}},
        {"id": "overhead/histograms=false", "scenario": "overhead", "parameters": {"histograms": False},
         "status": "failed", "failure": {"host": "me", "step": "start", "error": "boom"}}]}
    figs = instance_figures(doc)
    m = pick(figs, "overhead", histograms="true")
    assert m["transactions_per_s"] == 100.0 and "latency_p99" not in m
    for call, want in ((lambda: m["latency_p99"], "has no metric 'latency_p99'"),
                       (lambda: pick(figs, "overhead", histograms="false"), "failed"),
                       (lambda: pick(figs, "stream"), "has no instance stream")):
        try:
            call()
            raise AssertionError(f"expected an error containing {want!r}")
        except BenchError as e:
            assert want in str(e), e
    for bad in ("no such line", SOCKPERF_SAMPLE.replace("percentile 99.000", "pct")):
        try:
            parse_sockperf(bad)
            raise AssertionError("expected BenchError")
        except BenchError:
            pass
    print("bench self-test: ok")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.environ.get("KPERF_PLAN_BIN", os.path.join(ROOT, "build", "kperf-plan")))
    ap.add_argument("--sections", default="stream,rr,overhead,scale", help="comma-separated subset")
    ap.add_argument("--duration", type=int, default=10, help="seconds per measurement (default 10)")
    ap.add_argument("--warmup", type=int, default=2, help="warm-up seconds, excluded (default 2)")
    ap.add_argument("--repeat", type=int, default=3, help="repeats of each overhead instance (default 3)")
    ap.add_argument("--rounds", type=int, default=1, help="interleaved kperf-plan/peer rounds (median)")
    ap.add_argument("--scale-duration", type=int, default=10)
    ap.add_argument("--timeout", type=int, default=120, help="seconds before a kperf-plan run is killed")
    ap.add_argument("--peers-only", action="store_true", help="run only iperf3 and sockperf")
    ap.add_argument("--install-peers", action="store_true", help="apt-get iperf3 and sockperf if missing")
    ap.add_argument("--keep", action="store_true", help="keep the plans, logs and results directory")
    ap.add_argument("--self-test", action="store_true", help="check the output parsers and exit")
    a = ap.parse_args()
    if a.self_test:
        self_test()
        return 0

    missing = [t for t in ("iperf3", "sockperf") if not shutil.which(t)]
    if missing and a.install_peers:
        subprocess.run([os.path.join(ROOT, "bench", "install-peers.sh")], check=True)
        missing = [t for t in ("iperf3", "sockperf") if not shutil.which(t)]
    if missing:
        sys.exit(f"bench: {', '.join(missing)} not installed; run bench/install-peers.sh or pass --install-peers")
    if a.peers_only:
        try:
            peers_only(a)
        except (BenchError, subprocess.SubprocessError) as e:
            sys.exit(f"bench: {e}")
        return 0
    if not (os.path.isfile(a.bin) and os.access(a.bin, os.X_OK)):
        sys.exit(f"bench: kperf-plan not found at {a.bin}; build it (meson setup build && ninja -C build) "
                 "or pass --bin / KPERF_PLAN_BIN")

    load = os.getloadavg()[0]
    if load > 0.5 * (os.cpu_count() or 1):
        print(f"warning: 1-minute load average {load:.1f} on {os.cpu_count()} CPUs: figures will be noisy",
              file=sys.stderr)
    work = tempfile.mkdtemp(prefix="kperf-bench-")
    failed = 0
    try:
        for name in a.sections.split(","):
            if name not in SECTIONS:
                sys.exit(f"bench: unknown section '{name}' (expected {', '.join(SECTIONS)})")
            try:
                SECTIONS[name](a, work)
            except (BenchError, subprocess.SubprocessError, KeyError) as e:
                failed += 1
                print(f"  FAILED: {e}", file=sys.stderr)
    finally:
        if a.keep:
            print(f"(plans, logs and results kept in {work})")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
