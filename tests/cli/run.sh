#!/usr/bin/env bash
# Command-line tier: simulated inference pipelines with known clock truth in
# every input format, run through the real `skewscope` binary. Exact check
# counts are compared with the simulator's independent computation of the
# same definitions; estimates and corrections with the injected offsets.
set -uo pipefail
SKEWSCOPE=${SKEWSCOPE:-build/skewscope}
S=$(realpath "$SKEWSCOPE")
T=$(mktemp -d /tmp/skewscope-cli-XXXXXX)
trap 'rm -rf "$T"' EXIT
pass=0
fail=0

ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1${2:+: $2}"; }
# expect NAME CONDITION-COMMAND...
expect() {
  local name=$1; shift
  if "$@" >"$T/expect.out" 2>&1; then ok "$name"; else bad "$name"; head -20 "$T/expect.out"; fi
}

# The fields of check --json that the simulator predicts, normalised.
check_view='{spans, traces, pairs, violating_pairs, by_kind,
             edges: [.edges[] | {from, to, pairs, violations, min_slack_ns}]}'

sim() { "$S" simulate --seed 7 "$@" 2>"$T/sim.err"; }

# |estimate - truth| (both relative to node-gateway) for NODE, in ns.
est_err() { # est.json truth.json node
  jq -n --slurpfile e "$1" --slurpfile t "$2" --arg n "$3" '
    ($t[0].nodes | map({(.node): .offset_ns}) | add) as $truth |
    ($e[0].nodes[] | select(.node == $n) | .offset_ns) - ($truth[$n] - $truth["node-gateway"])
    | fabs'
}
# true when every node's truth lies within its bounds
bounds_hold() { # est.json truth.json
  jq -e -n --slurpfile e "$1" --slurpfile t "$2" '
    ($t[0].nodes | map({(.node): .offset_ns}) | add) as $truth |
    all($e[0].nodes[]; ($truth[.node] - $truth["node-gateway"]) as $x |
        (.lower_ns == null or .lower_ns <= $x) and (.upper_ns == null or $x <= .upper_ns))' >/dev/null
}

# ---- exact counts in every format, with and without skew -----------------
for fmt in otlp-json otlp-json-lines otlp-proto jaeger zipkin; do
  for skew in 0ms 5ms; do
    f="$T/p-$fmt-$skew"
    if ! sim --requests 150 --skew prefill=$skew --format $fmt -o "$f" --truth "$f.truth"; then
      bad "simulate $fmt" "$(cat "$T/sim.err")"; continue
    fi
    "$S" check --json "$f" >"$f.check"; rc=$?
    want=$([ "$skew" = 0ms ] && echo 0 || echo 1)
    expect "check $fmt skew=$skew exit $want" [ "$rc" = "$want" ]
    expect "check $fmt skew=$skew counts match the simulator" \
      diff <(jq -S "$check_view" "$f.check") <(jq -S ".expected | $check_view" "$f.truth")
  done
done
f="$T/p-otlp-json-5ms"
expect "violations appear only on edges leaving the skewed stage" \
  jq -e 'all(.edges[]; (.violations > 0) == (.from == "node-prefill"))' "$f.check"

# ---- gzip, stdin, several files --------------------------------------------
gzip -c "$T/p-otlp-proto-5ms" >"$T/p.pb.gz"
"$S" check --json "$T/p.pb.gz" >"$T/gz.check"
expect "gzip protobuf reads the same" diff <(jq -S . "$T/gz.check") <(jq -S . "$T/p-otlp-proto-5ms.check")
"$S" check --json - <"$T/p-jaeger-5ms" >"$T/stdin.check"
expect "stdin reads the same" diff <(jq -S . "$T/stdin.check") <(jq -S . "$T/p-jaeger-5ms.check")
sim --requests 40 --seed 8 --skew prefill=5ms -o "$T/m2.json"
"$S" check --json "$T/p-otlp-json-5ms" "$T/m2.json" >"$T/merged.check"
expect "several files are merged" jq -e --slurpfile a "$T/p-otlp-json-5ms.check" \
  '.spans > $a[0].spans and .traces == $a[0].traces + 40' "$T/merged.check"

# ---- links instead of parents (messaging instrumentations) ------------------
for fmt in otlp-json otlp-proto jaeger; do
  f="$T/l-$fmt"
  sim --requests 100 --links --skew decode-1=-4ms --format $fmt -o "$f" --truth "$f.truth"
  "$S" check --json "$f" >"$f.check"
  expect "links $fmt counts match" diff <(jq -S "$check_view" "$f.check") <(jq -S ".expected | $check_view" "$f.truth")
  expect "links $fmt violations found" jq -e '.violating_pairs > 0' "$f.check"
done

# ---- estimate: one-way pipeline, 5 ms at one stage, 2 ms minimum hop ------
for fmt in otlp-json otlp-proto jaeger zipkin; do
  f="$T/p-$fmt-5ms"
  "$S" estimate --json --reference node-gateway "$f" >"$f.est"
  e=$(est_err "$f.est" "$f.truth" node-prefill)
  expect "estimate $fmt: prefill within 100us (err ${e}ns)" jq -e -n "$e <= 100000"
  expect "estimate $fmt: bounds contain the truth" bounds_hold "$f.est" "$f.truth"
  expect "estimate $fmt: stage with the largest offset is prefill" \
    jq -e '(.nodes | max_by(.offset_ns | fabs) | .node) == "node-prefill"' "$f.est"
done

# ---- estimate: RPC round trips ------------------------------------------------
f="$T/rpc"
sim --requests 200 --transport rpc --skew tokenizer=-3ms --skew decode-0=2ms -o "$f" --truth "$f.truth"
"$S" estimate --json --reference node-gateway "$f" >"$f.est"
expect "rpc: bounds contain the truth" bounds_hold "$f.est" "$f.truth"
for n in node-tokenizer node-decode-0; do
  e=$(est_err "$f.est" "$f.truth" $n)
  # half the width of the bounds is at most half the smallest round-trip slack
  half=$(jq --arg n $n '.nodes[] | select(.node == $n) | (.upper_ns - .lower_ns) / 2' "$f.est")
  expect "rpc: $n within half the round-trip slack (err ${e}ns <= ${half}ns)" jq -e -n "$e <= $half"
done
"$S" check --json "$f" >"$f.check"
expect "rpc: ends_after_parent counted exactly" diff <(jq -S "$check_view" "$f.check") <(jq -S ".expected | $check_view" "$f.truth")

# ---- drift and steps ---------------------------------------------------------
f="$T/drift"
sim --requests 1500 --duration 60 --drift decode-0=40ppm --skew decode-0=1ms -o "$f" --truth "$f.truth"
"$S" estimate --json --reference node-gateway "$f" >"$f.est"
expect "drift: 40 ppm recovered" jq -e '.nodes[] | select(.node == "node-decode-0") | (.drift_ppm - 40 | fabs) < 2' "$f.est"
expect "drift: other clocks steady" jq -e 'all(.nodes[] | select(.node != "node-decode-0"); (.drift_ppm | fabs) < 2)' "$f.est"
e=$(est_err "$f.est" "$f.truth" node-decode-0)
expect "drift: offset at the end within 100us (err ${e}ns)" jq -e -n "$e <= 100000"
expect "drift: bounds contain the truth" bounds_hold "$f.est" "$f.truth"
f="$T/step"
sim --requests 1500 --duration 60 --step tokenizer=3ms@30s -o "$f" --truth "$f.truth"
"$S" estimate --json --reference node-gateway "$f" >"$f.est"
expect "step: found at the tokenizer" jq -e '.nodes[] | select(.node == "node-tokenizer") | (.step_ns - 3000000 | fabs) < 200000' "$f.est"
e=$(est_err "$f.est" "$f.truth" node-tokenizer)
expect "step: offset after the step within 100us (err ${e}ns)" jq -e -n "$e <= 100000"

# ---- inconsistent constraints: name the edges -------------------------------
# A -> B proves offset(B) - offset(A) <= -2 ms, B -> A proves
# offset(A) - offset(B) <= +1 ms: together a negative cycle (-1 ms).
span() { # trace span parent kind start_ms end_ms
  printf '{"traceId":"%s","spanId":"%s","parentSpanId":"%s","kind":%s,"startTimeUnixNano":"%s","endTimeUnixNano":"%s"}' \
    "$1" "$2" "$3" "$4" "$((1790000000000000000 + $5 * 1000000))" "$((1790000000000000000 + $6 * 1000000))"
}
res() { printf '{"resource":{"attributes":[{"key":"host.name","value":{"stringValue":"%s"}}]},"scopeSpans":[{"spans":[%s]}]}' "$1" "$2"; }
t1=0af7651916cd43dd8448eb211c80319c
t2=1af7651916cd43dd8448eb211c80319c
{
  printf '{"resourceSpans":['
  res A "$(span $t1 00f067aa0ba902b7 "" 4 10 11),$(span $t2 00f067aa0ba902b9 00f067aa0ba902b8 5 21 22)"
  printf ','
  res B "$(span $t1 00f067aa0ba902b8 00f067aa0ba902b7 5 8 9),$(span $t2 00f067aa0ba902b8 "" 4 20 21)"
  printf ']}\n'
} >"$T/cycle.json"
"$S" estimate --json --reference A "$T/cycle.json" >"$T/cycle.est" 2>"$T/err"; rc=$?
expect "inconsistent: exit 0 with a warning" [ "$rc" = 0 ]
expect "inconsistent: warning on stderr" grep -q inconsistent "$T/err"
expect "inconsistent: consistent is false, no bounds" \
  jq -e '.consistent == false and all(.nodes[]; .lower_ns == null and .upper_ns == null)' "$T/cycle.est"
expect "inconsistent: the cycle names both edges" \
  jq -e '([.cycle[] | .from + ">" + .to] | sort) == ["A>B", "B>A"] and ([.cycle[].bound_ns] | add) == -1000000' "$T/cycle.est"

# ---- correct ----------------------------------------------------------------
# offsets applied per node, from the attributes correct adds (OTLP JSON)
applied_ok() { # fixed.json truth.json: every applied offset within 100us of truth
  jq -e -n --slurpfile t "$2" --slurpfile f "$1" '
    ($t[0].nodes | map({(.node): .offset_ns}) | add) as $truth |
    [$f[] | .resourceSpans[] |
      (.resource.attributes[] | select(.key == "host.name") | .value.stringValue) as $n |
      .scopeSpans[].spans[].attributes[]? | select(.key == "skewscope.clock_offset_ns") |
      ((.value.intValue | tonumber) - ($truth[$n] - $truth["node-gateway"])) | fabs] |
    length > 0 and max <= 100000' >/dev/null
}
for fmt in otlp-json otlp-json-lines otlp-proto jaeger zipkin; do
  f="$T/p-$fmt-5ms"
  "$S" correct --reference node-gateway "$f" -o "$f.fixed" 2>"$T/err"; rc=$?
  expect "correct $fmt exit 0" [ "$rc" = 0 ]
  "$S" check "$f.fixed" >/dev/null
  expect "correct $fmt: no violations after" [ $? = 0 ]
  expect "correct $fmt: applied offsets within 100us of the truth" applied_ok "$f.fixed" "$f.truth"
done
f="$T/p-jaeger-5ms"
"$S" correct --format input --reference node-gateway "$f" -o "$f.jfixed" 2>/dev/null
expect "correct --format input keeps Jaeger" jq -e '.data | length > 0' "$f.jfixed"
"$S" check "$f.jfixed" >/dev/null
expect "corrected Jaeger has no violations" [ $? = 0 ]
f="$T/drift"
"$S" correct --reference node-gateway "$f" -o "$f.fixed" 2>/dev/null
"$S" check "$f.fixed" >/dev/null
expect "correct with drift: no violations after" [ $? = 0 ]
big=$(( $(stat -c %s "$f") > 8388608 && $(wc -l <"$f.fixed") == 1 ))
expect "a document over 8 MiB is corrected whole (streamed, one line)" [ "$big" = 1 ]
"$S" check --json "$f" | jq -c '{spans, pairs}' >"$T/drift.before"
"$S" check --json "$f.fixed" | jq -c '{spans, pairs}' >"$T/drift.after"
expect "correcting a document over 8 MiB keeps every span and pair" diff "$T/drift.before" "$T/drift.after"
"$S" correct --reference node-gateway - <"$T/rpc" >"$T/rpc.fixed" 2>/dev/null
"$S" check "$T/rpc.fixed" >/dev/null
expect "correct from stdin to stdout, rpc: no violations after" [ $? = 0 ]

# protobuf's own JSON field names (snake_case) are read and corrected too
D=$(dirname "$0")
"$S" check "$D/snake_case.json" >/dev/null
expect "snake_case OTLP JSON: the violation is seen" [ $? = 1 ]
"$S" correct --reference A "$D/snake_case.json" -o "$T/snake.fixed" 2>/dev/null
"$S" check "$T/snake.fixed" >/dev/null
expect "snake_case OTLP JSON: corrected in place" [ $? = 0 ]
expect "snake_case OTLP JSON: spelling kept" grep -q '"start_time_unix_nano"' "$T/snake.fixed"

# ---- errors and exit codes ---------------------------------------------------
"$S" check "$T/nope.json" 2>"$T/err"; rc=$?
expect "missing file: exit 66" [ "$rc" = 66 ]
expect "missing file: message names it" grep -q "nope.json" "$T/err"
printf '{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz"\n' >"$T/bad.json"
"$S" check "$T/bad.json" 2>"$T/err"; rc=$?
expect "malformed JSON: exit 65" [ "$rc" = 65 ]
expect "malformed JSON: file:line:col in message" grep -Eq "bad.json:[0-9]+:[0-9]+" "$T/err"
head -c 3000 "$T/p-otlp-proto-5ms" >"$T/trunc.pb"
"$S" check "$T/trunc.pb" 2>"$T/err"; rc=$?
expect "truncated protobuf: exit 65" [ "$rc" = 65 ]
expect "truncated protobuf: byte offset in message" grep -q "trunc.pb.*byte" "$T/err"
head -c 5000 "$T/p-zipkin-5ms" >"$T/trunc.zipkin"
"$S" check "$T/trunc.zipkin" 2>"$T/err"; rc=$?
expect "truncated Zipkin: exit 65" [ "$rc" = 65 ]
"$S" check 2>/dev/null; expect "no input: exit 2" [ $? = 2 ]
"$S" check --bogus "$f" 2>/dev/null; expect "unknown option: exit 2" [ $? = 2 ]
"$S" check --format xml "$f" 2>/dev/null; expect "unknown format: exit 2" [ $? = 2 ]
"$S" estimate --reference no-such-node "$f" 2>/dev/null; expect "unknown reference: exit 2" [ $? = 2 ]
"$S" frobnicate 2>/dev/null; expect "unknown command: exit 2" [ $? = 2 ]
"$S" check --help | grep -q "usage: skewscope check"; expect "check --help" [ $? = 0 ]
"$S" correct --format zipkin --reference node-gateway "$T/p-jaeger-5ms" -o "$T/x" 2>/dev/null; rc=$?
expect "correct to a foreign format: exit 2" [ "$rc" = 2 ]
expect "failed correct leaves no output" [ ! -e "$T/x" ]
: >"$T/empty.json"
"$S" check --json "$T/empty.json" >"$T/empty.check"; rc=$?
expect "empty input: exit 0, no spans" jq -e '.spans == 0' "$T/empty.check"

# serve: option errors, a busy port, --duration, a simulated file posted to it
"$S" serve --warn-share 2 2>"$T/err"; rc=$?
expect "serve: bad --warn-share: exit 2" [ "$rc" = 2 ]
"$S" serve --kafka-topic spans 2>/dev/null; expect "serve: topic without brokers: exit 2" [ $? = 2 ]
"$S" serve --listen 127.0.0.1:99999 2>"$T/err"; rc=$?
expect "serve: bad port: exit 69" [ "$rc" = 69 ]
expect "serve: bad port: message" grep -q "port must be 0-65535" "$T/err"
# (captured first: grep -q stops reading at its match, and under pipefail
# serve's SIGPIPE on a help text over the pipe's 4 KiB would fail the test)
"$S" serve --help >"$T/serve.help"
expect "serve --help" grep -q "usage: skewscope serve" "$T/serve.help"
"$S" serve --listen 127.0.0.1:0 --duration 30s --reference node-gateway \
    --assembly-window 200ms --update-interval 100ms >"$T/serve.out" 2>"$T/serve.log" &
spid=$!
. "$(dirname "$0")/../../scripts/serve_port.sh"
port=$(serve_port "$T/serve.out")
expect "serve: announces its port" [ -n "$port" ]
"$S" serve --listen "127.0.0.1:$port" 2>"$T/err2"; rc=$?
expect "serve: port in use: exit 69" [ "$rc" = 69 ]
expect "serve: port in use: message" grep -q "Address already in use" "$T/err2"
"$S" simulate --seed 7 --requests 40 --skew prefill=5ms --format otlp-json -o "$T/serve-in.json" 2>/dev/null
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
  --data-binary @"$T/serve-in.json" "http://127.0.0.1:$port/v1/traces")
expect "serve: POST a simulated trace file: 200" [ "$code" = 200 ]
sleep 1.5
curl -s "http://127.0.0.1:$port/api/v1/status" >"$T/status.json"
expect "serve: status: prefill within 100us of +5 ms" \
  jq -e '.nodes[] | select(.node == "node-prefill") | (.offset_ns - 5000000) | fabs < 100000' "$T/status.json"
expect "serve: status: every span accepted and processed" \
  jq -e "(.spans.accepted == $(jq '[.resourceSpans[].scopeSpans[].spans | length] | add' "$T/serve-in.json")) and (.spans.processed == .spans.accepted)" "$T/status.json"
curl -s "http://127.0.0.1:$port/metrics" >"$T/metrics.txt"
expect "serve: metrics: prefill offset" grep -Eq '^skewscope_clock_offset_seconds\{domain="node-prefill"\} 0\.00(49|50)' "$T/metrics.txt"
kill -TERM "$spid"; wait "$spid"; rc=$?
expect "serve: SIGTERM: exit 0" [ "$rc" = 0 ]
expect "serve: stop summary logged" grep -q '"event":"stopped"' "$T/serve.log"

# Further parts, one file per topic (tests/cli/part_*.sh), sharing the
# helpers above (S, T, sim, expect, ok, bad).
for part in "$(dirname "$0")"/part_*.sh; do
  [ -e "$part" ] || continue
  echo "-- $(basename "$part")"
  . "$part"
done

echo
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
