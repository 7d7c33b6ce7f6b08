/* skewscope.js: the drawing code of skewscope's two pages, the live page of
 * `skewscope serve` (GET /, with web/page.js fetching serve's JSON) and the
 * self-contained report of `skewscope report` (which inlines this file and
 * its data). Hand-written SVG and DOM, no library: what is drawn here is
 * what both pages show, from the same JSON shapes (see
 * src/output/report_html.h and src/serve/serve_page.h).
 *
 * Sign convention (as everywhere in skewscope): offset = domain clock -
 * reference clock; positive = the domain's clock is ahead. Times in the
 * JSON are ns; timeline times are ns after the trace's base_unix_nano.
 *
 * Every text that comes from the data (domain names, IDs) is set with
 * textContent or as SVG text nodes, never parsed as HTML. */
(function (root) {
  'use strict';

  var SVGNS = 'http://www.w3.org/2000/svg';

  // ---- DOM helpers

  function h(tag, attrs, children) {
    var e = document.createElement(tag);
    setAttrs(e, attrs);
    append(e, children);
    return e;
  }

  function s(tag, attrs, children) {
    var e = document.createElementNS(SVGNS, tag);
    setAttrs(e, attrs);
    append(e, children);
    return e;
  }

  function setAttrs(e, attrs) {
    if (!attrs) return;
    Object.keys(attrs).forEach(function (k) {
      var v = attrs[k];
      if (v === null || v === undefined || v === false) return;
      if (k === 'text') e.textContent = String(v);
      else if (k === 'class') e.setAttribute('class', v);
      else e.setAttribute(k, v === true ? '' : String(v));
    });
  }

  function append(e, children) {
    if (children === null || children === undefined) return;
    if (!Array.isArray(children)) children = [children];
    children.forEach(function (c) {
      if (c === null || c === undefined || c === false) return;
      e.appendChild(typeof c === 'object' ? c : document.createTextNode(String(c)));
    });
  }

  function clear(e) {
    while (e.firstChild) e.removeChild(e.firstChild);
    return e;
  }

  function tip(node, str) {
    node.appendChild(s('title', { text: str }));
    return node;
  }

  // ---- numbers as the command-line tables print them

  function fmtMs(ns, digits) {
    if (ns === null || ns === undefined) return 'unbounded';
    var v = ns / 1e6;
    return (v >= 0 ? '+' : '') + v.toFixed(digits === undefined ? 3 : digits) + ' ms';
  }

  function fmtMsPlain(ns, digits) {
    if (ns === null || ns === undefined) return '\u2014';
    return (ns / 1e6).toFixed(digits === undefined ? 3 : digits) + ' ms';
  }

  function fmtPpm(p) {
    if (p === null || p === undefined) return '\u2014';
    return (p >= 0 ? '+' : '') + p.toFixed(2) + ' ppm';
  }

  function fmtPct(r) {
    return (r * 100).toFixed(1) + '%';
  }

  function fmtCount(n) {
    return n === null || n === undefined ? '\u2014' : String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  }

  // Time until a budget runs out: null = never.
  function fmtExhaust(sec) {
    if (sec === null || sec === undefined) return 'never';
    if (sec <= 0) return 'exhausted';
    if (sec < 120) return sec.toFixed(1) + ' s';
    if (sec < 7200) return (sec / 60).toFixed(1) + ' min';
    if (sec < 172800) return (sec / 3600).toFixed(1) + ' h';
    return (sec / 86400).toFixed(1) + ' d';
  }

  function fmtTime(unixNs) {
    if (unixNs === null || unixNs === undefined) return '\u2014';
    var d = new Date(Number(unixNs) / 1e6);
    return isNaN(d.getTime()) ? '\u2014' : d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
  }

  // ---- the domain that stands out

  function median(xs) {
    var a = xs.slice().sort(function (x, y) { return x - y; });
    var n = a.length;
    return n ? (n % 2 ? a[(n - 1) / 2] : (a[n / 2 - 1] + a[n / 2]) / 2) : 0;
  }

  /* The one rule for both pages: among the known, measured domains (at
   * least three; a domain only bounded, fitted false, has no measured
   * offset), the one whose offset lies farthest from the median offset,
   * when it is more than 100 us from it and more than twice as far as any
   * other domain. Returns {node, distance_ns} or null. */
  function standsOut(nodes) {
    var known = (nodes || []).filter(function (n) {
      return n.known && n.fitted !== false && typeof n.offset_ns === 'number';
    });
    if (known.length < 3) return null;
    var m = median(known.map(function (n) { return n.offset_ns; }));
    var d = known.map(function (n) { return { node: n.node, distance_ns: n.offset_ns - m }; });
    d.sort(function (a, b) { return Math.abs(b.distance_ns) - Math.abs(a.distance_ns); });
    var first = Math.abs(d[0].distance_ns), second = Math.abs(d[1].distance_ns);
    return first > 100e3 && first > 2 * second ? d[0] : null;
  }

  // ---- colours per domain, the same in every panel

  var PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#b07aa1', '#76b7b2', '#edc948',
                 '#9c755f', '#e15759', '#bab0ac', '#ff9da7', '#86bcb6', '#8cd17d'];
  var colourOf = {};
  var colourNext = 0;

  function setDomains(names) {
    colourOf = {};
    colourNext = 0;
    names.slice().sort().forEach(domainColour);
  }

  function domainColour(name) {
    if (!Object.prototype.hasOwnProperty.call(colourOf, name))
      colourOf[name] = PALETTE[colourNext++ % PALETTE.length];
    return colourOf[name];
  }

  // ---- scales and ticks

  function linear(d0, d1, r0, r1) {
    var k = d1 === d0 ? 0 : (r1 - r0) / (d1 - d0);
    return function (v) { return r0 + (v - d0) * k; };
  }

  function ticks(lo, hi, n) {
    var span = hi - lo;
    if (!(span > 0)) return [lo];
    var step = Math.pow(10, Math.floor(Math.log10(span / n)));
    var err = span / n / step;
    if (err >= 7.5) step *= 10;
    else if (err >= 3.5) step *= 5;
    else if (err >= 1.5) step *= 2;
    var out = [];
    for (var v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step)
      out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
    return out;
  }

  // ---- the clock picture

  /* The offset range every row shares: offsets, finite bounds and zero. */
  function offsetRange(nodes, history) {
    var lo = 0, hi = 0;
    function take(v) {
      if (typeof v !== 'number') return;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    nodes.forEach(function (n) {
      if (!n.known) return;
      take(n.offset_ns); take(n.lower_ns); take(n.upper_ns);
    });
    (history || []).forEach(function (pt) {
      Object.keys(pt.nodes).forEach(function (k) {
        var v = pt.nodes[k];
        take(v.offset_ns); take(v.lower_ns); take(v.upper_ns);
      });
    });
    var pad = (hi - lo) * 0.06 || 1e6;
    return [lo - pad, hi + pad];
  }

  var IV_W = 250, HI_W = 250, ROW_H = 34;

  /* The proven interval of one domain on the shared axis. */
  function intervalSvg(n, range) {
    var x = linear(range[0], range[1], 6, IV_W - 6);
    var g = s('svg', { width: IV_W, height: ROW_H, class: 'interval' });
    g.appendChild(s('line', { class: 'zero', x1: x(0), x2: x(0), y1: 2, y2: ROW_H - 2 }));
    if (!n.known) {
      g.appendChild(s('text', { x: 8, y: ROW_H / 2 + 4, text: 'not connected to the reference' }));
      return g;
    }
    var lo = typeof n.lower_ns === 'number' ? x(n.lower_ns) : 0;
    var hi = typeof n.upper_ns === 'number' ? x(n.upper_ns) : IV_W;
    var open = n.lower_ns === null || n.upper_ns === null;
    tip(g.appendChild(s('rect', {
      class: 'band' + (open ? ' open' : ''), x: lo, y: ROW_H / 2 - 6,
      width: Math.max(2, hi - lo), height: 12, rx: 2
    })), 'proven bounds: ' + fmtMs(n.lower_ns) + ' \u2026 ' + fmtMs(n.upper_ns));
    if (n.lower_ns === null) g.appendChild(s('text', { x: 1, y: ROW_H / 2 + 4, text: '\u25c0' }));
    if (n.upper_ns === null) g.appendChild(s('text', { x: IV_W - 10, y: ROW_H / 2 + 4, text: '\u25b6' }));
    tip(g.appendChild(s('circle', { class: 'dot', cx: x(n.offset_ns), cy: ROW_H / 2, r: 4.5 })),
        'offset ' + fmtMs(n.offset_ns));
    return g;
  }

  /* One domain's offset and bounds over the windows (history points). */
  function historySvg(name, history, range, trange) {
    var g = s('svg', { width: HI_W, height: ROW_H, class: 'history' });
    var pts = history.filter(function (p) { return p.nodes[name]; });
    var y = linear(range[0], range[1], ROW_H - 3, 3);
    var x = linear(trange[0], trange[1], 6, HI_W - 6);
    g.appendChild(s('line', { class: 'zero', x1: 6, x2: HI_W - 6, y1: y(0), y2: y(0) }));
    if (!pts.length) {
      g.appendChild(s('text', { x: 8, y: ROW_H / 2 + 4, text: 'no windows yet' }));
      return g;
    }
    if (pts.length === 1) {
      // one window so far: its interval as a short bar
      var v1 = pts[0].nodes[name];
      var top = typeof v1.upper_ns === 'number' ? y(v1.upper_ns) : 0;
      var bot = typeof v1.lower_ns === 'number' ? y(v1.lower_ns) : ROW_H;
      g.appendChild(s('rect', { class: 'band', x: x(pts[0].t) - 5, y: top, width: 10, height: Math.max(1, bot - top) }));
      g.appendChild(s('circle', { class: 'dot', cx: x(pts[0].t), cy: y(v1.offset_ns), r: 3 }));
      return g;
    }
    var up = [], down = [], line = [];
    var px = function (p) { return x(p.t); };
    pts.forEach(function (p) {
      var v = p.nodes[name];
      up.push(px(p).toFixed(1) + ',' + (typeof v.upper_ns === 'number' ? y(v.upper_ns) : 0).toFixed(1));
      down.unshift(px(p).toFixed(1) + ',' + (typeof v.lower_ns === 'number' ? y(v.lower_ns) : ROW_H).toFixed(1));
      line.push(px(p).toFixed(1) + ',' + y(v.offset_ns).toFixed(1));
    });
    g.appendChild(s('polygon', { class: 'band', points: up.concat(down).join(' ') }));
    g.appendChild(s('polyline', { class: 'line', points: line.join(' ') }));
    return g;
  }

  function axisSvg(width, lo, hi, fmt, n) {
    var x = linear(lo, hi, 6, width - 6);
    var g = s('svg', { width: width, height: 18, class: 'axis' });
    ticks(lo, hi, n).forEach(function (v) {
      var at = x(v);
      g.appendChild(s('line', { x1: at, x2: at, y1: 14, y2: 18 }));
      g.appendChild(s('text', { x: at, y: 11, text: fmt(v),
        'text-anchor': at < 16 ? 'start' : at > width - 16 ? 'end' : 'middle' }));
    });
    return g;
  }

  /* history: [{t: seconds (any origin), nodes: {name: {offset_ns, lower_ns,
   * upper_ns}}}], ascending t. clock: {reference, consistent, at_unix_nano,
   * nodes: [...]} as /api/v1/status and the report's "clock". */
  function clockPanel(box, clock, history, opts) {
    opts = opts || {};
    clear(box);
    var nodes = (clock && clock.nodes) || [];
    if (!nodes.length) {
      box.appendChild(h('div', { class: 'empty', text: 'No clock domains yet: no edge pairs have been analysed.' }));
      return;
    }
    setDomains(nodes.map(function (n) { return n.node; }));
    var out = standsOut(nodes);
    var range = offsetRange(nodes, history);
    var ts = history.map(function (p) { return p.t; });
    var trange = ts.length ? [Math.min.apply(null, ts), Math.max.apply(null, ts)] : [-10, 0];
    if (trange[1] - trange[0] < 1) trange[0] = trange[1] - 10; // one window so far: at the right
    var sum = h('p', { class: 'note' });
    append(sum, ['Reference clock ', h('b', { text: clock.reference || '\u2014' }),
      ' (offset = domain clock \u2212 reference clock; positive = ahead). ',
      clock.consistent ? 'The constraints are consistent. ' :
        h('b', { class: 'bad', text: 'The constraints are INCONSISTENT (a clock step, a wrong domain mapping or broken instrumentation): bounds are not shown. ' }),
      'Offsets at ' + fmtTime(clock.at_unix_nano) + '.']);
    box.appendChild(sum);
    if (out) {
      box.appendChild(h('p', { class: 'note', 'data-outlier': out.node }, [
        h('span', { class: 'tag outlier', text: 'stands out' }), ' ',
        h('b', { text: out.node }), ' is ' + fmtMs(out.distance_ns) +
          ' from the median of the clocks, more than twice as far as any other.']));
    }
    var table = h('table', { class: 'grid clocks' });
    var head = h('tr', null, [h('th', { text: 'Domain' }), h('th', { class: 'num', text: 'Offset' }),
      h('th', { class: 'num', text: 'Lower bound' }), h('th', { class: 'num', text: 'Upper bound' }),
      h('th', null, [h('div', { text: 'Offset and proven bounds, ms' }),
        axisSvg(IV_W, range[0], range[1], function (v) { return (v / 1e6).toFixed(Math.abs(range[1] - range[0]) < 4e6 ? 1 : 0); }, 5)]),
      h('th', null, [h('div', { text: opts.historyTitle || 'Over the windows' }),
        axisSvg(HI_W, trange[0], trange[1], opts.timeFmt || function (v) { return v.toFixed(0) + ' s'; }, 3)]),
      h('th', { class: 'num', text: 'Drift' }), h('th', { class: 'num', text: 'Pairs' })]);
    table.appendChild(h('thead', null, head));
    var body = h('tbody');
    nodes.forEach(function (n) {
      var isOut = out && out.node === n.node;
      var isRef = clock.reference === n.node;
      var tr = h('tr', {
        class: (isOut ? 'outlier' : '') + (isRef ? ' reference' : ''),
        'data-node': n.node,
        'data-offset-ns': n.known ? n.offset_ns : null
      });
      append(tr, [
        h('td', { class: 'name' }, [n.node, isRef ? h('span', { class: 'tag', text: 'reference' }) : null,
          isOut ? h('span', { class: 'tag outlier', text: 'stands out' }) : null]),
        h('td', { class: 'num offset', text: n.known ? fmtMs(n.offset_ns) : '\u2014' }),
        h('td', { class: 'num lower', text: n.known ? fmtMs(n.lower_ns) : '\u2014' }),
        h('td', { class: 'num upper', text: n.known ? fmtMs(n.upper_ns) : '\u2014' }),
        h('td', { class: 'chart' }, intervalSvg(n, range)),
        h('td', { class: 'chart' }, historySvg(n.node, history, range, trange)),
        h('td', { class: 'num drift', text: fmtPpm(n.drift_ppm) }),
        h('td', { class: 'num pairs', text: fmtCount(n.pairs) })
      ]);
      body.appendChild(tr);
    });
    table.appendChild(body);
    box.appendChild(h('div', { class: 'scroll' }, table));
  }

  /* A report's estimate tracks (per node, per window) as history points. */
  function historyFromTracks(nodes) {
    var byT = {};
    nodes.forEach(function (n) {
      (n.track || []).forEach(function (p) {
        var t = Number(p.at_unix_nano) / 1e9;
        var k = String(p.at_unix_nano);
        if (!byT[k]) byT[k] = { t: t, nodes: {} };
        byT[k].nodes[n.node] = p;
      });
    });
    var pts = Object.keys(byT).map(function (k) { return byT[k]; });
    pts.sort(function (a, b) { return a.t - b.t; });
    var t0 = pts.length ? pts[0].t : 0;
    pts.forEach(function (p) { p.t -= t0; });
    return pts;
  }

  /* /api/v1/history's snapshots as history points, t in s before the
   * newest (negative). */
  function historyFromSnapshots(snaps) {
    var pts = (snaps || []).map(function (sn) {
      var nodes = {};
      (sn.nodes || []).forEach(function (n) { if (n.known) nodes[n.node] = n; });
      return { t: Number(sn.at_unix_nano) / 1e9, nodes: nodes };
    });
    pts.sort(function (a, b) { return a.t - b.t; });
    var t1 = pts.length ? pts[pts.length - 1].t : 0;
    pts.forEach(function (p) { p.t -= t1; });
    return pts;
  }

  // ---- the edges

  function urgencyOrder(a, b) {
    var ua = a.skew_budget_ns === null || a.skew_budget_ns === undefined ? -1 : a.budget_used_ratio;
    var ub = b.skew_budget_ns === null || b.skew_budget_ns === undefined ? -1 : b.budget_used_ratio;
    if (ua !== ub) return ub - ua;
    if (a.violations !== b.violations) return b.violations - a.violations;
    var ea = a.exhausts_in_s === null || a.exhausts_in_s === undefined ? Infinity : a.exhausts_in_s;
    var eb = b.exhausts_in_s === null || b.exhausts_in_s === undefined ? Infinity : b.exhausts_in_s;
    if (ea !== eb) return ea < eb ? -1 : 1;
    return (a.from + '\u0000' + a.to) < (b.from + '\u0000' + b.to) ? -1 : 1;
  }

  function budgetCell(e, warnShare) {
    if (e.skew_budget_ns === null || e.skew_budget_ns === undefined)
      return h('td', { class: 'used', text: '\u2014' });
    var r = e.budget_used_ratio;
    var cls = r >= 1 ? 'bad' : r > warnShare ? 'warn' : '';
    var fill = h('span');
    fill.style.width = Math.min(100, r * 100).toFixed(1) + '%'; // CSSOM: allowed by the page's CSP
    var bar = h('span', { class: 'bar ' + cls }, fill);
    return h('td', { class: 'used' }, [bar, fmtPct(r)]);
  }

  /* edges: /api/v1/status's or the report's. opts.minSlack: show check's
   * minimum and median slack; opts.warnShare: the warning share (0.5). */
  function edgePanel(box, edges, opts) {
    opts = opts || {};
    var warnShare = opts.warnShare || 0.5;
    clear(box);
    if (!edges || !edges.length) {
      box.appendChild(h('div', { class: 'empty', text: 'No edges yet: no parent/child pairs across clock domains.' }));
      return;
    }
    var rows = edges.slice().sort(urgencyOrder);
    var cols = ['Edge (parent \u2192 child domain)', 'Pairs', 'Violations'];
    if (opts.minSlack) cols.push('Min slack', 'Median slack');
    cols.push('Relative offset', 'Skew budget', 'Budget used', 'Exhausts in', 'Drift');
    var table = h('table', { class: 'grid edges' });
    table.appendChild(h('thead', null, h('tr', null, cols.map(function (c, i) {
      return h('th', { class: i && c !== 'Budget used' ? 'num' : null, text: c });
    }))));
    var body = h('tbody');
    rows.forEach(function (e) {
      var warn = e.warning || (e.skew_budget_ns !== null && e.skew_budget_ns !== undefined &&
                               e.budget_used_ratio > warnShare);
      var tr = h('tr', {
        class: e.violations > 0 ? 'violating' : warn ? 'warning' : '',
        'data-from': e.from, 'data-to': e.to, 'data-violations': e.violations
      });
      var cells = [
        h('td', { class: 'name' }, [e.from, ' \u2192 ', e.to,
          e.violations > 0 ? h('span', { class: 'tag bad', text: 'violations' }) :
            warn ? h('span', { class: 'tag warn', text: 'warning' }) : null]),
        h('td', { class: 'num pairs', text: fmtCount(e.pairs) }),
        h('td', { class: 'num violations', text: fmtCount(e.violations) })
      ];
      if (opts.minSlack)
        cells.push(h('td', { class: 'num', text: fmtMs(e.min_slack_ns) }),
                   h('td', { class: 'num', text: fmtMs(e.median_slack_ns) }));
      cells.push(
        h('td', { class: 'num relative', text: fmtMs(e.relative_offset_ns) }),
        h('td', { class: 'num budget', text: fmtMsPlain(e.skew_budget_ns) }),
        budgetCell(e, warnShare),
        h('td', { class: 'num exhausts', text: e.skew_budget_ns === null || e.skew_budget_ns === undefined ? '\u2014' : fmtExhaust(e.exhausts_in_s) }),
        h('td', { class: 'num drift', text: fmtPpm(e.drift_ppm) }));
      append(tr, cells);
      body.appendChild(tr);
    });
    table.appendChild(body);
    box.appendChild(h('div', { class: 'scroll' }, table));
  }

  /* The warnings as serve logged them (/api/v1/warnings), newest first. */
  function warningsPanel(box, doc) {
    clear(box);
    var list = (doc && doc.warnings) || [];
    if (!list.length) {
      box.appendChild(h('div', { class: 'empty', text: 'No warning logged yet.' }));
      return;
    }
    var table = h('table', { class: 'grid warnings' });
    table.appendChild(h('thead', null, h('tr', null, ['Logged', 'Event', 'Edge', 'Budget used',
      'Skew budget', 'Relative offset', 'Exhausts in', 'New violations'].map(function (c, i) {
      return h('th', { class: i > 2 ? 'num' : null, text: c });
    }))));
    var body = h('tbody');
    list.slice().reverse().forEach(function (w) {
      append(body, h('tr', { class: w.event === 'causality_violations' ? 'violating' : 'warning' }, [
        h('td', { text: fmtTime(w.ts_unix_nano) }),
        h('td', { text: w.event }),
        h('td', { text: w.from + ' \u2192 ' + w.to }),
        h('td', { class: 'num', text: fmtPct(w.budget_used_ratio) }),
        h('td', { class: 'num', text: fmtMsPlain(w.skew_budget_ns) }),
        h('td', { class: 'num', text: fmtMs(w.relative_offset_ns) }),
        h('td', { class: 'num', text: fmtExhaust(w.exhausts_in_s) }),
        h('td', { class: 'num', text: fmtCount(w.new_violations) })
      ]));
    });
    table.appendChild(body);
    if (doc.total > list.length)
      box.appendChild(h('p', { class: 'note', text: 'The last ' + list.length + ' of ' + doc.total + ' logged.' }));
    box.appendChild(h('div', { class: 'scroll' }, table));
  }

  // ---- one trace as a timeline, before and after correction

  /* Rows in tree order: children (by parent ID, else by link) under their
   * parent, siblings by corrected start. */
  function spanRows(spans) {
    var byId = {};
    // a Zipkin shared server half carries its client's ID: the client owns it
    spans.forEach(function (sp, i) { if (!sp.shared && byId[sp.span_id] === undefined) byId[sp.span_id] = i; });
    var kids = spans.map(function () { return []; });
    var parentOf = spans.map(function () { return -1; });
    var roots = [];
    spans.forEach(function (sp, i) {
      var p = -1;
      if (sp.parent_span_id !== null && byId[sp.parent_span_id] !== undefined) p = byId[sp.parent_span_id];
      else if (sp.link_span_id !== null && byId[sp.link_span_id] !== undefined) p = byId[sp.link_span_id];
      if (p < 0 || p === i) roots.push(i);
      else { kids[p].push(i); parentOf[i] = p; }
    });
    var byStart = function (a, b) { return spans[a].corrected_start_ns - spans[b].corrected_start_ns; };
    roots.sort(byStart);
    kids.forEach(function (k) { k.sort(byStart); });
    var rows = [], seen = spans.map(function () { return false; });
    function walk(i, depth) {
      if (seen[i]) return;
      seen[i] = true;
      rows.push({ i: i, depth: depth, parent: parentOf[i] });
      kids[i].forEach(function (k) { walk(k, depth + 1); });
    }
    roots.forEach(function (r) { walk(r, 0); });
    spans.forEach(function (sp, i) { if (!seen[i]) walk(i, 0); }); // cycles
    return rows;
  }

  var KIND_SHORT = { SERVER: 'server', CLIENT: 'client', PRODUCER: 'producer',
                     CONSUMER: 'consumer', INTERNAL: 'internal', UNSPECIFIED: '' };

  /* One side of the timeline: bars at x0..x0+w for rows; corrected picks
   * the corrected times and violation. */
  function drawSide(g, trace, rows, x0, w, top, rowH, corrected) {
    var spans = trace.spans;
    var st = function (sp) { return corrected ? sp.corrected_start_ns : sp.start_ns; };
    var en = function (sp) { return corrected ? sp.corrected_end_ns : sp.end_ns; };
    var lo = Infinity, hi = -Infinity;
    spans.forEach(function (sp) {
      lo = Math.min(lo, st(sp), en(sp));
      hi = Math.max(hi, st(sp), en(sp));
    });
    if (!(hi > lo)) hi = lo + 1e6;
    var x = linear(lo, hi, x0, x0 + w);
    ticks(lo / 1e6, hi / 1e6, 6).forEach(function (v) {
      g.appendChild(s('line', { class: 'axis', x1: x(v * 1e6), x2: x(v * 1e6), y1: top - 4, y2: top + rows.length * rowH }));
      g.appendChild(s('text', { x: x(v * 1e6), y: top - 7, 'text-anchor': 'middle', text: v + ' ms' }));
    });
    var negatives = 0;
    rows.forEach(function (row, r) {
      var sp = spans[row.i];
      var y = top + r * rowH;
      var viol = corrected ? sp.corrected_violation : sp.violation;
      var before = corrected ? sp.corrected_before_parent_ns : sp.before_parent_ns;
      var a = x(st(sp)), b = x(en(sp));
      var bar = s('rect', {
        class: 'span' + (viol ? ' negative' : ''), x: Math.min(a, b), y: y + 3,
        width: Math.max(1.5, Math.abs(b - a)), height: rowH - 6, rx: 1.5,
        fill: domainColour(sp.domain), 'data-span-id': sp.span_id,
        'data-violation': viol || null
      });
      tip(bar, sp.domain + ' ' + (KIND_SHORT[sp.kind] || sp.kind) + ' span ' + sp.span_id +
          '\nstart ' + fmtMsPlain(st(sp)) + ', duration ' + fmtMsPlain(en(sp) - st(sp)) +
          (corrected && sp.mapped ? '\noffset removed ' + fmtMs(sp.offset_ns) : '') +
          (viol ? '\n' + viol.replace(/_/g, ' ') + (before > 0 ? ' by ' + fmtMsPlain(before) : '') : ''));
      g.appendChild(bar);
      if (!viol) return;
      negatives++;
      if (viol === 'starts_before_parent' && row.parent >= 0) {
        // the parent's start, and the stretch the child starts before it
        var ps = x(st(spans[row.parent]));
        g.appendChild(s('line', { class: 'negmark', x1: ps, x2: ps, y1: y, y2: y + rowH }));
        g.appendChild(s('line', { class: 'negmark', x1: a, x2: ps, y1: y + 1.5, y2: y + 1.5 }));
      }
      var label = viol === 'starts_before_parent' ? '\u25c0 ' + fmtMsPlain(before) + ' before its parent'
        : viol === 'ends_after_parent' ? 'ends after its parent' : 'negative duration';
      var lx = Math.max(a, b, row.parent >= 0 ? x(st(spans[row.parent])) : a) + 6;
      var anchor = lx > x0 + w - 150 ? 'end' : 'start';
      g.appendChild(s('text', { class: 'negmark', x: anchor === 'end' ? Math.min(a, b) - 6 : lx,
        y: y + rowH - 4, 'text-anchor': anchor, text: label }));
    });
    return negatives;
  }

  /* trace: report_html_trace_json()'s shape. opts.reference: the
   * reference clock's name for the title. */
  function timelinePanel(box, trace, opts) {
    opts = opts || {};
    clear(box);
    if (!trace) {
      box.appendChild(h('div', { class: 'empty', text: opts.emptyText || 'No trace to show.' }));
      return;
    }
    var rows = spanRows(trace.spans);
    var rowH = 17, top = 46, label = 290;
    var width = Math.max(900, (box.clientWidth || 1100) - 4);
    var gap = 24;
    var w = (width - label - 2 * gap) / 2;
    var height = top + rows.length * rowH + 8;
    var svg = s('svg', { width: width, height: height, class: 'timeline-svg', 'data-trace-id': trace.trace_id });
    rows.forEach(function (row, r) {
      var sp = trace.spans[row.i];
      var y = top + r * rowH;
      var neg = sp.violation || sp.corrected_violation;
      if (r % 2 === 0 || neg)
        svg.appendChild(s('rect', { class: 'rowbg' + (neg ? ' negative' : ''), x: 0, y: y, width: width, height: rowH }));
      var indent = Math.min(row.depth, 12) * 8;
      var name = sp.domain + (KIND_SHORT[sp.kind] ? ' \u00b7 ' + KIND_SHORT[sp.kind] : '');
      var room = Math.max(8, Math.floor((label - 24 - indent) / 6.2));
      svg.appendChild(s('rect', { x: 4 + indent, y: y + 4, width: 9, height: rowH - 8, fill: domainColour(sp.domain) }));
      tip(svg.appendChild(s('text', { class: 'label', x: 17 + indent, y: y + rowH - 5,
        text: name.length > room ? name.slice(0, room - 1) + '\u2026' : name })), name + ' span ' + sp.span_id);
    });
    svg.appendChild(s('text', { class: 'title', x: label, y: 14,
      text: 'As recorded: each span on its own clock (' + trace.violations + ' violating)' }));
    svg.appendChild(s('text', { class: 'title', x: label + w + gap, y: 14,
      text: 'Corrected onto ' + (opts.reference ? opts.reference + '\u2019s' : 'the reference') +
        ' clock (' + trace.corrected_violations + ' violating)' }));
    var nRaw = drawSide(svg, trace, rows, label, w, top, rowH, false);
    var nCor = drawSide(svg, trace, rows, label + w + gap, w, top, rowH, true);
    svg.setAttribute('data-negative-raw', nRaw);
    svg.setAttribute('data-negative-corrected', nCor);
    var domains = [];
    trace.spans.forEach(function (sp) { if (domains.indexOf(sp.domain) < 0) domains.push(sp.domain); });
    domains.sort();
    var legend = h('div', { class: 'legend' }, domains.map(function (d) {
      var i = h('i');
      i.style.background = domainColour(d);
      return h('span', null, [i, d]);
    }));
    legend.appendChild(h('span', null, [h('i', { class: 'neg' }),
      'negative span: starts before its parent (or ends after a synchronous parent)']));
    box.appendChild(legend);
    box.appendChild(h('div', { class: 'scroll' }, svg));
    if (trace.spans_left_out)
      box.appendChild(h('p', { class: 'note', text: trace.spans_left_out + ' more spans of this trace are not drawn.' }));
  }

  function traceHeading(trace, prefix) {
    return h('h3', null, [prefix || 'Trace ', h('code', { text: trace.trace_id }),
      ' \u2014 ' + trace.spans.length + ' spans, ' + trace.violations + ' violating as recorded, ' +
        trace.corrected_violations + ' after correction']);
  }

  // ---- findings (RCA, imbalance detection)

  function findingsPanel(box, doc) {
    clear(box);
    var list = (doc && doc.findings) || [];
    if (!list.length) {
      box.appendChild(h('div', { class: 'empty', text: 'No findings. Root-cause analysis and imbalance detection will list theirs here.' }));
      return;
    }
    list.slice().reverse().forEach(function (f) {
      box.appendChild(h('div', { class: 'finding', 'data-kind': f.kind }, [
        h('div', { class: 'head' }, [f.subject, ' \u2014 ', f.kind, h('span', { class: 'tag', text: f.source })]),
        h('div', { text: f.summary }),
        h('div', { class: 'muted', text: fmtTime(f.time_unix_nano) }),
        f.evidence !== null && f.evidence !== undefined ? h('pre', { text: JSON.stringify(f.evidence, null, 1) }) : null
      ]));
    });
  }

  // ---- the report (its data inlined by `skewscope report`)

  function card(k, v, bad) {
    return h('div', { class: 'card' + (bad ? ' bad' : '') }, [h('div', { class: 'v', text: v }), h('div', { class: 'k', text: k })]);
  }

  function panel(title, sub) {
    var sec = h('section', { class: 'panel' });
    sec.appendChild(h('h2', null, [title, sub ? h('span', { class: 'sub', text: ' \u2014 ' + sub }) : null]));
    return sec;
  }

  function report(data, mount) {
    mount = mount || document.getElementById('report');
    clear(mount);
    document.title = data.title;
    var c = data.check;
    var files = (data.files || []).join(', ');
    mount.appendChild(h('header', { class: 'top' }, [h('h1', { text: data.title }),
      h('span', { class: 'meta' }, ['input ', h('b', { text: files || '\u2014' })]),
      data.generated_unix_nano ? h('span', { class: 'meta', text: 'written ' + fmtTime(data.generated_unix_nano) }) : null]));
    var main = h('main');
    mount.appendChild(main);
    var rate = c.pairs ? ' (' + fmtPct(c.violating_pairs / c.pairs) + ')' : '';
    append(main, h('div', { class: 'cards' }, [card('spans', fmtCount(c.spans)), card('traces', fmtCount(c.traces)),
      card('edge pairs', fmtCount(c.pairs)), card('violating pairs' + rate, fmtCount(c.violating_pairs), c.violating_pairs > 0),
      card('child starts before parent', fmtCount(c.by_kind.starts_before_parent), c.by_kind.starts_before_parent > 0),
      card('child ends after parent', fmtCount(c.by_kind.ends_after_parent), c.by_kind.ends_after_parent > 0),
      card('negative durations', fmtCount(c.by_kind.negative_duration), c.by_kind.negative_duration > 0),
      card('orphans', fmtCount(c.orphans))]));
    var clocks = panel('Clocks', 'every domain\u2019s offset, the bounds the traces prove, and drift');
    var cbox = h('div', { id: 'clocks' });
    clocks.appendChild(cbox);
    main.appendChild(clocks);
    clockPanel(cbox, data.clock, historyFromTracks(data.clock.nodes), {
      historyTitle: 'Over the estimate\u2019s windows',
      timeFmt: function (v) { return '+' + v.toFixed(0) + ' s'; }
    });
    var edges = panel('Edges', 'sorted by urgency: the share of the skew budget used, then violations');
    var ebox = h('div', { id: 'edges' });
    edges.appendChild(h('p', { class: 'note', text: 'Skew budget: the smallest slack of the edge\u2019s pairs once both ends are on the reference clock, i.e. how much relative offset the edge can take before a child starts before its parent. Slack = child start \u2212 parent start, as recorded.' }));
    edges.appendChild(ebox);
    main.appendChild(edges);
    edgePanel(ebox, data.edges, { minSlack: true });
    var traces = panel('Worst traces', 'the traces with the most violations, as recorded and after correction');
    main.appendChild(traces);
    if (!data.traces.length)
      traces.appendChild(h('div', { class: 'empty', text: 'No trace has a violation.' }));
    data.traces.forEach(function (t) {
      var box = h('div', { class: 'timeline', 'data-rank': t.rank });
      traces.appendChild(traceHeading(t, '#' + t.rank + ' trace '));
      traces.appendChild(box);
      timelinePanel(box, t, { reference: data.clock.reference });
    });
    document.body.setAttribute('data-state', 'ready');
  }

  root.Skewscope = {
    h: h, clear: clear, append: append,
    fmtMs: fmtMs, fmtMsPlain: fmtMsPlain, fmtPpm: fmtPpm, fmtPct: fmtPct,
    fmtCount: fmtCount, fmtExhaust: fmtExhaust, fmtTime: fmtTime,
    standsOut: standsOut, urgencyOrder: urgencyOrder,
    clockPanel: clockPanel, edgePanel: edgePanel, warningsPanel: warningsPanel,
    timelinePanel: timelinePanel, traceHeading: traceHeading, findingsPanel: findingsPanel,
    historyFromTracks: historyFromTracks, historyFromSnapshots: historyFromSnapshots,
    report: report
  };
})(window);
