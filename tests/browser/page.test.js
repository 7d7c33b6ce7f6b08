// skewscope's live page and HTML report in a real browser: Debian's
// headless Chromium (/usr/bin/chromium) driven by puppeteer-core. Run by
// tests/cli/part_browser.sh, which starts serve, feeds it with the testbed
// and writes the report first:
//
//   node page.test.js CONFIG.json
//
// CONFIG: {"shots": DIR,
//          "live":   {"url": "http://127.0.0.1:PORT/", "skewed": "node-prefill"},
//          "token":  {"url": ..., "token": "..."},           (serve with a token)
//          "report": {"file": PATH, "estimate": PATH, "skewed": "node-prefill"},
//          "hostile": {"file": PATH, "name": "..."}}         (a report whose domain
//                                                              name is markup)
// Every part is optional. Prints one line per assertion, "ok NAME" or
// "FAIL NAME: detail", and exits 1 when any failed.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const puppeteer = require('puppeteer-core');

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
let failed = 0;

function check(name, cond, detail) {
  if (cond) console.log('ok ' + name);
  else {
    failed++;
    console.log('FAIL ' + name + (detail !== undefined ? ': ' + detail : ''));
  }
}

// The tables' number formats, written independently of web/skewscope.js.
function ms(ns) {
  if (ns === null || ns === undefined) return 'unbounded';
  const v = ns / 1e6;
  return (v >= 0 ? '+' : '') + v.toFixed(3) + ' ms';
}
function ppm(p) { return (p >= 0 ? '+' : '') + p.toFixed(2) + ' ppm'; }
function count(n) { return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ','); }
function pct(r) { return (r * 100).toFixed(1) + '%'; }

async function launch() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'skewscope-chromium-'));
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    userDataDir: dir,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update',
           '--disable-sync', '--disable-default-apps', '--disable-extensions'],
  });
  return { browser, dir };
}

// A page that records console errors, page errors, dialogs, failed
// responses and every URL it asks for.
async function watchedPage(browser, width) {
  const page = await browser.newPage();
  const seen = { errors: [], requests: [], dialogs: [], bad: [] };
  page.on('console', (m) => { if (m.type() === 'error') seen.errors.push(m.text()); });
  page.on('pageerror', (e) => seen.errors.push('pageerror: ' + e.message));
  page.on('request', (r) => seen.requests.push(r.url()));
  page.on('requestfailed', (r) => seen.bad.push(r.url() + ' ' + (r.failure() || {}).errorText));
  page.on('response', (r) => { if (r.status() >= 400) seen.bad.push(r.url() + ' ' + r.status()); });
  page.on('dialog', async (d) => { seen.dialogs.push(d.message()); await d.dismiss(); });
  await page.setViewport({ width: width || 1400, height: 900 });
  return { page, seen };
}

async function getJson(url, token) {
  const r = await fetch(url, { headers: token ? { Authorization: 'Bearer ' + token } : {} });
  if (!r.ok) throw new Error(url + ': HTTP ' + r.status);
  return r.json();
}

// What the page shows: the clock rows and edge rows as text.
async function shown(page) {
  return page.evaluate(() => {
    const txt = (tr, sel) => { const e = tr.querySelector(sel); return e ? e.textContent.trim() : null; };
    const nodes = [...document.querySelectorAll('table.clocks tbody tr')].map((tr) => ({
      node: tr.getAttribute('data-node'), outlier: tr.classList.contains('outlier'),
      offset: txt(tr, 'td.offset'), lower: txt(tr, 'td.lower'), upper: txt(tr, 'td.upper'),
      drift: txt(tr, 'td.drift'), pairs: txt(tr, 'td.pairs'),
    }));
    const edges = [...document.querySelectorAll('table.edges tbody tr')].map((tr) => ({
      from: tr.getAttribute('data-from'), to: tr.getAttribute('data-to'),
      pairs: txt(tr, 'td.pairs'), violations: txt(tr, 'td.violations'),
      relative: txt(tr, 'td.relative'), budget: txt(tr, 'td.budget'), used: txt(tr, 'td.used'),
    }));
    return { nodes, edges };
  });
}

// The figures shown against a status document (or the report's estimate).
function compareClocks(prefix, view, nodes) {
  let bad = [];
  nodes.forEach((n) => {
    const row = view.nodes.find((r) => r.node === n.node);
    if (!row) { bad.push(n.node + ' missing'); return; }
    const want = { offset: ms(n.offset_ns), lower: ms(n.lower_ns), upper: ms(n.upper_ns),
                   drift: ppm(n.drift_ppm), pairs: count(n.pairs) };
    Object.keys(want).forEach((k) => {
      if (row[k] !== want[k]) bad.push(n.node + ' ' + k + ' shows ' + row[k] + ', want ' + want[k]);
    });
  });
  check(prefix + ': every domain shown, figures equal to the JSON', bad.length === 0 &&
        view.nodes.length === nodes.length, bad.join('; ') || view.nodes.length + ' rows');
}

function compareEdges(prefix, view, edges) {
  let bad = [];
  edges.forEach((e) => {
    const row = view.edges.find((r) => r.from === e.from && r.to === e.to);
    if (!row) { bad.push(e.from + '->' + e.to + ' missing'); return; }
    const want = { pairs: count(e.pairs), violations: count(e.violations),
                   relative: ms(e.relative_offset_ns),
                   budget: e.skew_budget_ns === null ? '\u2014' : (e.skew_budget_ns / 1e6).toFixed(3) + ' ms',
                   used: e.skew_budget_ns === null ? '\u2014' : pct(e.budget_used_ratio) };
    Object.keys(want).forEach((k) => {
      if (row[k] !== want[k]) bad.push(e.from + '->' + e.to + ' ' + k + ' shows ' + row[k] + ', want ' + want[k]);
    });
  });
  check(prefix + ': every edge shown, figures equal to the JSON', bad.length === 0 &&
        view.edges.length === edges.length, bad.join('; ') || view.edges.length + ' rows');
  // sorted by urgency: budget share used, descending
  const used = view.edges.map((r) => (r.used === '\u2014' ? -1 : parseFloat(r.used)));
  check(prefix + ': edges sorted by the share of the budget used',
        used.every((u, i) => i === 0 || used[i - 1] >= u), used.join(' '));
}

function sameAnalysis(a, b) {
  return JSON.stringify([a.nodes, a.edges]) === JSON.stringify([b.nodes, b.edges]);
}

function onlyOrigin(prefix, seen, origin) {
  const other = seen.requests.filter((u) => !u.startsWith(origin) && !u.startsWith('data:'));
  check(prefix + ': no request to any other host', other.length === 0, other.join(' '));
  check(prefix + ': no console error', seen.errors.length === 0, seen.errors.join(' | '));
  check(prefix + ': no failed request', seen.bad.length === 0, seen.bad.join(' | '));
}

async function timelineState(page) {
  return page.evaluate(() => [...document.querySelectorAll('svg.timeline-svg')].map((svg) => ({
    trace: svg.getAttribute('data-trace-id'),
    raw: Number(svg.getAttribute('data-negative-raw')),
    corrected: Number(svg.getAttribute('data-negative-corrected')),
    marked: svg.querySelectorAll('rect.span.negative').length,
  })));
}

async function live(browser, cfg, shots) {
  const { page, seen } = await watchedPage(browser);
  const origin = new URL(cfg.url).origin;
  let ok = false;
  for (let attempt = 0; attempt < 5 && !ok; attempt++) {
    const before = await getJson(origin + '/api/v1/status');
    await page.goto(cfg.url, { waitUntil: 'load' });
    await page.waitForSelector('body[data-state=ready]', { timeout: 15000 });
    const view = await shown(page);
    const after = await getJson(origin + '/api/v1/status');
    if (!sameAnalysis(before, after)) continue; // an update came between: again
    ok = true;
    compareClocks('live page', view, after.nodes);
    compareEdges('live page', view, after.edges);
    const outliers = view.nodes.filter((n) => n.outlier).map((n) => n.node);
    check('live page: the skewed domain is the highlighted one',
          outliers.length === 1 && outliers[0] === cfg.skewed, outliers.join(','));
    const refShown = await page.$eval('#meta-reference b', (e) => e.textContent);
    check('live page: the reference is named', refShown === after.reference, refShown);
  }
  check('live page: status held still long enough to compare', ok);
  const traces = (await getJson(origin + '/api/v1/traces')).traces;
  let tl = await timelineState(page);
  check('live page: the latest trace with a violation is drawn',
        tl.length === 1 && traces.length > 0 && tl[0].trace === traces[0].trace_id,
        JSON.stringify(tl) + ' newest ' + (traces[0] || {}).trace_id);
  check('live page: its negative spans are marked as recorded, none after correction',
        tl.length === 1 && tl[0].raw > 0 && tl[0].marked === tl[0].raw && tl[0].corrected === 0,
        JSON.stringify(tl));
  const warnings = await page.$$eval('table.warnings tbody tr', (r) => r.length);
  const logged = (await getJson(origin + '/api/v1/warnings')).warnings.length;
  check('live page: the warnings as logged', warnings === logged && logged > 0, warnings + ' of ' + logged);
  const findings = await page.$eval('#findings', (e) => e.textContent);
  check('live page: the findings panel is there, empty', /No findings/.test(findings), findings);
  if (shots) await page.screenshot({ path: path.join(shots, 'serve_page.png'), fullPage: true });
  // another kept trace, chosen by ID
  if (traces.length > 1) {
    const id = traces[traces.length - 1].trace_id;
    await page.$eval('#trace-id', (e, v) => { e.value = v; }, id);
    await page.click('#trace-form button[type=submit]');
    await page.waitForFunction((v) => {
      const s = document.querySelector('svg.timeline-svg');
      return s && s.getAttribute('data-trace-id') === v;
    }, { timeout: 10000 }, id);
    tl = await timelineState(page);
    check('live page: a trace chosen by ID is drawn', tl.length === 1 && tl[0].trace === id && tl[0].raw > 0,
          JSON.stringify(tl));
  }
  onlyOrigin('live page', seen, origin);
  await page.close();
}

async function withToken(browser, cfg) {
  const { page, seen } = await watchedPage(browser);
  const origin = new URL(cfg.url).origin;
  await page.goto(cfg.url, { waitUntil: 'load' });
  await page.waitForSelector('body[data-state=auth]', { timeout: 15000 });
  const asked = await page.$eval('#auth', (e) => !e.hidden);
  const dataBefore = seen.requests.filter((u) => /\/api\/v1\/(status|history|warnings|traces|trace|findings)/.test(u));
  check('token: the page asks for the token', asked);
  check('token: no data requested before it', dataBefore.length === 0, dataBefore.join(' '));
  await page.type('#auth-token', cfg.token);
  await page.click('#auth button[type=submit]');
  await page.waitForSelector('body[data-state=ready]', { timeout: 15000 });
  const rows = await page.$$eval('table.clocks tbody tr', (r) => r.length);
  check('token: with it the page shows the data', rows > 0, rows + ' rows');
  // once: a reload in the same tab does not ask again
  await page.reload({ waitUntil: 'load' });
  await page.waitForSelector('body[data-state=ready]', { timeout: 15000 });
  const again = await page.$eval('#auth', (e) => !e.hidden);
  check('token: asked once (kept for the tab)', !again);
  const sent = await page.evaluate(() => sessionStorage.getItem('skewscope.token'));
  check('token: kept in sessionStorage', sent === cfg.token);
  onlyOrigin('token', seen, origin);
  await page.close();
}

async function report(browser, cfg, shots) {
  const { page, seen } = await watchedPage(browser);
  const url = 'file://' + path.resolve(cfg.file);
  await page.goto(url, { waitUntil: 'load' });
  await page.waitForSelector('body[data-state=ready]', { timeout: 15000 });
  const est = JSON.parse(fs.readFileSync(cfg.estimate, 'utf8'));
  const data = await page.evaluate(() => JSON.parse(document.getElementById('skewscope-data').textContent));
  const view = await shown(page);
  compareClocks('report', view, est.nodes);
  compareEdges('report', view, data.edges);
  const outliers = view.nodes.filter((n) => n.outlier).map((n) => n.node);
  check('report: the skewed domain is the highlighted one',
        outliers.length === 1 && outliers[0] === cfg.skewed, outliers.join(','));
  const tl = await timelineState(page);
  check('report: a timeline per worst trace', tl.length === data.traces.length && tl.length > 0,
        tl.length + ' of ' + data.traces.length);
  check('report: negative spans marked as recorded, none after correction',
        tl.every((t) => t.raw > 0 && t.marked >= t.raw && t.corrected === 0), JSON.stringify(tl));
  onlyOrigin('report', seen, url);
  if (shots) {
    await page.setViewport({ width: 1400, height: 1200 });
    await page.screenshot({ path: path.join(shots, 'report.png') });
  }
  await page.close();
}

async function hostile(browser, cfg) {
  const { page, seen } = await watchedPage(browser);
  await page.goto('file://' + path.resolve(cfg.file), { waitUntil: 'load' });
  await page.waitForSelector('body[data-state=ready]', { timeout: 15000 });
  const names = await page.$$eval('table.clocks tbody tr', (r) => r.map((tr) => tr.getAttribute('data-node')));
  const injected = await page.evaluate(() => document.querySelectorAll('img, iframe, object, embed').length);
  check('report: a domain named with markup is shown as text', names.includes(cfg.name), names.join(','));
  check('report: the markup is not run', seen.dialogs.length === 0 && injected === 0,
        seen.dialogs.join(',') + ' ' + injected);
  await page.close();
}

(async () => {
  const cfg = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const { browser, dir } = await launch();
  try {
    if (cfg.report) await report(browser, cfg.report, cfg.shots);
    if (cfg.hostile) await hostile(browser, cfg.hostile);
    if (cfg.live) await live(browser, cfg.live, cfg.shots);
    if (cfg.token) await withToken(browser, cfg.token);
  } catch (e) {
    check('browser run', false, e && e.stack ? e.stack.split('\n').slice(0, 3).join(' ') : e);
  } finally {
    await browser.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  process.exit(failed ? 1 : 0);
})();
