# serve's OTLP/gRPC input (--listen-grpc; sourced by tests/cli/run.sh: S, T,
# expect, ok, bad). First with curl over h2c (HTTP/2 prior knowledge):
# good Exports plain and gzip'd, and a client that sends broken gRPC
# framing, unknown encodings, non-gRPC requests and HTTP/2 garbage, through
# a serve that forwards over OTLP/gRPC (grpc://, with a token) to a second
# serve (the write-ahead log on: an acknowledged Export is fsync'd first):
# every span acknowledged arrives downstream, nothing else. Then with real gRPC clients from npm
# (tests/grpc/, `npm ci` there when node_modules is missing): the
# OpenTelemetry JS SDK's OTLP/gRPC exporter sending a three-service
# pipeline with one clock 5 ms ahead (serve finds it within 100 us), and
# raw @grpc/grpc-js calls (unknown methods, malformed and oversized
# messages, tokens: the status codes a gRPC client sees).
G="$T/grpc"
mkdir -p "$G"
GRPC_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/../grpc" && pwd)"
command -v serve_port >/dev/null || . "$(dirname "${BASH_SOURCE[0]}")/../../scripts/serve_port.sh"
EXPORT_PATH=/opentelemetry.proto.collector.trace.v1.TraceService/Export

# grpc_port OUT: the gRPC port serve announced in OUT (waits up to 10 s).
grpc_port() {
  local port _
  for _ in $(seq 100); do
    port=$(sed -n 's/.*(grpc port \([0-9]*\)).*/\1/p' "$1")
    [ -n "$port" ] && { echo "$port"; return 0; }
    sleep 0.1
  done
  return 1
}

# be32 N: N as 4 big-endian bytes (printf escapes).
be32() { printf '\\x%02x\\x%02x\\x%02x\\x%02x' $(($1 >> 24 & 255)) $(($1 >> 16 & 255)) $(($1 >> 8 & 255)) $(($1 & 255)); }
# frame FLAG FILE OUT: a gRPC length-prefixed message.
frame() {
  { printf "\\x$(printf %02x "$1")"; printf "$(be32 "$(stat -c %s "$2")")"; cat "$2"; } >"$3"
}
# first_message IN OUT: the first message of a varint-delimited protobuf file.
first_message() {
  local n=0 shift=0 i=0 b
  for b in $(od -An -tu1 -N10 "$1"); do
    i=$((i + 1)); n=$((n | (b & 127) << shift)); shift=$((shift + 7))
    [ "$b" -lt 128 ] && break
  done
  tail -c +$((i + 1)) "$1" | head -c "$n" >"$2"
}
# grpc_call PORT BODY [PATH [CURL-ARGS...]]: prints "HTTP grpc-status
# grpc-message" as curl saw them (trailers included). BODY "-" sends none:
# for calls refused on their headers, which the server answers at once
# and then resets (NO_ERROR) if the client still uploads; curl 7.88 may
# report that reset (error 92) instead of the answer.
grpc_call() {
  local port=$1 body=$2 path=${3:-$EXPORT_PATH}
  shift 3 2>/dev/null || shift $#
  local data=(--data-binary @"$body")
  [ "$body" = - ] && data=(-X POST)
  curl -sS -v --max-time 10 --http2-prior-knowledge -H 'content-type: application/grpc' \
    -H 'te: trailers' "$@" "${data[@]}" "http://127.0.0.1:$port$path" -o /dev/null 2>&1 |
    tr -d '\r' | awk '/^< HTTP\/2/ {h=$3} /^< grpc-status:/ {s=$3}
      /^< grpc-message:/ {sub(/^< grpc-message: /, ""); m=$0}
      END {print h, (s == "" ? "-" : s), m}'
}

"$S" serve --listen-grpc nowhere 2>"$G/bad.err"
expect "grpc: --listen-grpc without a port: exit 69" [ $? = 69 ]
expect "grpc: --listen-grpc without a port: message" grep -q "listen-grpc nowhere: expected HOST:PORT" "$G/bad.err"

# ---- curl: framing, limits, forwarding through the WAL --------------------
"$S" simulate --seed 11 --requests 20 --format otlp-proto -o "$G/sim.pb" 2>/dev/null
first_message "$G/sim.pb" "$G/msg.pb"
nspans=$("$S" check --json "$G/msg.pb" | jq .spans)
expect "grpc: a one-message request to send" [ "${nspans:-0}" -gt 0 ]
frame 0 "$G/msg.pb" "$G/ok.bin"
gzip -c "$G/msg.pb" >"$G/msg.pb.gz"
frame 1 "$G/msg.pb.gz" "$G/gz.bin"
frame 0 "$G/msg.pb" "$G/one.bin"
cat "$G/one.bin" "$G/one.bin" >"$G/two.bin"
frame 5 "$G/msg.pb" "$G/flag5.bin"
head -c 3 "$G/ok.bin" >"$G/short.bin"
head -c 100 "$G/ok.bin" >"$G/cut.bin"
head -c 100000 /dev/zero | tr '\0' 'A' >"$G/big.raw"
frame 0 "$G/big.raw" "$G/big.bin"
printf 'not protobuf at all' >"$G/junk.raw"
frame 0 "$G/junk.raw" "$G/junk.bin"

"$S" serve --listen 127.0.0.1:0 --listen-grpc off --duration 5s >"$G/off.out" 2>/dev/null
expect "grpc: --listen-grpc off: no gRPC line" sh -c "! grep -q 'grpc port' '$G/off.out'"
# the downstream: another serve taking OTLP/gRPC with a token
printf 'down-secret\n' >"$G/down.token"
"$S" serve --listen 127.0.0.1:0 --listen-grpc 127.0.0.1:0 --token-file "$G/down.token" \
  --duration 60s >"$G/down.out" 2>"$G/down.log" &
dpid=$!
dport=$(serve_port "$G/down.out")
dgport=$(grpc_port "$G/down.out")
"$S" serve --listen 127.0.0.1:0 --listen-grpc 127.0.0.1:0 --duration 60s --max-body 64K \
  --forward-otlp "grpc://127.0.0.1:$dgport" --forward-token-file "$G/down.token" \
  --spool-dir "$G/spool" >"$G/up.out" 2>"$G/up.log" &
upid=$!
uport=$(serve_port "$G/up.out")
gport=$(grpc_port "$G/up.out")
expect "grpc: announces the gRPC port apart from the HTTP one" [ -n "$gport" ] && [ "$gport" != "$uport" ]

r=$(grpc_call "$gport" "$G/ok.bin")
expect "grpc: Export: OK ($r)" [ "${r% *}" = "200 0" ]
grpc_call "$gport" "$G/ok.bin" >/dev/null
r=$(grpc_call "$gport" "$G/gz.bin" "$EXPORT_PATH" -H 'grpc-encoding: gzip')
expect "grpc: Export, gzip: OK ($r)" [ "${r% *}" = "200 0" ]
r=$(grpc_call "$gport" "$G/two.bin")
expect "grpc: two messages in a unary call: INVALID_ARGUMENT ($r)" sh -c "echo '$r' | grep -q '^200 3 .*a second message'"
r=$(grpc_call "$gport" "$G/flag5.bin")
expect "grpc: compressed flag 5: INVALID_ARGUMENT ($r)" sh -c "echo '$r' | grep -q '^200 3 byte 0: compressed flag 5'"
r=$(grpc_call "$gport" "$G/short.bin")
expect "grpc: a 3-byte body: INVALID_ARGUMENT ($r)" sh -c "echo '$r' | grep -q '^200 3 byte 3: expected a 5-byte gRPC message prefix'"
r=$(grpc_call "$gport" "$G/cut.bin")
expect "grpc: a message cut short: INVALID_ARGUMENT ($r)" sh -c "echo '$r' | grep -q '^200 3 byte 100: the prefix announces'"
r=$(grpc_call "$gport" "$G/junk.bin")
expect "grpc: not protobuf: INVALID_ARGUMENT saying where ($r)" sh -c "echo '$r' | grep -q '^200 3 request body: byte '"
r=$(grpc_call "$gport" "$G/gz.bin")
expect "grpc: compressed without grpc-encoding: INVALID_ARGUMENT ($r)" sh -c "echo '$r' | grep -q '^200 3 '"
# (refused on its prefix, before the upload ends; the server then resets
# the stream NO_ERROR, which curl 7.88 may report as error 92 instead of
# the status: the metrics below count the RESOURCE_EXHAUSTED)
grpc_call "$gport" "$G/big.bin" >/dev/null
curl -sS -v --http2-prior-knowledge -H 'content-type: application/grpc' -H 'grpc-encoding: br' \
  -X POST "http://127.0.0.1:$gport$EXPORT_PATH" -o /dev/null 2>"$G/br.txt"
expect "grpc: grpc-encoding br: UNIMPLEMENTED with grpc-accept-encoding" \
  sh -c "grep -q '^< grpc-status: 12' '$G/br.txt' && grep -q '^< grpc-accept-encoding: identity,gzip' '$G/br.txt'"
r=$(grpc_call "$gport" - /opentelemetry.proto.collector.metrics.v1.MetricsService/Export)
expect "grpc: another service: UNIMPLEMENTED ($r)" sh -c "echo '$r' | grep -q '^200 12 unknown method /opentelemetry.proto.collector.metrics'"
code=$(curl -s -o /dev/null -w '%{http_code}' --http2-prior-knowledge -X POST \
  -H 'content-type: application/json' "http://127.0.0.1:$gport$EXPORT_PATH")
expect "grpc: not application/grpc: HTTP 415" [ "$code" = 415 ]
code=$(curl -s -o /dev/null -w '%{http_code}' --http2-prior-knowledge "http://127.0.0.1:$gport$EXPORT_PATH")
expect "grpc: GET: HTTP 405" [ "$code" = 405 ]
# HTTP/1.1 and garbage on the gRPC port: the connection is closed, the
# server goes on
# (written from subshells that ignore SIGPIPE: the server may close
# before the last byte is written)
exec 7<>"/dev/tcp/127.0.0.1/$gport"
(trap '' PIPE; printf 'GET / HTTP/1.1\r\nHost: x\r\n\r\n' >&7) 2>/dev/null
expect "grpc: an HTTP/1.1 request: connection closed" timeout 5 sh -c 'cat <&7 >/dev/null 2>&1 || true'
exec 7>&-
exec 7<>"/dev/tcp/127.0.0.1/$gport"
(trap '' PIPE; printf 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'; head -c 300 /dev/urandom) >&7 2>/dev/null
expect "grpc: HTTP/2 preface then garbage: connection closed" timeout 5 sh -c 'cat <&7 >/dev/null 2>&1 || true'
exec 7>&-
r=$(grpc_call "$gport" "$G/ok.bin")
expect "grpc: still serving after broken clients ($r)" [ "${r% *}" = "200 0" ]

# four Exports were acknowledged: all of them, and nothing else, arrive
# downstream (after the upstream's graceful stop)
curl -s "http://127.0.0.1:$uport/metrics" >"$G/up.metrics"
expect "grpc: metrics: 4 OK calls" grep -q '^skewscope_grpc_requests_total{code="OK"} 4$' "$G/up.metrics"
expect "grpc: metrics: 6 INVALID_ARGUMENT calls" grep -q '^skewscope_grpc_requests_total{code="INVALID_ARGUMENT"} 6$' "$G/up.metrics"
expect "grpc: metrics: over --max-body: RESOURCE_EXHAUSTED" grep -q '^skewscope_grpc_requests_total{code="RESOURCE_EXHAUSTED"} 1$' "$G/up.metrics"
expect "grpc: metrics: HTTP refusals counted" grep -q '^skewscope_grpc_requests_total{code="http"} 2$' "$G/up.metrics"
if command -v promtool >/dev/null; then
  expect "grpc: promtool check metrics accepts /metrics" sh -c "promtool check metrics < '$G/up.metrics'"
fi
curl -s "http://127.0.0.1:$uport/api/v1/status" >"$G/up.status"
expect "grpc: upstream accepted the 4 Exports' spans" jq -e ".spans.accepted == 4 * $nspans" "$G/up.status"
kill -TERM "$upid"; wait "$upid"
expect "grpc: upstream SIGTERM: exit 0" [ $? = 0 ]
expect "grpc: upstream forwarded every accepted span" grep -q "\"spans_forwarded\":$((4 * nspans))," "$G/up.log"
curl -s -H 'Authorization: Bearer down-secret' "http://127.0.0.1:$dport/api/v1/status" >"$G/down.status"
expect "grpc: downstream (grpc://, token) received exactly the accepted spans" \
  jq -e ".spans.received == 4 * $nspans and .spans.accepted == 4 * $nspans" "$G/down.status"
kill -TERM "$dpid"; wait "$dpid"

# ---- real gRPC clients (npm) ------------------------------------------------
grpc_npm_ready() {
  command -v node >/dev/null && command -v npm >/dev/null || {
    echo "SKIP grpc (real clients): node/npm not installed"; return 1; }
  [ -d "$GRPC_DIR/node_modules/@opentelemetry/exporter-trace-otlp-grpc" ] && return 0
  (cd "$GRPC_DIR" && npm ci --no-audit --no-fund >"$G/npm.log" 2>&1) || {
    echo "SKIP grpc (real clients): npm ci in tests/grpc failed (registry unreachable?): $(tail -3 "$G/npm.log")"
    return 1; }
}
if grpc_npm_ready; then
  printf 'grpc-secret\n' >"$G/token"
  "$S" serve --listen 127.0.0.1:0 --listen-grpc 127.0.0.1:0 --token-file "$G/token" \
    --reference node-gateway --update-interval 200ms --assembly-window 1s --max-body 64K \
    --duration 120s >"$G/js.out" 2>"$G/js.log" &
  jpid=$!
  jport=$(serve_port "$G/js.out")
  jgport=$(grpc_port "$G/js.out")
  node "$GRPC_DIR/pipeline.js" "$jgport" --requests 300 --skew-ms 5 --token grpc-secret \
    --gzip store >"$G/pipeline.json" 2>"$G/pipeline.err"
  expect "grpc (JS SDK): every export succeeded" jq -e '.exports_failed == 0 and .exports_ok > 0 and .spans == 1500' "$G/pipeline.json"
  for _ in $(seq 100); do
    curl -s -H 'Authorization: Bearer grpc-secret' "http://127.0.0.1:$jport/api/v1/status" >"$G/js.status"
    jq -e '.spans.assembling == 0 and ([.nodes[] | select(.node == "node-worker" and .offset_ns != null)] | length == 1)' \
      "$G/js.status" >/dev/null 2>&1 && break
    sleep 0.2
  done
  expect "grpc (JS SDK): every span accepted" jq -e '.spans.accepted == 1500 and .spans.rejected == 0' "$G/js.status"
  expect "grpc (JS SDK): worker found 5 ms ahead, within 100 us" \
    jq -e '.nodes[] | select(.node == "node-worker") | (.offset_ns - 5000000 | fabs) < 100000
           and .lower_ns <= 5000000 and .upper_ns >= 5000000' "$G/js.status"
  expect "grpc (JS SDK): store on time, within 100 us" \
    jq -e '.nodes[] | select(.node == "node-store") | (.offset_ns | fabs) < 100000' "$G/js.status"
  node "$GRPC_DIR/raw.js" "$jgport" grpc-secret "$G/msg.pb" >"$G/raw.json" 2>"$G/raw.err"
  expect "grpc (grpc-js): unknown method: UNIMPLEMENTED" jq -e '.unknown_method.code == 12 and .unknown_service.code == 12' "$G/raw.json"
  expect "grpc (grpc-js): malformed messages: INVALID_ARGUMENT saying where" \
    jq -e '[.malformed, .truncated] | all(.code == 3 and (.details | test("byte [0-9]+")))' "$G/raw.json"
  expect "grpc (grpc-js): oversized: RESOURCE_EXHAUSTED, no retry info (do not retry)" \
    jq -e '.oversized.code == 8 and .oversized.retry_ms == null' "$G/raw.json"
  expect "grpc (grpc-js): no or wrong token: UNAUTHENTICATED" jq -e '.no_token.code == 16 and .wrong_token.code == 16' "$G/raw.json"
  expect "grpc (grpc-js): good Exports, plain and gzip: OK" jq -e '.good.code == 0 and .good_gzip.code == 0' "$G/raw.json"
  sleep 0.5
  curl -s -H 'Authorization: Bearer grpc-secret' "http://127.0.0.1:$jport/api/v1/status" >"$G/js2.status"
  expect "grpc (grpc-js): the two good Exports, and nothing refused, were accepted" \
    jq -e ".spans.accepted == 1500 + 2 * $nspans" "$G/js2.status"
  kill -TERM "$jpid"; wait "$jpid"
  expect "grpc (JS): SIGTERM: exit 0" [ $? = 0 ]
fi
