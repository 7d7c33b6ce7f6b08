# What people look at (issue 12): `skewscope report` (one self-contained
# HTML file) and serve's live page (GET /), first through the binary and
# curl, then in a real browser: Debian's headless Chromium driven by
# puppeteer-core (tests/browser/, `npm ci` there when node_modules is
# missing), against a serve fed by the testbed with prefill's clock 5 ms
# ahead. Sourced by tests/cli/run.sh (S, T, expect, ok, bad).
# SKEWSCOPE_SCREENSHOTS=DIR keeps the screenshots there (the README's
# docs/img/serve_page.png and docs/img/report.png come from this run).
B="$T/browser"
mkdir -p "$B"
BROWSER_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/../browser" && pwd)"
. "$(dirname "${BASH_SOURCE[0]}")/../../scripts/serve_port.sh"

# The report's data: the JSON inlined in the file (its '<' '>' '&' are
# \u escapes, so the first "</script>" after it ends it).
report_data() {
  sed -n 's/.*<script id="skewscope-data" type="application\/json">\(.*\)<\/script>.*/\1/p' "$1" | head -1
}

# ---- the report, through the binary --------------------------------------
"$S" simulate --seed 7 --requests 300 --skew prefill=5ms -o "$B/sim.json" 2>/dev/null
(cd "$B" && "$S" report --reference node-gateway sim.json -o report.html 2>report.err)
expect "report: exit 0" [ $? = 0 ]
report_data "$B/report.html" >"$B/report.json"
expect "report: the data is inlined as JSON" jq -e '.clock.nodes | length == 6' "$B/report.json"
expect "report: nothing to fetch (no src, only data: links)" \
  sh -c "! grep -Eo '(src|href)=\"[^\"]*\"' '$B/report.html' | grep -v 'href=\"data:'"
expect "report: no network allowed by its policy" grep -q "default-src 'none'" "$B/report.html"
"$S" estimate --json --reference node-gateway "$B/sim.json" >"$B/estimate.json"
expect "report: offsets and bounds are estimate's" diff \
  <(jq -S '[.nodes[] | {node, offset_ns, lower_ns, upper_ns, drift_ppm, pairs}]' "$B/estimate.json") \
  <(jq -S '[.clock.nodes[] | {node, offset_ns, lower_ns, upper_ns, drift_ppm, pairs}]' "$B/report.json")
"$S" check --json "$B/sim.json" >"$B/check.json"
expect "report: pairs, violations and slack are check's" diff \
  <(jq -S '[.edges[] | {from, to, pairs, violations, min_slack_ns}]' "$B/check.json") \
  <(jq -S '[.edges[] | {from, to, pairs, violations, min_slack_ns}]' "$B/report.json")
# the skew budget is the smallest slack once corrected: check's minimum on
# correct's output, edge by edge, to the nanosecond
"$S" correct --reference node-gateway "$B/sim.json" -o "$B/fixed.json" 2>/dev/null
"$S" check --json "$B/fixed.json" >"$B/fixed.check"
expect "report: skew budget = min slack after correction" diff \
  <(jq -S '[.edges[] | {from, to, b: .min_slack_ns}]' "$B/fixed.check") \
  <(jq -S '[.edges[] | {from, to, b: .skew_budget_ns}]' "$B/report.json")
expect "report: the edges out of prefill use their whole budget and more" \
  jq -e '[.edges[] | select(.from == "node-prefill") | .budget_used_ratio > 2.4 and .budget_used_ratio < 2.6
          and .exhausts_in_s == 0] | all and length == 2' "$B/report.json"
expect "report: the other edges use none of it" \
  jq -e '[.edges[] | select(.from != "node-prefill") | .budget_used_ratio < 0.01] | all' "$B/report.json"
expect "report: the 5 worst traces, violating before and not after correction" \
  jq -e '(.traces | length) == 5 and all(.traces[]; .violations > 0 and .corrected_violations == 0)
         and ([.traces[].rank] == [1, 2, 3, 4, 5])' "$B/report.json"
expect "report: the child that starts before its parent is marked, by how much" \
  jq -e '[.traces[0].spans[] | select(.violation == "starts_before_parent")] | length > 0 and
         all(.[]; .domain | startswith("node-decode")) and all(.[]; .before_parent_ns > 0)' "$B/report.json"
"$S" report --traces 0 "$B/sim.json" -o "$B/r0.html" 2>/dev/null
expect "report: --traces 0: no timeline" jq -e '.traces == []' <(report_data "$B/r0.html")
"$S" report --reference node-gateway - <"$B/sim.json" >"$B/stdout.html" 2>/dev/null
expect "report: to stdout" grep -q '</html>' "$B/stdout.html"
"$S" report 2>/dev/null
expect "report: no input: exit 2" [ $? = 2 ]
"$S" report --traces many "$B/sim.json" 2>/dev/null
expect "report: bad --traces: exit 2" [ $? = 2 ]
"$S" report "$B/nope.json" -o "$B/nope.html" 2>/dev/null
expect "report: missing input: exit 66" [ $? = 66 ]
expect "report: missing input: no output" [ ! -e "$B/nope.html" ]
"$S" report --reference node-nowhere "$B/sim.json" -o "$B/x.html" 2>/dev/null
expect "report: unknown reference: exit 2" [ $? = 2 ]
"$S" report "$B/sim.json" -o "$B/no-such-dir/r.html" 2>"$B/err"
expect "report: unwritable output: exit 70" [ $? = 70 ]
expect "report: unwritable output: message names it" grep -q "no-such-dir/r.html" "$B/err"
expect "report: no temporary file left behind" sh -c "! ls '$B' | grep -q 'tmp-'"

# A domain named with markup: escaped in the inlined data, never run.
hostile='</script><img src=x onerror=alert(1)>'
cat >"$B/hostile.json" <<EOF
{"resourceSpans":[
 {"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"gw"}}]},
  "scopeSpans":[{"spans":[{"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0000000000000001",
   "kind":3,"startTimeUnixNano":"1000000000","endTimeUnixNano":"1009000000"}]}]},
 {"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"${hostile//\"/\\\"}"}}]},
  "scopeSpans":[{"spans":[{"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0000000000000002",
   "parentSpanId":"0000000000000001","kind":2,"startTimeUnixNano":"999000000","endTimeUnixNano":"1005000000"}]}]}]}
EOF
"$S" report "$B/hostile.json" -o "$B/hostile.html" 2>/dev/null
expect "report: a hostile domain name: exit 0" [ $? = 0 ]
expect "report: a hostile domain name is escaped in the data" \
  sh -c "! grep -q '</script><img' '$B/hostile.html'"
expect "report: ... and read back whole" \
  jq -e --arg h "$hostile" '[.clock.nodes[].node] | index($h) != null' <(report_data "$B/hostile.html")

# ---- the live page, through curl -----------------------------------------
"$S" serve --listen 127.0.0.1:0 --reference node-gateway --update-interval 500ms \
  --assembly-window 500ms >"$B/serve.out" 2>"$B/serve.log" &
bpid=$!
bport=$(serve_port "$B/serve.out")
expect "page: serve announces its port" [ -n "$bport" ]
base="http://127.0.0.1:$bport"
"$S" testbed --requests 60 --tp 1 --hop-delay 2ms --skew prefill=5ms \
  --otlp-endpoint "$base/v1/traces" >"$B/testbed.out" 2>&1
expect "page: the testbed ran against serve" grep -q "output identical: yes" "$B/testbed.out"
# wait until the kept trace and the estimate are in
for _ in $(seq 100); do
  curl -s "$base/api/v1/traces" | jq -e '.traces | length > 0' >/dev/null 2>&1 &&
    curl -s "$base/api/v1/status" | jq -e '.nodes | length == 5' >/dev/null 2>&1 && break
  sleep 0.1
done
sleep 1.5 # one more update: the estimate has every pair
code=$(curl -s -o "$B/index.html" -w '%{http_code} %{content_type}' "$base/")
expect "page: GET / is the page" [ "$code" = "200 text/html; charset=utf-8" ]
expect "page: it loads only its own assets" \
  sh -c "grep -Eo '(src|href)=\"[^\"]*\"' '$B/index.html' | sort | tr '\n' ' ' | grep -qx 'href=\"data:,\" href=\"skewscope.css\" src=\"page.js\" src=\"skewscope.js\" '"
for a in skewscope.js page.js skewscope.css; do
  code=$(curl -s -o /dev/null -w '%{http_code}' "$base/$a")
  expect "page: GET /$a" [ "$code" = 200 ]
done
curl -s "$base/api/v1/traces" >"$B/traces.json"
expect "page: traces with a violation are kept" jq -e '.traces | length > 0 and length <= 32' "$B/traces.json"
latest=$(jq -r '.traces[0].trace_id' "$B/traces.json")
curl -s "$base/api/v1/trace?id=latest-violation" >"$B/latest.json"
expect "page: latest-violation is the newest kept" jq -e --arg t "$latest" '.trace.trace_id == $t' "$B/latest.json"
curl -s "$base/api/v1/trace?id=$latest" >"$B/byid.json"
expect "page: a trace by ID: a child of prefill starts before it, not after correction" \
  jq -e '.trace.violations > 0 and .trace.corrected_violations == 0 and
         ([.trace.spans[] | select(.violation == "starts_before_parent") | .domain] | all(startswith("node-decode")))' \
  "$B/byid.json"
code=$(curl -s -o /dev/null -w '%{http_code}' "$base/api/v1/trace?id=00000000000000000000000000000001")
expect "page: a trace not kept: 404" [ "$code" = 404 ]
code=$(curl -s -o /dev/null -w '%{http_code}' "$base/api/v1/trace?id=xyz")
expect "page: a malformed trace ID: 400" [ "$code" = 400 ]
curl -s "$base/api/v1/history" >"$B/history.json"
expect "page: history has the clocks per update" \
  jq -e '.snapshots | length > 0 and (.[-1].nodes | length == 5)' "$B/history.json"
curl -s "$base/api/v1/warnings" >"$B/warnings.json"
expect "page: the logged warnings are kept, as logged" \
  jq -e --slurpfile log <(grep '"event":"skew_budget_warning"' "$B/serve.log" | head -1) \
  '.warnings | map(select(.event == "skew_budget_warning"))[0] as $w |
   $w.from == $log[0].from and $w.to == $log[0].to and $w.skew_budget_ns == $log[0].skew_budget_ns' \
  "$B/warnings.json"
expect "page: findings: an empty list" jq -e '.findings == [] and .total == 0' <(curl -s "$base/api/v1/findings")
expect "page: no token needed here" jq -e '.token_required == false' <(curl -s "$base/api/v1/page")

# serve with a token: the page and its assets without it, no data without
printf 'page-secret\n' >"$B/token"
"$S" serve --listen 127.0.0.1:0 --token-file "$B/token" --update-interval 200ms \
  --assembly-window 200ms >"$B/serve2.out" 2>"$B/serve2.log" &
tpid=$!
tport=$(serve_port "$B/serve2.out")
tbase="http://127.0.0.1:$tport"
for r in / /skewscope.js /page.js /skewscope.css /api/v1/page; do
  code=$(curl -s -o /dev/null -w '%{http_code}' "$tbase$r")
  expect "page with a token: GET $r without it: 200" [ "$code" = 200 ]
done
for r in /api/v1/status /api/v1/history /api/v1/warnings /api/v1/traces \
         "/api/v1/trace?id=latest-violation" /api/v1/findings /metrics; do
  code=$(curl -s -o /dev/null -w '%{http_code}' "$tbase$r")
  expect "page with a token: GET $r without it: 401" [ "$code" = 401 ]
  code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer page-secret' "$tbase$r")
  expect "page with a token: GET $r with it: 200" [ "$code" = 200 ]
done
expect "page with a token: the page is told" jq -e '.token_required == true' <(curl -s "$tbase/api/v1/page")
"$S" simulate --seed 7 --requests 40 --skew prefill=5ms -o "$B/tok.json" 2>/dev/null
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer page-secret' \
  -H 'Content-Type: application/json' --data-binary @"$B/tok.json" "$tbase/v1/traces")
expect "page with a token: spans posted with it: 200" [ "$code" = 200 ]
for _ in $(seq 50); do
  curl -s -H 'Authorization: Bearer page-secret' "$tbase/api/v1/status" |
    jq -e '.nodes | length > 0' >/dev/null 2>&1 && break
  sleep 0.1
done

# ---- in the browser --------------------------------------------------------
browser_ready() {
  command -v node >/dev/null || { echo "node not found"; return 1; }
  [ -x "${CHROMIUM:-/usr/bin/chromium}" ] || { echo "no ${CHROMIUM:-/usr/bin/chromium} (Debian package chromium: scripts/setup.sh)"; return 1; }
  if [ ! -d "$BROWSER_DIR/node_modules/puppeteer-core" ]; then
    (cd "$BROWSER_DIR" && npm ci --no-audit --no-fund >"$B/npm.log" 2>&1) ||
      { echo "npm ci in tests/browser failed: $(tail -3 "$B/npm.log")"; return 1; }
  fi
}
if why=$(browser_ready); then
  cat >"$B/config.json" <<EOF
{"shots": "$B",
 "report": {"file": "$B/report.html", "estimate": "$B/estimate.json", "skewed": "node-prefill"},
 "hostile": {"file": "$B/hostile.html", "name": $(jq -n --arg h "$hostile" '$h')},
 "live": {"url": "$base/", "skewed": "node-prefill"},
 "token": {"url": "$tbase/", "token": "page-secret"}}
EOF
  (cd "$BROWSER_DIR" && timeout 180 node page.test.js "$B/config.json") >"$B/browser.out" 2>&1
  brc=$?
  while IFS= read -r line; do
    case "$line" in
      "ok "*) ok "browser: ${line#ok }" ;;
      "FAIL "*) bad "browser: ${line#FAIL }" ;;
    esac
  done <"$B/browser.out"
  expect "browser: the run finished (exit $brc)" [ "$brc" = 0 ]
  [ "$brc" = 0 ] || tail -20 "$B/browser.out"
  if [ -n "${SKEWSCOPE_SCREENSHOTS:-}" ]; then
    cp "$B/serve_page.png" "$B/report.png" "$SKEWSCOPE_SCREENSHOTS"/
  fi
else
  bad "browser: cannot run" "$why"
fi

kill -TERM "$bpid" "$tpid" 2>/dev/null
wait "$bpid"
expect "page: serve stops cleanly (exit 0)" [ $? = 0 ]
wait "$tpid"
