# serve's durability (issue 9: acknowledged means kept), through the
# binary: the write-ahead log is the default when forwarding (next to the
# spool), memory mode makes none, --wal-dir is honoured, a graceful stop
# leaves no log segment, and what a SIGKILLed run had acknowledged but not
# delivered is replayed and delivered by the next run. (The kill -9 test
# under load, several kills, is tests/test_serve_durable.c.) Sourced by
# tests/cli/run.sh (S, T, expect, ok, bad).
D="$T/durable"
mkdir -p "$D"
. "$(dirname "${BASH_SOURCE[0]}")/../../scripts/serve_port.sh"

"$S" serve --durability disk 2>"$D/err"
expect "durable: --durability disk: exit 2" [ $? = 2 ]
expect "durable: --durability disk: says what it wants" grep -q "expects wal or memory" "$D/err"
"$S" serve --help >"$D/help"
expect "durable: --help says what memory mode risks" grep -q "lost on kill -9" "$D/help"

# Forwarding to nobody (connection refused), nothing sent, --duration.
fwd_dead=(--listen 127.0.0.1:0 --forward-otlp http://127.0.0.1:9/v1/traces --duration 1s)
"$S" serve "${fwd_dead[@]}" --spool-dir "$D/sp" >/dev/null 2>"$D/log1"
expect "durable: forwarding: exit 0" [ $? = 0 ]
expect "durable: the WAL is the default, next to the spool" [ -e "$D/sp-wal/wal.lock" ]
expect "durable: a graceful stop leaves no WAL segment" \
  sh -c "! ls '$D/sp-wal' | grep -q '\\.wal\$'"
"$S" serve "${fwd_dead[@]}" --spool-dir "$D/sp2" --durability memory >/dev/null 2>&1
expect "durable: --durability memory: no WAL" [ ! -e "$D/sp2-wal" ]
"$S" serve "${fwd_dead[@]}" --spool-dir "$D/sp3" --wal-dir "$D/w3" >/dev/null 2>&1
expect "durable: --wal-dir is used" [ -e "$D/w3/wal.lock" ]
"$S" serve --listen 127.0.0.1:0 --duration 1s --wal-dir "$D/w4" >/dev/null 2>&1
expect "durable: no forwarding: memory by default" [ ! -e "$D/w4" ]

# Replay: a downstream that takes the connection but never answers (the
# forwarder waits, the batches stay queued), a request acknowledged, kill
# -9; the next run, forwarding to a second serve, delivers every span.
if command -v python3 >/dev/null; then
  : >"$D/hole.port"
  python3 -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(64)
open(sys.argv[1], "w").write("(port %d)\n" % s.getsockname()[1]); time.sleep(120)' \
    "$D/hole.port" &
  hole=$!
  hport=$(serve_port "$D/hole.port")
  "$S" simulate --seed 9 --requests 30 --format otlp-json -o "$D/in.json" 2>/dev/null
  n=$(jq '[.resourceSpans[].scopeSpans[].spans | length] | add' "$D/in.json")
  "$S" serve --listen 127.0.0.1:0 --spool-dir "$D/r" \
    --forward-otlp "http://127.0.0.1:$hport/v1/traces" >"$D/a.out" 2>"$D/a.log" &
  a=$!
  aport=$(serve_port "$D/a.out")
  for i in 1 2 3; do # three requests: one in flight, two queued behind it
    code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
      --data-binary @"$D/in.json" "http://127.0.0.1:$aport/v1/traces")
    [ "$code" = 200 ] || break
  done
  expect "durable: requests acknowledged" [ "$code" = 200 ]
  kill -KILL "$a"
  wait "$a" 2>/dev/null
  expect "durable: kill -9 leaves the WAL with the requests" \
    sh -c "ls '$D/r-wal' | grep -q '\\.wal\$'"
  kill "$hole" 2>/dev/null
  wait "$hole" 2>/dev/null
  "$S" serve --listen 127.0.0.1:0 >"$D/b.out" 2>"$D/b.log" & # the downstream
  b=$!
  bport=$(serve_port "$D/b.out")
  "$S" serve --listen 127.0.0.1:0 --spool-dir "$D/r" \
    --forward-otlp "http://127.0.0.1:$bport/v1/traces" >"$D/a2.out" 2>"$D/a2.log" &
  a=$!
  aport=$(serve_port "$D/a2.out")
  for _ in $(seq 100); do
    got=$(curl -s "http://127.0.0.1:$bport/api/v1/status" | jq '.spans.accepted')
    [ "${got:-0}" -ge $((3 * n)) ] && break
    sleep 0.1
  done
  curl -s "http://127.0.0.1:$aport/metrics" >"$D/a2.metrics"
  expect "durable: the next run delivers all $((3 * n)) acknowledged spans" [ "${got:-0}" = $((3 * n)) ]
  expect "durable: replayed spans counted" \
    grep -q "^skewscope_wal_replayed_spans_total $((3 * n))\$" "$D/a2.metrics"
  kill -TERM "$a" "$b"
  wait "$a"
  expect "durable: the replaying run stops cleanly" [ $? = 0 ]
  wait "$b" 2>/dev/null
  expect "durable: then its WAL is empty" sh -c "! ls '$D/r-wal' | grep -q '\\.wal\$'"
else
  ok "durable: replay through the binary (skipped: no python3)"
fi
