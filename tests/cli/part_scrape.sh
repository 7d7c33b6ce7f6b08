# part_scrape: `skewscope serve --scrape` end to end through the binary
# (sourced by run.sh: S, T, expect, ok, bad): its option errors and exit
# codes; `skewscope collect --listen` and a target where nothing listens,
# scraped live (health on /metrics, the dead one logged once, never
# fatal); the testbed's stages as targets while it runs (every stage
# scraped, its series read).

R="$T/scrape"
mkdir -p "$R"
command -v serve_port >/dev/null || . "$(dirname "$0")/../../scripts/serve_port.sh"

# A TCP port nothing listens on: bound by a short-lived collect, then freed.
free_port() {
  "$S" collect --listen 127.0.0.1:0 --duration 1s >"$R/fp.out" 2>/dev/null &
  local p pid=$!
  p=$(serve_port "$R/fp.out")
  wait "$pid"
  echo "$p"
}

# ---- option errors ----------------------------------------------------------
"$S" serve --listen 127.0.0.1:0 --scrape ftp://x/metrics 2>"$R/e1" >/dev/null
expect "serve --scrape: not an http URL: exit 2" [ $? = 2 ]
expect "serve --scrape: ... says what it expects" grep -q "http://" "$R/e1"
"$S" serve --listen 127.0.0.1:0 --scrape http://127.0.0.1:1/metrics \
  --runbook "$R/none.yaml" 2>"$R/e2" >/dev/null
expect "serve --runbook: unreadable file: exit 66" [ $? = 66 ]
printf 'conditions:\n  - id: kv_pressure\n    thresholds: {usage_high: lots}\n' >"$R/bad.yaml"
"$S" serve --listen 127.0.0.1:0 --scrape http://127.0.0.1:1/metrics \
  --runbook "$R/bad.yaml" 2>"$R/e3" >/dev/null
expect "serve --runbook: a bad entry: exit 65" [ $? = 65 ]
expect "serve --runbook: ... names file and line" grep -q "bad.yaml:3" "$R/e3"
"$S" serve --listen 127.0.0.1:0 --scrape http://127.0.0.1:1/metrics \
  --set nosuch.x=1 2>"$R/e4" >/dev/null
expect "serve --set: unknown condition: exit 2" [ $? = 2 ]
"$S" serve --listen 127.0.0.1:0 --set kv_pressure.persist_s=1 2>"$R/e5" >/dev/null
expect "serve --set without --scrape: exit 2" [ $? = 2 ]

# ---- collect --listen and a dead target, scraped live -----------------------
"$S" collect --listen 127.0.0.1:0 --interval 100ms --duration 60s \
  >"$R/c.out" 2>/dev/null &
cpid=$!
cport=$(serve_port "$R/c.out")
dport=$(free_port)
"$S" serve --listen 127.0.0.1:0 --listen-grpc off \
  --scrape "http://127.0.0.1:$cport/metrics" \
  --scrape "dead=http://127.0.0.1:$dport/metrics" --scrape-interval 250ms \
  >"$R/s.out" 2>"$R/s.log" &
spid=$!
sport=$(serve_port "$R/s.out")
expect "serve --scrape: announces the detection" grep -q "imbalance detection on 2 scrape targets" "$R/s.out"
base="http://127.0.0.1:$sport"
for _ in $(seq 100); do # until 8 rows were evaluated (2 s of rounds)
  curl -s "$base/metrics" >"$R/m.txt"
  awk '$1 == "skewscope_imbalance_rows_total" && $2 >= 8 {f=1} END {exit !f}' "$R/m.txt" && break
  sleep 0.2
done
ctarget="127.0.0.1:$cport"
expect "serve --scrape: rows evaluated" \
  awk '$1 == "skewscope_imbalance_rows_total" && $2 >= 8 {f=1} END {exit !f}' "$R/m.txt"
expect "serve --scrape: collect is up (target named host:port)" \
  grep -qx "skewscope_scrape_up{target=\"$ctarget\"} 1" "$R/m.txt"
expect "serve --scrape: collect's samples were read" \
  awk -v k="skewscope_scrape_samples{target=\"$ctarget\"}" '$1 == k && $2 > 50 {f=1} END {exit !f}' "$R/m.txt"
expect "serve --scrape: the dead target is down, errors counted" \
  sh -c "grep -qx 'skewscope_scrape_up{target=\"dead\"} 0' '$R/m.txt' &&
         awk '\$1 == \"skewscope_scrape_errors_total{target=\\\"dead\\\"}\" && \$2 >= 4 {f=1} END {exit !f}' '$R/m.txt'"
expect "serve --scrape: findings counted by condition" \
  grep -q '^skewscope_imbalance_findings_total{condition="kv_pressure"} ' "$R/m.txt"
curl -s "$base/api/v1/findings" >"$R/f.json"
expect "serve --scrape: /api/v1/findings answers" jq -e '.findings | type == "array"' "$R/f.json"
kill -TERM "$spid"
wait "$spid"
expect "serve --scrape: SIGTERM: exit 0" [ $? = 0 ]
expect "serve --scrape: the dead target logged once, as JSON" \
  sh -c "[ \$(grep -c '\"event\":\"scrape_failed\",\"target\":\"dead\"' '$R/s.log') = 1 ] &&
         grep '\"event\":\"scrape_failed\"' '$R/s.log' | jq -e .errors_total >/dev/null"
kill -TERM "$cpid"
wait "$cpid"

# ---- the testbed's stages as targets ----------------------------------------
# ports P..P+5: gateway, tokenizer, prefill, detokenizer, decode-0, decode-1.
# A random block can be taken (another process, or a connect() whose
# ephemeral source port is the very port it dials); the testbed then refuses
# with "cannot listen" (exit 70), and the block is drawn again, at most 3 times.
for attempt in 1 2 3; do
  P=$(( (RANDOM % 2000) * 8 + 30000 ))
  scr=()
  for i in 0 1 2 3 4 5; do scr+=(--scrape "http://127.0.0.1:$((P + i))/metrics"); done
  "$S" serve --listen 127.0.0.1:0 --listen-grpc off --scrape-interval 500ms \
    "${scr[@]}" >"$R/t.out" 2>"$R/t.log" &
  spid=$!
  sport=$(serve_port "$R/t.out")
  "$S" testbed --duration 6s --tp 2 --metrics --metrics-port "$P" >"$R/tb.out" 2>&1
  grep -q "cannot listen" "$R/tb.out" || break
  kill -TERM "$spid"
  wait "$spid"
done
expect "serve --scrape: the testbed ran" grep -q "output identical: yes" "$R/tb.out"
grep -q "output identical: yes" "$R/tb.out" || sed 's/^/  testbed: /' "$R/tb.out"
curl -s "http://127.0.0.1:$sport/metrics" >"$R/tm.txt"
for i in 0 4 5; do
  expect "serve --scrape: testbed stage on port $((P + i)) was scraped" \
    awk -v k="skewscope_scrape_samples{target=\"127.0.0.1:$((P + i))\"}" '$1 == k && $2 > 10 {f=1} END {exit !f}' "$R/tm.txt"
done
expect "serve --scrape: stages that went away are logged, not fatal" \
  grep -q '"event":"scrape_failed"' "$R/t.log"
kill -TERM "$spid"
wait "$spid"
expect "serve --scrape (testbed): SIGTERM: exit 0" [ $? = 0 ]
