#!/usr/bin/env bash
# The main job on an embedded default: simulate an inference pipeline
# (gateway -> tokenizer -> prefill -> 2 decode ranks -> detokenizer ->
# gateway, Kafka-like one-way hops of >= 2 ms) whose prefill clock is 5 ms
# ahead, then check it, estimate every clock, correct it and check again.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
make -j2 >/dev/null
out=${DEMO_DIR:-build/demo}
mkdir -p "$out"
bin=build/skewscope

echo "\$ skewscope simulate --requests 300 --skew prefill=5ms -o $out/traces.json --truth $out/truth.json"
$bin simulate --requests 300 --skew prefill=5ms -o "$out/traces.json" --truth "$out/truth.json"
echo
echo "\$ skewscope check $out/traces.json"
$bin check "$out/traces.json" || echo "(exit $?: violations found)"
echo
echo "\$ skewscope estimate --reference node-gateway $out/traces.json"
$bin estimate --reference node-gateway "$out/traces.json"
echo
echo "\$ skewscope correct --reference node-gateway $out/traces.json -o $out/fixed.json"
$bin correct --reference node-gateway "$out/traces.json" -o "$out/fixed.json"
echo
echo "\$ skewscope check $out/fixed.json"
$bin check "$out/fixed.json"

# Live: `skewscope serve` takes the OTLP/HTTP spans of a real testbed run
# (each stage its own process and clock, prefill 5 ms ahead) and reports
# the clocks it sees, warns, and counts.
echo
echo "\$ skewscope serve --listen 127.0.0.1:0 --reference node-gateway &"
$bin serve --listen 127.0.0.1:0 --reference node-gateway --assembly-window 500ms \
    --update-interval 250ms >"$out/serve.out" 2>"$out/serve.log" &
serve_pid=$!
trap 'kill $serve_pid 2>/dev/null || true' EXIT
. scripts/serve_port.sh
port=$(serve_port "$out/serve.out") ||
    { echo "serve did not start:" >&2; cat "$out/serve.log" >&2; exit 1; }
cat "$out/serve.out"
echo "\$ skewscope testbed --requests 60 --tp 1 --hop-delay 2ms --skew prefill=5ms --otlp-endpoint http://127.0.0.1:$port/v1/traces"
$bin testbed --requests 60 --tp 1 --max-new 4 --hop-delay 2ms --skew prefill=5ms \
    --otlp-endpoint "http://127.0.0.1:$port/v1/traces" | grep -E "requests:|identical"
sleep 2
echo "\$ curl -s http://127.0.0.1:$port/api/v1/status | jq '.nodes[] | {node, offset_ns, lower_ns, upper_ns}'"
curl -s "http://127.0.0.1:$port/api/v1/status" |
    jq -c '.nodes[] | {node, offset_ns, lower_ns, upper_ns}'
echo "\$ curl -s http://127.0.0.1:$port/metrics | grep -E '^skewscope_(clock_offset_seconds|edge_violations_total|spans_accepted_total|warnings_total)'"
curl -s "http://127.0.0.1:$port/metrics" |
    grep -E '^skewscope_(clock_offset_seconds|edge_violations_total|spans_accepted_total|warnings_total)'
echo "(first warning logged by serve:)"
grep -m1 skew_budget_warning "$out/serve.log" || true
kill -TERM "$serve_pid"
wait "$serve_pid"
trap - EXIT
echo "serve stopped cleanly on SIGTERM"
