/* page.js: the live page of `skewscope serve` (GET /). Every few seconds it
 * reads serve's own JSON (relative URLs: the same host, nothing else) and
 * redraws with skewscope.js:
 *   api/v1/page      (no token) {token_required, refresh_s}
 *   api/v1/status    the clocks and edges now
 *   api/v1/history   the clocks over the windows kept
 *   api/v1/warnings  the warnings as logged
 *   api/v1/traces    the traces kept (with a violation), newest first
 *   api/v1/trace?id= one of them as a timeline (or id=latest-violation)
 *   api/v1/findings  RCA and imbalance findings
 * When serve has a token the page asks for it once, keeps it in
 * sessionStorage (this tab only) and sends it as Authorization: Bearer. */
(function () {
  'use strict';

  var S = window.Skewscope;
  var TOKEN_KEY = 'skewscope.token';
  var refreshMs = 3000;
  var timer = null;
  // which trace is shown: 'latest' follows the newest violation
  var traceMode = 'latest';
  var traceShown = null;
  var reference = null;

  function $(id) { return document.getElementById(id); }

  function AuthNeeded() {}

  function api(path) {
    var headers = {};
    var tok = sessionStorage.getItem(TOKEN_KEY);
    if (tok) headers.Authorization = 'Bearer ' + tok;
    return fetch(path, { headers: headers, cache: 'no-store' }).then(function (r) {
      if (r.status === 401) {
        sessionStorage.removeItem(TOKEN_KEY);
        throw new AuthNeeded();
      }
      if (r.status === 404) return null;
      if (!r.ok) throw new Error(path + ': HTTP ' + r.status);
      return r.json();
    });
  }

  function showError(msg) {
    var e = $('error');
    e.textContent = msg || '';
    e.hidden = !msg;
  }

  function askToken(refused) {
    clearTimeout(timer);
    $('main').hidden = true;
    $('auth').hidden = false;
    $('auth-error').hidden = !refused;
    $('auth-token').value = '';
    $('auth-token').focus();
    document.body.setAttribute('data-state', 'auth');
  }

  function header(status) {
    var ref = $('meta-reference');
    S.clear(ref);
    S.append(ref, ['reference ', S.h('b', { text: (status && status.reference) || '\u2014' })]);
    var sp = status && status.spans;
    $('meta-spans').textContent = sp ? 'spans received ' + S.fmtCount(sp.received) + ', processed ' +
      S.fmtCount(sp.processed) + ', forwarded ' + S.fmtCount(sp.forwarded) : '';
    $('meta-updated').textContent = status && status.updated_unix_nano ?
      'updated ' + S.fmtTime(status.updated_unix_nano) + ' (every ' + refreshMs / 1000 + ' s)' :
      'no estimate yet';
  }

  function tracePicker(list) {
    var sel = $('trace-pick');
    var keep = sel.value;
    S.clear(sel);
    sel.appendChild(S.h('option', { value: '', text: list.length ? 'kept traces with a violation (' + list.length + ')' :
      'no trace with a violation kept yet' }));
    list.forEach(function (t) {
      sel.appendChild(S.h('option', { value: t.trace_id,
        text: t.trace_id + ' \u2014 ' + t.violations + ' violating, ' + t.spans + ' spans' }));
    });
    sel.value = keep;
  }

  function showTrace(doc) {
    traceShown = doc ? doc.trace_id : null;
    S.clear($('trace-heading'));
    if (doc) $('trace-heading').appendChild(S.traceHeading(doc, traceMode === 'latest' ? 'Latest trace with a violation: ' : 'Trace '));
    S.timelinePanel($('trace'), doc, {
      reference: (doc && doc.reference) || reference,
      emptyText: traceMode === 'latest' ? 'No trace with a violation yet.' : 'That trace is not kept.'
    });
  }

  /* The trace panel: follow the newest violation, or the chosen ID. */
  function refreshTrace(list) {
    var want = traceMode === 'latest' ? (list.length ? list[0].trace_id : null) : traceMode;
    if (want === traceShown && want !== null) return Promise.resolve();
    if (want === null) { showTrace(null); return Promise.resolve(); }
    var kept = list.some(function (t) { return t.trace_id === want; });
    if (!kept) { showTrace(null); return Promise.resolve(); }
    return api('api/v1/trace?id=' + encodeURIComponent(want)).then(function (doc) {
      showTrace(doc && doc.trace);
    });
  }

  function refresh() {
    clearTimeout(timer);
    return Promise.all([api('api/v1/status'), api('api/v1/history'), api('api/v1/warnings'),
                        api('api/v1/traces'), api('api/v1/findings')])
      .then(function (r) {
        var status = r[0] || {}, history = r[1] || {}, traces = (r[3] && r[3].traces) || [];
        $('auth').hidden = true;
        $('main').hidden = false; // drawn visible: the charts take the width they get
        reference = status.reference || null;
        header(status);
        S.clockPanel($('clocks'), status, S.historyFromSnapshots(history.snapshots), {
          historyTitle: 'Over the windows kept',
          timeFmt: function (v) { return v === 0 ? 'latest' : v.toFixed(0) + ' s'; }
        });
        S.edgePanel($('edges'), status.edges, { warnShare: history.warn_share });
        S.warningsPanel($('warnings'), r[2]);
        S.findingsPanel($('findings'), r[4]);
        tracePicker(traces);
        return refreshTrace(traces);
      })
      .then(function () {
        showError(null);
        $('auth').hidden = true;
        $('main').hidden = false;
        document.body.setAttribute('data-state', 'ready');
        timer = setTimeout(refresh, refreshMs);
      })
      .catch(function (e) {
        if (e instanceof AuthNeeded) { askToken(true); return; }
        $('main').hidden = false;
        showError('Cannot reach skewscope serve: ' + (e && e.message ? e.message : e) + '. Retrying.');
        timer = setTimeout(refresh, refreshMs);
      });
  }

  function wire() {
    $('auth').addEventListener('submit', function (ev) {
      ev.preventDefault();
      var tok = $('auth-token').value.trim();
      if (!tok) return;
      sessionStorage.setItem(TOKEN_KEY, tok);
      $('auth').hidden = true;
      refresh();
    });
    $('trace-form').addEventListener('submit', function (ev) {
      ev.preventDefault();
      var id = $('trace-id').value.trim().toLowerCase();
      traceMode = id || 'latest';
      traceShown = null;
      refresh();
    });
    $('trace-pick').addEventListener('change', function () {
      traceMode = $('trace-pick').value || 'latest';
      $('trace-id').value = $('trace-pick').value;
      traceShown = null;
      refresh();
    });
    $('trace-latest').addEventListener('click', function () {
      traceMode = 'latest';
      $('trace-id').value = '';
      traceShown = null;
      refresh();
    });
  }

  function start() {
    wire();
    fetch('api/v1/page', { cache: 'no-store' }).then(function (r) { return r.json(); }).then(function (p) {
      if (p.refresh_s > 0) refreshMs = p.refresh_s * 1000;
      if (p.token_required && !sessionStorage.getItem(TOKEN_KEY)) askToken(false);
      else refresh();
    }).catch(function () { refresh(); });
  }

  start();
})();
