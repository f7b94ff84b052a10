// report.html's charts (src/runner/report/html.cpp embeds this file and Chart.js). The data is
// the JSON block #kp-data; tables are already in the page. Each instance's record is handed to
// every renderer that applies to what it holds, so a new kind of record (e.g. groups) is one more
// renderer and unknown fields are ignored. What was drawn is recorded on <html> for the tests:
// data-kp-charts (one "kind:instance" per chart), data-kp-pending (closed instances not drawn
// yet), data-kp-errors (script errors seen) and data-kp-done once the first pass is over.
'use strict';
(function () {
  const root = document.documentElement;
  let errors = 0;
  const drawn = [];
  const noteError = (e) => { errors++; root.dataset.kpErrors = String(errors); console.error(e); };
  window.addEventListener('error', (e) => noteError(e.message));
  // A blocked load or inline code (Content-Security-Policy) is an error too.
  document.addEventListener('securitypolicyviolation', (e) => noteError('CSP: ' + e.violatedDirective + ' ' + e.blockedURI));
  root.dataset.kpErrors = '0';

  const data = JSON.parse(document.getElementById('kp-data').textContent);
  Chart.defaults.animation = false;
  Chart.defaults.maintainAspectRatio = false;
  Chart.defaults.font.size = 11;
  const palette = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];

  // Chart labels: the terminal's rules (runner/plan/human.hpp) without its trailing zeros, which
  // clutter axis ticks: 9.41G, 52.1k, 850.
  function human(v) {
    if (v === null || v === undefined || !isFinite(v)) return '-';
    const a = Math.abs(v);
    if (a >= 1e9) return +(v / 1e9).toPrecision(3) + 'G';
    if (a >= 1e6) return +(v / 1e6).toPrecision(3) + 'M';
    if (a >= 1e4) return +(v / 1e3).toPrecision(3) + 'k';
    if (a >= 1 || a === 0) return String(+v.toPrecision(4));
    return String(+v.toPrecision(3));
  }
  // A latency in µs in the unit that fits, as human_us prints it but without trailing zeros.
  function latency(us) {
    if (us === null || !isFinite(us)) return '-';
    let v = us * 1e3, u = 0;
    const units = ['ns', 'us', 'ms', 's'];
    while (u + 1 < units.length && Math.abs(v) >= 999.95) { v /= 1e3; u++; }
    return +v.toPrecision(4) + ' ' + units[u];
  }
  // Log axes: label only 1, 2 and 5 times a power of ten.
  const logTick = (f) => (v) => {
    if (!(v > 0)) return '';
    const m = v / Math.pow(10, Math.floor(Math.log10(v) + 1e-9));
    return [1, 2, 5].some((x) => Math.abs(m - x) < 1e-6) ? f(v) : '';
  };
  const nines = (x) => x <= 0 ? '0%' : String(+(100 * (1 - Math.pow(10, -x))).toPrecision(Math.max(2, Math.ceil(x) + 1))) + '%';
  const axis = (title, extra) => Object.assign({ title: { display: true, text: title } }, extra || {});

  function chart(holder, kind, index, title, config) {
    const box = document.createElement('div');
    box.className = 'chart';
    box.dataset.chart = kind;
    const canvas = document.createElement('canvas');
    box.appendChild(canvas);
    holder.appendChild(box);
    config.options = config.options || {};
    config.options.plugins = Object.assign({ title: { display: true, text: title } }, config.options.plugins || {});
    try {
      new Chart(canvas, config);
      box.dataset.drawn = '1';
      drawn.push(kind + ':' + index);
    } catch (e) {
      noteError(e);
    }
  }

  // Error bars (95% CI) on bar charts: dataset.whiskers[i] = [low, high].
  const whiskers = {
    id: 'kpWhiskers',
    afterDatasetsDraw(c) {
      const ctx = c.ctx;
      c.data.datasets.forEach((ds, di) => {
        if (!ds.whiskers) return;
        const meta = c.getDatasetMeta(di);
        meta.data.forEach((bar, i) => {
          const w = ds.whiskers[i];
          if (!w) return;
          const y = c.scales[meta.yAxisID];
          const lo = y.getPixelForValue(w[0]), hi = y.getPixelForValue(w[1]);
          ctx.save();
          ctx.strokeStyle = '#222';
          ctx.lineWidth = 1.2;
          ctx.beginPath();
          ctx.moveTo(bar.x, lo); ctx.lineTo(bar.x, hi);
          ctx.moveTo(bar.x - 5, lo); ctx.lineTo(bar.x + 5, lo);
          ctx.moveTo(bar.x - 5, hi); ctx.lineTo(bar.x + 5, hi);
          ctx.stroke();
          ctx.restore();
        });
      });
    },
  };

  const renderers = [
    { // throughput or transactions per second, latency p50/p99 per second on the second axis
      kind: 'timeseries',
      applies: (i) => Array.isArray(i.series) && i.series.length > 0,
      draw(i, holder, k) {
        const sets = [];
        let latencyShown = false;
        i.series.forEach((s, r) => {
          const c = palette[r % palette.length];
          const pts = (ys) => s.t.map((t, j) => ({ x: t, y: ys[j] }));
          const tag = i.series.length > 1 ? ' (repeat ' + s.repeat + ')' : '';
          sets.push({ label: i.rate_label.split(' [')[0] + tag, data: pts(s.rate), borderColor: c, backgroundColor: c, yAxisID: 'y', pointRadius: 3 });
          if (s.p50) {
            latencyShown = true;
            sets.push({ label: 'p50' + tag, data: pts(s.p50), borderColor: c, borderDash: [2, 2], yAxisID: 'lat', pointRadius: 1 });
            sets.push({ label: 'p99' + tag, data: pts(s.p99), borderColor: c, borderDash: [6, 3], yAxisID: 'lat', pointRadius: 1 });
          }
        });
        const scales = {
          x: axis('time in window [s]', { type: 'linear', min: 0 }),
          y: axis(i.rate_label, { beginAtZero: true, ticks: { callback: human } }),
        };
        if (latencyShown) scales.lat = axis('latency per second [µs]', { position: 'right', beginAtZero: true, grid: { drawOnChartArea: false } });
        chart(holder, 'timeseries', k, 'per second', { type: 'line', data: { datasets: sets }, options: { scales, parsing: true } });
      },
    },
    { // latency percentile distribution from the merged histogram, x on the "nines" scale
      kind: 'percentiles',
      applies: (i) => Array.isArray(i.pct) && i.pct.length > 1,
      draw(i, holder, k) {
        const sets = [{ label: i.via ? 'through the chain' : 'latency', data: i.pct.map((p) => ({ x: p[0], y: p[1] })), borderColor: palette[0], pointRadius: 0 }];
        if (i.via && Array.isArray(i.via.direct_pct) && i.via.direct_pct.length > 1)
          sets.push({ label: 'direct', data: i.via.direct_pct.map((p) => ({ x: p[0], y: p[1] })), borderColor: palette[2], pointRadius: 0 });
        chart(holder, 'percentiles', k, 'latency by percentile (merged histogram)', {
          type: 'line', data: { datasets: sets },
          options: { scales: {
            x: axis('percentile', { type: 'linear', min: 0, max: Math.max(...sets.map((d) => d.data[d.data.length - 1].x)), ticks: { stepSize: 1, callback: nines, maxRotation: 0 },
              afterBuildTicks: (a) => { a.ticks = a.ticks.filter((t) => Math.abs(t.value - Math.round(t.value)) < 1e-9); } }),
            y: axis('latency [µs]', { type: 'logarithmic', ticks: { callback: logTick(latency), autoSkip: false } }),
          }, plugins: { tooltip: { callbacks: { label: (c) => nines(c.parsed.x) + ': ' + latency(c.parsed.y) } } } },
        });
      },
    },
    { // CPU seconds per host and service demand
      kind: 'cpu',
      applies: (i) => Array.isArray(i.cpu) && i.cpu.length > 0,
      draw(i, holder, k) {
        const labels = i.cpu.map((c) => c.host + ' (' + c.role + ')');
        chart(holder, 'cpu', k, 'CPU per host', {
          type: 'bar',
          data: { labels, datasets: [
            { label: 'busy CPU [s]', data: i.cpu.map((c) => c.cpu_s), backgroundColor: palette[0], yAxisID: 'y' },
            { label: 'service demand [' + (i.demand_unit || '') + ']', data: i.cpu.map((c) => c.demand), backgroundColor: palette[3], yAxisID: 'sd' },
          ] },
          options: { scales: {
            y: axis('busy CPU over the window [s]', { beginAtZero: true }),
            sd: axis('service demand [' + (i.demand_unit || '') + ']', { position: 'right', beginAtZero: true, grid: { drawOnChartArea: false } }),
          } },
        });
      },
    },
    { // search: offered rate against the SLO metric and against the achieved rate; SLO line, peak, bracket
      kind: 'search',
      applies: (i) => i.search && Array.isArray(i.search.probes) && i.search.probes.length > 0,
      draw(i, holder, k) {
        const s = i.search;
        const probes = s.probes.slice().sort((a, b) => a.offered - b.offered);
        const xs = probes.map((p) => p.offered);
        const lo = Math.min(...xs) / 1.5, hi = Math.max(...xs) * 1.5;
        const unit = s.slo && s.slo.unit ? s.slo.unit : '';
        const metricName = s.slo ? s.slo.metric : 'SLO metric';
        const sets = [
          { label: metricName, data: probes.map((p) => ({ x: p.offered, y: p.measured })), borderColor: palette[1], yAxisID: 'm',
            pointBackgroundColor: probes.map((p) => p.passed ? '#2ca02c' : '#d62728'), pointRadius: 4 },
          { label: 'achieved [1/s]', data: probes.map((p) => ({ x: p.offered, y: p.achieved })), borderColor: palette[0], yAxisID: 'y', pointRadius: 2 },
        ];
        if (s.slo && typeof s.slo.bound === 'number')
          sets.push({ label: 'SLO ' + s.slo.text, data: [{ x: lo, y: s.slo.bound }, { x: hi, y: s.slo.bound }], borderColor: '#d62728', borderDash: [6, 4], yAxisID: 'm', pointRadius: 0 });
        const ys = probes.map((p) => p.achieved).concat(xs);
        const top = Math.max(...ys) * 1.1;
        const vline = (label, x, color, dash) => sets.push({ label, data: [{ x, y: 0 }, { x, y: top }], borderColor: color, borderDash: dash, yAxisID: 'y', pointRadius: 0 });
        if (typeof s.peak === 'number') vline('peak ' + human(s.peak) + '/s', s.peak, '#2ca02c', []);
        if (Array.isArray(s.bracket)) s.bracket.forEach((b, j) => { if (typeof b === 'number' && b !== s.peak) vline(j ? 'first fail' : 'last pass', b, '#888', [3, 3]); });
        chart(holder, 'search', k, 'load–latency curve (' + s.outcome + ')', {
          type: 'line', data: { datasets: sets },
          options: { scales: {
            x: axis('offered rate [1/s]', { type: 'logarithmic', min: lo, max: hi, ticks: { callback: logTick(human), autoSkip: false, maxRotation: 0 } }),
            y: axis('achieved rate [1/s]', { beginAtZero: true, max: top, ticks: { callback: human } }),
            m: axis(metricName + (unit ? ' [' + unit + ']' : ''), { position: 'right', beginAtZero: true, grid: { drawOnChartArea: false } }),
          } },
        });
      },
    },
    { // via: latency direct and through the chain, and the hops' CPU
      kind: 'via',
      applies: (i) => i.via && Array.isArray(i.via.hops),
      draw(i, holder, k) {
        const v = i.via;
        const sets = [{ label: 'through the chain', data: [v.chain.p50, v.chain.p99], backgroundColor: palette[0] }];
        if (v.direct) sets.push({ label: 'direct', data: [v.direct.p50, v.direct.p99], backgroundColor: palette[2] });
        chart(holder, 'via', k, 'latency direct and through the chain', {
          type: 'bar', data: { labels: ['p50', 'p99'], datasets: sets },
          options: { scales: { x: axis('percentile'), y: axis('latency [µs]', { beginAtZero: true }) } },
        });
        chart(holder, 'hops', k, 'hop CPU', {
          type: 'bar',
          data: { labels: v.hops.map((h) => h.host), datasets: [
            { label: 'host busy CPU [s]', data: v.hops.map((h) => h.cpu_s), backgroundColor: palette[3] },
            { label: 'forwarder process CPU [s]', data: v.hops.map((h) => h.process_cpu_s), backgroundColor: palette[4] },
          ] },
          options: { scales: { x: axis('hop'), y: axis('CPU over the window [s]', { beginAtZero: true }) } },
        });
      },
    },
    { // a group: its members per second, stacked; each member's headline and the fairness; latency inflation
      kind: 'group',
      applies: (i) => i.group && Array.isArray(i.group.members) && i.group.members.length > 0,
      draw(i, holder, k) {
        const g = i.group;
        const name = (m) => m.id.split('/').pop();
        const isStream = (m) => typeof m.rate_label === 'string' && m.rate_label.startsWith('throughput');
        const withSeries = g.members.filter((m) => Array.isArray(m.series) && m.series.length > 0);
        // Stack what adds up: the stream members' goodput, else (no streams) the transactions.
        const streams = withSeries.filter(isStream);
        const stacked = streams.length ? streams : withSeries;
        if (stacked.length) {
          const sets = stacked.map((m, j) => {
            const c = palette[j % palette.length], s = m.series[0];
            return { label: name(m), data: s.t.map((t, n) => ({ x: t, y: s.rate[n] })), borderColor: c,
                     backgroundColor: c + '66', fill: j ? '-1' : 'origin', pointRadius: 0 };
          });
          chart(holder, 'group-stack', k, 'members per second, stacked (repeat ' + stacked[0].series[0].repeat + ')', {
            type: 'line', data: { datasets: sets },
            options: { scales: {
              x: axis('time in window [s]', { type: 'linear', min: 0 }),
              y: axis(stacked[0].rate_label, { stacked: true, beginAtZero: true, ticks: { callback: human } }),
            } },
          });
        }
        const labels = g.members.map(name);
        const value = (m) => (m.headline && typeof m.headline.value === 'number' ? m.headline.value : null);
        const sets = [{ label: 'goodput [bit/s]', data: g.members.map((m) => (isStream(m) ? value(m) : null)), backgroundColor: palette[0], yAxisID: 'y' }];
        if (g.members.some((m) => !isStream(m)))
          sets.push({ label: 'transactions [1/s]', data: g.members.map((m) => (isStream(m) ? null : value(m))), backgroundColor: palette[3], yAxisID: 'tx' });
        const fair = typeof g.fairness === 'number' ? ', fairness ' + g.fairness.toFixed(3) : '';
        const scales = { x: axis('member'), y: axis('goodput [bit/s]', { beginAtZero: true, ticks: { callback: human } }) };
        if (sets.length > 1) scales.tx = axis('transactions [1/s]', { position: 'right', beginAtZero: true, grid: { drawOnChartArea: false }, ticks: { callback: human } });
        chart(holder, 'group-members', k, 'members' + fair, { type: 'bar', data: { labels, datasets: sets }, options: { scales } });
        if (Array.isArray(g.idle) && g.idle.length > 0)
          chart(holder, 'group-inflation', k, 'latency inflation under load (loaded minus alone)', {
            type: 'bar',
            data: { labels: g.idle.map((x) => x.member), datasets: [
              { label: 'p50', data: g.idle.map((x) => x.p50_inflation_us), backgroundColor: palette[2] },
              { label: 'p99', data: g.idle.map((x) => x.p99_inflation_us), backgroundColor: palette[1] },
            ] },
            options: { scales: { x: axis('latency member'), y: axis('inflation [µs]', { ticks: { callback: (v) => latency(v) } }) } },
          });
      },
    },
  ];

  function drawInstance(section) {
    if (section.dataset.rendered) return;
    section.dataset.rendered = '1';
    const k = Number(section.dataset.index);
    const inst = data.instances[k];
    const holder = section.querySelector('.charts');
    if (!inst || !holder) return;
    for (const r of renderers) {
      try {
        if (r.applies(inst)) r.draw(inst, holder, k);
      } catch (e) {
        noteError(e);
      }
    }
  }

  function drawMatrix() {
    const holder = document.querySelector('#matrix .charts');
    if (!data.matrix || data.matrix.length === 0) { document.getElementById('matrix').hidden = true; return; }
    data.matrix.forEach((m, k) => {
      const xs = m.lines.flatMap((l) => l.points.map((p) => p[0]));
      const wide = Math.min(...xs) > 0 && Math.max(...xs) / Math.min(...xs) >= 16;
      chart(holder, 'matrix', k, m.scenario + ': ' + m.metric + ' against ' + m.axis, {
        type: 'line',
        data: { datasets: m.lines.map((l, j) => ({ label: l.label, data: l.points.map((p) => ({ x: p[0], y: p[1] })), borderColor: palette[j % palette.length], backgroundColor: palette[j % palette.length] })) },
        options: { scales: {
          x: axis(m.axis + (m.axis_unit ? ' [' + m.axis_unit + ']' : ''), { type: wide ? 'logarithmic' : 'linear', ticks: wide ? { callback: logTick(human), autoSkip: false, maxRotation: 0 } : { callback: human } }),
          y: axis(m.metric + ' [' + m.unit + ']', { beginAtZero: true, ticks: { callback: human } }),
        } },
      });
    });
  }

  const verdictColor = { REGRESSION: '#d62728', improved: '#2ca02c', 'within CI': '#ffb300', ok: '#9e9e9e' };
  function drawBaseline() {
    const b = data.baseline;
    const holder = document.getElementById('baseline-charts');
    if (!b || !holder || !Array.isArray(b.rows)) return;
    const byMetric = new Map();
    b.rows.forEach((r) => { if (!byMetric.has(r.metric)) byMetric.set(r.metric, []); byMetric.get(r.metric).push(r); });
    let k = 0;
    for (const [metric, rows] of byMetric) {
      chart(holder, 'baseline', k++, metric + ': base against new (95% CI)', {
        type: 'bar',
        data: { labels: rows.map((r) => r.instance), datasets: [
          { label: 'base', data: rows.map((r) => r.base), backgroundColor: '#bdbdbd', whiskers: rows.map((r) => r.base_ci95) },
          { label: 'new (coloured by verdict)', data: rows.map((r) => r.new), backgroundColor: rows.map((r) => verdictColor[r.verdict] || '#607d8b'), whiskers: rows.map((r) => r.new_ci95) },
        ] },
        options: { scales: { x: axis('instance'), y: axis(metric + (data.units && data.units[metric] ? ' [' + data.units[metric] + ']' : ''), { beginAtZero: true, ticks: { callback: human } }) } },
        plugins: [whiskers],
      });
    }
  }

  function pending() {
    return String(document.querySelectorAll('details.instance:not([data-rendered])').length);
  }
  try {
    drawBaseline();
    drawMatrix();
    document.querySelectorAll('details.instance').forEach((d) => {
      if (d.open) drawInstance(d);
      d.addEventListener('toggle', () => {
        if (d.open) { drawInstance(d); root.dataset.kpCharts = drawn.join(' '); root.dataset.kpPending = pending(); }
      });
    });
  } catch (e) {
    noteError(e);
  }
  root.dataset.kpCharts = drawn.join(' ');
  root.dataset.kpPending = pending();
  root.dataset.kpDone = '1';
})();
