#!/usr/bin/env python3
"""report.html in a real browser (Debian's chromium, headless).

Runs a plan with a matrix, a search, a failed expectation, a via: instance and a group on loopback, then
opens the report.html the run wrote, after its scripts ran, and checks: no script error (the page
counts window errors and CSP violations into data-kp-errors; chromium's console is read too);
every chart the results call for was drawn (the page lists what it drew in data-kp-charts, set
against what this script derives from results.json on its own); a screenshot that is not blank.
Then a run with --baseline against a doctored copy of the first (figures made 1000x better) must show
the regression, and `report` of 1,000 instances must stay under 20 MB and open in under 10 s.

Usage: browser_test.py KPERF_PLAN_BIN [--keep DIR] [--screenshot FILE]   (exit 77: no chromium)"""
import copy
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

CHROMIUM = shutil.which('chromium')

PLAN = """version: 1
name: browser-test
hosts: {me: {}, hop: {}}
defaults: {client: me, server: me, duration: 1s, warmup: 200ms}
scenarios:
  - name: solo
    traffic: tcp_rr
    expect: {transactions_per_s: "> 10"}
  - name: rr
    traffic: tcp_rr
    duration: 500ms
    matrix: {request_size: [64, 1024], in_flight: [1, 4]}
    expect: {latency_p99: "< 1ns"}
  - name: stream
    traffic: tcp_stream
    duration: 500ms
  - name: knee
    traffic: tcp_rr
    flows: 2
    nodelay: true
    search: {rate: [1k/s, 64k/s], slo: {latency_p99: "< 5ms"}, precision: 50%, probe_duration: 300ms, max_probes: 4}
  - name: rr-via
    traffic: tcp_rr
    duration: 500ms
    via: [hop]
    compare_direct: true
  - name: mix
    duration: 500ms
    group:
      - {name: bulk, traffic: tcp_stream}
      - {name: probe, traffic: tcp_rr, rate: 200/s}
    compare_idle: true
"""

SOLO = """version: 1
name: browser-test-baseline
hosts: {me: {}}
defaults: {client: me, server: me, duration: 1s, warmup: 200ms}
scenarios:
  - name: solo
    traffic: tcp_rr
"""

failures = []


def check(cond, what):
    print(('ok   ' if cond else 'FAIL ') + what)
    if not cond:
        failures.append(what)


def run(cmd, timeout, ok_codes=(0,)):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if p.returncode not in ok_codes:
        print(p.stdout[-3000:], p.stderr[-3000:])
        raise SystemExit('%s: exit %d' % (' '.join(cmd[:3]), p.returncode))
    return p


def browse(page, tmp, shot=None):
    """The DOM after the page's scripts ran, chromium's stderr, and the seconds it took."""
    args = [CHROMIUM, '--headless', '--disable-gpu', '--no-sandbox', '--hide-scrollbars',
            '--user-data-dir=' + os.path.join(tmp, 'profile'), '--enable-logging=stderr', '--v=0',
            '--window-size=1280,2400']
    args += ['--screenshot=' + shot] if shot else ['--dump-dom']
    t0 = time.monotonic()
    p = subprocess.run(args + ['file://' + os.path.abspath(page)], capture_output=True, text=True, timeout=120)
    return p.stdout, p.stderr, time.monotonic() - t0


def attr(dom, name):
    m = re.search(r'<html[^>]*\s%s="([^"]*)"' % name, dom)
    return m.group(1) if m else None


def console_errors(stderr):
    return [l for l in stderr.splitlines()
            if 'CONSOLE' in l and ('Uncaught' in l or 'Refused' in l or 'Error' in l)]


def expected_charts(doc):
    """What the results call for, derived here from results.json, not from the page."""
    want = set()
    for k, i in enumerate(doc['instances']):
        if i['status'] not in ('ok', 'expect_failed'):
            continue
        if any(r.get('client', {}).get('samples') for r in i['repeats']):  # a group's repeats have none
            want.add('timeseries:%d' % k)
        if i['aggregate'].get('latency_histogram', {}).get('count', 0) > 0:
            want.add('percentiles:%d' % k)
        if 'client_cpu_s' in i['aggregate']['metrics'] or i.get('group', {}).get('hosts'):
            want.add('cpu:%d' % k)
        if i.get('search', {}).get('probes'):
            want.add('search:%d' % k)
        if i.get('hops'):
            want.update({'via:%d' % k, 'hops:%d' % k})
        g = i.get('group')
        if g:
            want.add('group-members:%d' % k)
            if any(r.get('client', {}).get('samples') for m in g['members'] for r in m['repeats']):
                want.add('group-stack:%d' % k)
            if g.get('idle'):
                want.add('group-inflation:%d' % k)
    return want


def matrix_axes(doc):
    """Charts of the matrix: per scenario with instances, each axis that takes several values."""
    n = 0
    scen = {}
    for i in doc['instances']:
        scen.setdefault(i['scenario'], []).append(i['parameters'])
    for ps in scen.values():
        if len(ps) > 1:
            n += sum(1 for k in ps[0] if len({p.get(k) for p in ps}) > 1)
    return n


def blank_check(png):
    from PIL import Image, ImageStat
    img = Image.open(png).convert('L')
    var = ImageStat.Stat(img).var[0]
    # A white page with a line of text has a variance near 10; charts and tables give hundreds.
    check(var > 200, 'screenshot %s is not blank (pixel variance %.0f > 200)' % (png, var))


def open_report(page, tmp, doc, what, shot=None):
    dom, err, secs = browse(page, tmp)
    check(attr(dom, 'data-kp-done') == '1', what + ': the page script ran to its end')
    check(attr(dom, 'data-kp-errors') == '0', what + ': no script error (page count %s)' % attr(dom, 'data-kp-errors'))
    bad = console_errors(err)
    check(not bad, what + ': no error in chromium console %s' % bad[:3])
    drawn = set((attr(dom, 'data-kp-charts') or '').split())
    if doc is not None:
        want = expected_charts(doc)
        check(want <= drawn, what + ': every instance chart drawn (%d wanted, missing %s)' % (len(want), sorted(want - drawn)[:5]))
        m = sum(1 for c in drawn if c.startswith('matrix:'))
        check(m == matrix_axes(doc), what + ': %d matrix charts drawn, %d axes in the results' % (m, matrix_axes(doc)))
    if shot:
        browse(page, tmp, shot)
        blank_check(shot)
    return dom, drawn, secs


def main():
    args = sys.argv[1:]
    if not args:
        raise SystemExit(__doc__)
    binary = args[0]
    keep = args[args.index('--keep') + 1] if '--keep' in args else None
    if not CHROMIUM:
        print('SKIP: chromium not installed (scripts/install-deps installs it)')
        return 77
    try:
        import PIL  # noqa: F401
    except ImportError:
        print('SKIP: python3-pil not installed (scripts/install-deps installs it)')
        return 77
    tmp = keep or tempfile.mkdtemp(prefix='kp-browser-')
    os.makedirs(tmp, exist_ok=True)
    try:
        plan = os.path.join(tmp, 'plan.yaml')
        open(plan, 'w').write(PLAN)
        out = os.path.join(tmp, 'out')
        # exit 1: the failed expectations
        run([binary, 'run', plan, '-o', out], 240, ok_codes=(1,))
        doc = json.load(open(os.path.join(out, 'results.json')))
        page = os.path.join(out, 'report.html')
        check(os.path.exists(page), 'run wrote report.html beside results.json')
        html = open(page).read()
        check("default-src 'none'" in html and 'Content-Security-Policy' in html, 'CSP meta tag forbids loads')
        check(not re.search(r'(src|href)="(https?:)?//', html), 'no external reference in the page')
        shot = args[args.index('--screenshot') + 1] if '--screenshot' in args else os.path.join(tmp, 'report.png')
        dom, drawn, _ = open_report(page, tmp, doc, 'run report', shot)
        check(any(c.startswith('search:') for c in drawn), 'search chart drawn')
        check(any(c.startswith('via:') for c in drawn), 'via chart drawn')
        check('latency_p99 &lt; 1ns' in dom and 'FAIL' in dom, 'the failed expectation is shown')
        check(dom.count('<tr class="member') == 2, 'the group\'s two members are listed under it')

        # A baseline whose figures are far better (1000x: beyond any loopback noise between two
        # runs on a shared machine): the new run regresses against it.
        base = copy.deepcopy(doc)
        for i in base['instances']:
            for name, m in i['aggregate']['metrics'].items():
                if name in ('transactions_per_s', 'throughput_bps'):
                    m['value'] *= 1000
                    m['mean'] *= 1000
                    m['ci95'] = None
        base_file = os.path.join(tmp, 'base.json')
        json.dump(base, open(base_file, 'w'))
        solo = os.path.join(tmp, 'solo.yaml')
        open(solo, 'w').write(SOLO)
        out2 = os.path.join(tmp, 'out2')
        run([binary, 'run', solo, '-o', out2, '--baseline', base_file], 120, ok_codes=(1,))
        dom2, drawn2, _ = open_report(os.path.join(out2, 'report.html'), tmp,
                                      json.load(open(os.path.join(out2, 'results.json'))), 'run --baseline report')
        check('v-regression' in dom2, 'run --baseline: the regression row is in the report')
        check(any(c.startswith('baseline:') for c in drawn2), 'run --baseline: base-against-new chart drawn')
        reg = os.path.join(tmp, 'regression.html')
        run([binary, 'report', out, '--baseline', base_file, '-o', reg], 60)
        dom3, drawn3, _ = open_report(reg, tmp, doc, 'report --baseline', os.path.join(tmp, 'regression.png'))
        check(dom3.count('class="v-regression"') >= 5, 'report --baseline: regressions coloured')
        check(sum(1 for c in drawn3 if c.startswith('baseline:')) >= 2, 'report --baseline: a chart per metric')

        # 1,000 instances: under 20 MB, opens in under 10 s.
        big = copy.deepcopy(doc)
        src = [i for i in doc['instances'] if i['status'] in ('ok', 'expect_failed')]
        big['instances'] = []
        for n in range(1000):
            i = copy.deepcopy(src[n % len(src)])
            i['id'] = '%s#%d' % (i['id'], n)
            i['parameters'] = dict(i['parameters'], copy=str(n // len(src)))
            big['instances'].append(i)
        big_file = os.path.join(tmp, 'big.json')
        json.dump(big, open(big_file, 'w'))
        big_page = os.path.join(tmp, 'big.html')
        run([binary, 'report', big_file, '-o', big_page], 120)
        size = os.path.getsize(big_page)
        check(size < 20e6, '1,000 instances: %.1f MB < 20 MB' % (size / 1e6))
        dom4, drawn4, secs = open_report(big_page, tmp, None, '1,000 instances')
        check(secs < 10, '1,000 instances: opened in %.1f s < 10 s' % secs)
        check(attr(dom4, 'data-kp-pending') is not None and int(attr(dom4, 'data-kp-pending')) > 0,
              '1,000 instances: closed sections wait to be opened (pending %s)' % attr(dom4, 'data-kp-pending'))
        check(len(drawn4) > 40, '1,000 instances: the open sections drew %d charts' % len(drawn4))
    finally:
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)
    print('%d failure(s)' % len(failures))
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
