# The readers' contract (issue 9), through the binary: zero bytes, one
# UTF-8 rule for check/estimate/correct and serve, invalid spans counted
# (--strict refuses them), document shapes, corrupt gzip, leading white
# space, times. Sourced by tests/cli/run.sh (S, T, sim, expect, ok, bad).
R="$T/readers"
mkdir -p "$R"
# exit code of a command, its stderr in $R/err
rc_of() { "$@" >"$R/out" 2>"$R/err"; echo $?; }
# jq -e over a file that must not be empty (jq passes on no input)
jqx() { local f=${*: -1}; [ -s "$f" ] && jq "$@"; }

# ---- zero bytes --------------------------------------------------------------
rc=$(rc_of timeout 20 "$S" check /dev/zero)
expect "readers: check /dev/zero: exit 65 at once" [ "$rc" = 65 ]
expect "readers: /dev/zero: says where and what" grep -q "/dev/zero: byte 0: .*zero bytes are not a trace" "$R/err"
head -c 20000000 /dev/zero | gzip -c >"$R/zeros.gz"
rc=$(rc_of timeout 20 "$S" check "$R/zeros.gz")
expect "readers: 20 MB of zeros in a gzip: exit 65" [ "$rc" = 65 ]
printf '\0' >"$R/one-empty.pb"
rc=$(rc_of "$S" check --json "$R/one-empty.pb")
expect "readers: one empty protobuf message: 0 spans, exit 0" [ "$rc" = 0 ]
expect "readers: one empty protobuf message: spans 0" jqx -e '.spans == 0' "$R/out"

# ---- one UTF-8 rule ------------------------------------------------------------
span_json() { # trace span name host -> one OTLP JSON document
  printf '{"resourceSpans":[{"resource":{"attributes":[{"key":"host.name","value":{"stringValue":"%s"}}]},"scopeSpans":[{"spans":[{"traceId":"%s","spanId":"%s","name":"%s","kind":2,"startTimeUnixNano":"1790000000000000000","endTimeUnixNano":"1790000000000001000"}]}]}]}\n' \
    "$4" "$1" "$2" "$3"
}
t1=0af7651916cd43dd8448eb211c80319c
span_json $t1 00f067aa0ba902b7 $'op\xff' h1 >"$R/bad-utf8.json"
span_json $t1 00f067aa0ba902b7 'op\udc00' h1 >"$R/lone.json"
for f in bad-utf8.json lone.json; do
  for cmd in check estimate "correct -o $R/x.json"; do
    rc=$(rc_of "$S" $cmd "$R/$f")
    expect "readers: $f: ${cmd%% *} exits 65" [ "$rc" = 65 ]
    expect "readers: $f: ${cmd%% *} names file:line:col" grep -Eq "$f:1:[0-9]+: expected" "$R/err"
  done
done
# protobuf: a string the scanner otherwise skips (the span name)
sim --requests 20 --format otlp-proto -o "$R/ok.pb"
perl -0777 -pe 's/publish tokenizer/publish tokeniz\xffr/' "$R/ok.pb" >"$R/bad-utf8.pb"
expect "readers: the protobuf really was patched" [ "$(cmp -l "$R/ok.pb" "$R/bad-utf8.pb" | wc -l)" -ge 1 ]
for cmd in check estimate; do
  rc=$(rc_of "$S" $cmd "$R/bad-utf8.pb")
  expect "readers: non-UTF-8 protobuf string: $cmd exits 65" [ "$rc" = 65 ]
  expect "readers: non-UTF-8 protobuf string: $cmd says the byte" grep -q "bad-utf8.pb: byte [0-9]*: expected valid UTF-8 in string field name" "$R/err"
done
# NUL is a character: accepted, and printed whole
span_json $t1 00f067aa0ba902b7 op 'node\u0000x' >"$R/nul.json"
span_json $t1 00f067aa0ba902b8 op 'node-y' | sed 's/"kind":2/"kind":2,"parentSpanId":"00f067aa0ba902b7"/' >>"$R/nul.json"
sed -i '1s/"kind":2/"kind":3/' "$R/nul.json"
rc=$(rc_of "$S" check --json "$R/nul.json")
expect "readers: NUL in a host name: accepted" [ "$rc" = 0 ]
expect "readers: NUL in a host name: JSON keeps it as \\u0000" grep -q '"from": "node\\u0000x"' "$R/out"
"$S" check "$R/nul.json" >"$R/nul.txt" 2>&1
expect "readers: NUL in a host name: text shows \\0" grep -q 'node\\0x' "$R/nul.txt"

# serve answers 400, with the position, before anything is acknowledged
"$S" serve --listen 127.0.0.1:0 --duration 20s >"$R/serve.out" 2>"$R/serve.log" &
rpid=$!
. "$(dirname "${BASH_SOURCE[0]}")/../../scripts/serve_port.sh"
rport=$(serve_port "$R/serve.out")
post() { # file content-type -> http code, body in $R/resp
  curl -s -o "$R/resp" -w '%{http_code}' -H "Content-Type: $2" --data-binary @"$1" \
    "http://127.0.0.1:$rport/v1/traces"
}
expect "readers: serve: non-UTF-8 JSON: 400" [ "$(post "$R/bad-utf8.json" application/json)" = 400 ]
expect "readers: serve: the 400 says where" grep -q "request body:1:[0-9]*: expected valid UTF-8" "$R/resp"
expect "readers: serve: lone surrogate: 400" [ "$(post "$R/lone.json" application/json)" = 400 ]
# a request body is one plain message: one request's file without its prefix
sim --requests 1 --format otlp-proto -o "$R/one.pb"
perl -0777 -ne '$i = 0; $i++ while ord(substr($_, $i, 1)) & 0x80; print substr($_, $i + 1)' \
  "$R/one.pb" | perl -0777 -pe 's/publish tokenizer/publish tokeniz\xffr/' >"$R/bad-body.pb"
expect "readers: serve: non-UTF-8 protobuf: 400" [ "$(post "$R/bad-body.pb" application/x-protobuf)" = 400 ]
expect "readers: serve: the 400 says the byte" grep -aq "request body: byte [0-9]*: expected valid UTF-8 in string field name" "$R/resp"
expect "readers: serve: NUL in a host name: 200" [ "$(post "$R/nul.json" application/json)" = 200 ]
kill -TERM "$rpid"; wait "$rpid"

# ---- invalid spans are counted, not fatal --------------------------------------
cat >"$R/zipkin-incomplete.json" <<'EOF'
[{"traceId":"0af7651916cd43dd","id":"0000000000000001","kind":"CLIENT","timestamp":1000,"duration":50,"localEndpoint":{"serviceName":"a"}},
 {"traceId":"0af7651916cd43dd","id":"0000000000000002","parentId":"0000000000000001","kind":"SERVER","timestamp":1010,"duration":20,"localEndpoint":{"serviceName":"b"}},
 {"traceId":"0af7651916cd43dd","id":"0000000000000003","parentId":"0000000000000002","name":"incomplete","localEndpoint":{"serviceName":"b"}}]
EOF
rc=$(rc_of "$S" check --json "$R/zipkin-incomplete.json")
expect "readers: Zipkin span without timestamp: exit 0 (was 65)" [ "$rc" = 0 ]
expect "readers: ... the rest is analysed" jqx -e '.spans == 2 and .pairs == 1' "$R/out"
expect "readers: ... counted in check --json" \
  jqx -e '.invalid_spans == {"total": 1, "empty_trace_id": 0, "empty_span_id": 0, "missing_timestamp": 1, "unknown_process": 0}' "$R/out"
expect "readers: ... and on stderr" grep -q "1 of 3 spans cannot be analysed.*missing_timestamp 1" "$R/err"
rc=$(rc_of "$S" estimate --json "$R/zipkin-incomplete.json")
expect "readers: estimate --json counts them too" jqx -e '.invalid_spans.missing_timestamp == 1' "$R/out"
for cmd in check estimate "correct -o $R/x.json"; do
  rc=$(rc_of "$S" $cmd --strict "$R/zipkin-incomplete.json")
  expect "readers: ${cmd%% *} --strict: exit 65 at the span" [ "$rc" = 65 ]
  expect "readers: ${cmd%% *} --strict: names it" grep -q "zipkin-incomplete.json:3:2: expected a timestamp in span 3" "$R/err"
done
# an OTLP span with an empty traceId (the Collector accepts the request)
{ span_json "" 00f067aa0ba902b7 op h1; span_json $t1 00f067aa0ba902b8 op h1; } >"$R/empty-trace.json"
rc=$(rc_of "$S" check --json "$R/empty-trace.json")
expect "readers: OTLP span with empty traceId: exit 0 (was 65)" [ "$rc" = 0 ]
expect "readers: ... counted as empty_trace_id" jqx -e '.spans == 1 and .invalid_spans.empty_trace_id == 1' "$R/out"
span_json "" 00f067aa0ba902b7 op h1 >"$R/all-invalid.json"
rc=$(rc_of "$S" check "$R/all-invalid.json")
expect "readers: nothing valid remains: exit 65" [ "$rc" = 65 ]
expect "readers: ... says so" grep -q "no span can be analysed" "$R/err"
# a Jaeger span whose processID is unknown (it landed in "unknown")
cat >"$R/jaeger-unknown-pid.json" <<'EOF'
{"data":[{"traceID":"0af7651916cd43dd","spans":[
 {"traceID":"0af7651916cd43dd","spanID":"0000000000000001","startTime":1000,"duration":10,"processID":"p1"},
 {"traceID":"0af7651916cd43dd","spanID":"0000000000000002","startTime":1000,"duration":10,"processID":"p7"}],
 "processes":{"p1":{"serviceName":"a"}}}]}
EOF
rc=$(rc_of "$S" check --json "$R/jaeger-unknown-pid.json")
expect "readers: Jaeger unknown processID: counted, not in \"unknown\"" \
  jqx -e '.spans == 1 and .invalid_spans.unknown_process == 1' "$R/out"

# ---- shapes ---------------------------------------------------------------------
doc=$(span_json $t1 00f067aa0ba902b7 op h1)
printf '{"result":%s}\n{"result":%s}\n' "$doc" "$doc" >"$R/api_v3.json"
rc=$(rc_of "$S" check --json "$R/api_v3.json")
expect "readers: Jaeger api_v3 response: read (was 0 spans)" jqx -e '.spans == 2' "$R/out"
rc=$(rc_of "$S" check --format jaeger "$R/api_v3.json")
expect "readers: api_v3 given as --format jaeger: 65" [ "$rc" = 65 ]
expect "readers: ... says what was expected" grep -q "expected a Jaeger JSON document.*use --format otlp-json" "$R/err"
cat >"$R/jaeger-spans.json" <<'EOF'
[{"traceID":"0af7651916cd43dd","spanID":"0000000000000001","operationName":"call","references":[],"startTime":1000,"duration":50,"tags":[{"key":"span.kind","type":"string","value":"client"}],"processID":"p1","process":{"serviceName":"a","tags":[{"key":"hostname","type":"string","value":"host-a"}]}},
 {"traceID":"0af7651916cd43dd","spanID":"0000000000000002","operationName":"serve","references":[{"refType":"CHILD_OF","traceID":"0af7651916cd43dd","spanID":"0000000000000001"}],"startTime":990,"duration":20,"tags":[{"key":"span.kind","type":"string","value":"server"}],"processID":"p2","process":{"serviceName":"b","tags":[{"key":"hostname","type":"string","value":"host-b"}]}}]
EOF
for fmt in auto jaeger; do
  rc=$(rc_of "$S" check --json --format $fmt "$R/jaeger-spans.json")
  expect "readers: bare array of Jaeger spans ($fmt): read, violation found" [ "$rc" = 1 ]
  expect "readers: ... 2 spans, 1 pair" jqx -e '.spans == 2 and .pairs == 1 and .edges[0].from == "host-a"' "$R/out"
done
for d in '{}' '{"result":{"foo":1}}' '{"error":{"httpCode":404}}'; do
  printf '%s' "$d" >"$R/shape.json"
  rc=$(rc_of "$S" check --format otlp-json "$R/shape.json")
  expect "readers: $d: 65 (was 0 spans, exit 0)" [ "$rc" = 65 ]
  expect "readers: $d: says what was expected" grep -q "shape.json:1:1: expected an OTLP JSON document" "$R/err"
done
for d in '{"resourceSpans":[]}' '{"data":[]}' '[]'; do
  printf '%s' "$d" >"$R/shape.json"
  rc=$(rc_of "$S" check --json "$R/shape.json")
  expect "readers: $d: 0 spans, exit 0" [ "$rc" = 0 ]
done

# ---- gzip, white space, times --------------------------------------------------
gzip -c "$R/jaeger-spans.json" >"$R/ok.json.gz"
cp "$R/ok.json.gz" "$R/crc.json.gz"
size=$(stat -c %s "$R/crc.json.gz")
printf '\x00\x00' | dd of="$R/crc.json.gz" bs=1 seek=$((size - 8)) conv=notrunc 2>/dev/null
rc=$(rc_of "$S" check "$R/crc.json.gz")
expect "readers: gzip CRC error: exit 65 (was 66)" [ "$rc" = 65 ]
{ cat "$R/ok.json.gz"; printf 'trailing garbage'; } >"$R/trail.json.gz"
rc=$(rc_of "$S" check "$R/trail.json.gz")
expect "readers: gzip with trailing garbage: exit 65 (was 66)" [ "$rc" = 65 ]
expect "readers: ... says so" grep -q "trailing bytes after the gzip data" "$R/err"
{ head -c 71680 /dev/zero | tr '\0' ' '; cat "$R/jaeger-spans.json"; } >"$R/ws.json"
rc=$(rc_of "$S" check --json "$R/ws.json")
expect "readers: 70 KB of white space first: read (was unrecognised)" jqx -e '.spans == 2' "$R/out"
span_json $t1 00f067aa0ba902b7 op h1 | sed 's/"1790000000000000000"/"-5"/' >"$R/neg.json"
rc=$(rc_of "$S" check "$R/neg.json")
expect "readers: \"-5\" ns: exit 65 with the position" [ "$rc" = 65 ]
expect "readers: ... names it" grep -q "neg.json:1:[0-9]*: expected startTimeUnixNano as an unsigned integer (ns), found a negative value" "$R/err"
span_json $t1 00f067aa0ba902b7 op h1 | sed 's/"1790000000000000000"/"18446744073709551615"/; s/"1790000000000001000"/"0"/' >"$R/max.json"
rc=$(rc_of "$S" check --json "$R/max.json")
expect "readers: start 2^64-1, end 0: a negative duration" jqx -e '.by_kind.negative_duration == 1' "$R/out"
