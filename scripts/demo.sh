#!/usr/bin/env bash
# The main job on an embedded default, in three parts (about 2 minutes):
#  1. clocks: simulate an inference pipeline (gateway -> tokenizer ->
#     prefill -> 2 decode ranks -> detokenizer -> gateway, Kafka-like one-way
#     hops of >= 2 ms) whose prefill clock is 5 ms ahead; check it, estimate
#     every clock, correct it and check again; then the same live: `serve`
#     fed by the real multi-process testbed;
#  2. root cause: one testbed run with decode-1's GPU power-capped (speed
#     0.5) and decode-0's clock 3 ms ahead, recorded as an RCAEval case;
#     skewscope's `llm` method beside RCAEval's NSigma;
#  3. imbalance: the same run's traces (decode-0's offset is not called a
#     straggler) and a scrape of a PCIe link that trained down to x8.
# BUILD=DIR builds and runs DIR/skewscope (default build); NO_BUILD=1 runs
# it as it is.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
build=${BUILD:-build}
[ -n "${NO_BUILD:-}" ] || make -j2 BUILD="$build" "$build/skewscope" >/dev/null
out=${DEMO_DIR:-$build/demo}
mkdir -p "$out"
rm -rf "$out/cases" # the testbed numbers a case after those already there
bin=$build/skewscope

echo "== 1. Clocks =="
echo "\$ skewscope simulate --requests 300 --skew prefill=5ms -o $out/traces.json --truth $out/truth.json"
$bin simulate --requests 300 --skew prefill=5ms -o "$out/traces.json" --truth "$out/truth.json"
echo
echo "\$ skewscope check $out/traces.json"
$bin check "$out/traces.json" || echo "(exit $?: violations found)"
echo
echo "\$ skewscope estimate $out/traces.json"
$bin estimate "$out/traces.json"
echo
echo "\$ skewscope correct $out/traces.json -o $out/fixed.json"
$bin correct "$out/traces.json" -o "$out/fixed.json"
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
echo "\$ skewscope testbed --requests 60 --tp 1 --max-new 4 --hop-delay 2ms --skew prefill=5ms --otlp-endpoint http://127.0.0.1:$port/v1/traces"
$bin testbed --requests 60 --tp 1 --max-new 4 --hop-delay 2ms --skew prefill=5ms \
    --otlp-endpoint "http://127.0.0.1:$port/v1/traces" | grep -E "requests:|identical"
sleep 2
echo "\$ curl -s http://127.0.0.1:$port/api/v1/status | jq -c '.nodes[] | {node, offset_ns, lower_ns, upper_ns}'"
curl -s "http://127.0.0.1:$port/api/v1/status" |
    jq -c '.nodes[] | {node, offset_ns, lower_ns, upper_ns}'
echo "\$ curl -s http://127.0.0.1:$port/metrics | grep -E '^skewscope_(clock_offset_seconds|edge_violations_total|spans_accepted_total|warnings_total)'"
curl -s "http://127.0.0.1:$port/metrics" |
    grep -E '^skewscope_(clock_offset_seconds|edge_violations_total|spans_accepted_total|warnings_total)'
echo "(first warning logged by serve:)"
grep -m1 skew_budget_warning "$out/serve.log" || true
echo "(the live page: http://127.0.0.1:$port/ while serve runs)"
kill -TERM "$serve_pid"
wait "$serve_pid"
trap - EXIT
echo "serve stopped cleanly on SIGTERM"

# Root cause: a real fault in the testbed, recorded as an RCAEval case
# (data.csv from 1 s scrapes of every stage, inject_time.txt, traces.csv,
# logs.csv). A power cap halves decode-1's SM clock; nothing at decode-1
# rises, which is what the rise-only RCAEval methods look for.
echo
echo "== 2. Root cause =="
echo "\$ skewscope testbed --duration 24s --hop-delay 2ms --skew decode-0=3ms \\"
echo "      --fault gpu-throttle@decode-1 --fault-at 12s --fault-for 12s --case-dir $out/cases --out $out/tb.json"
$bin testbed --duration 24s --hop-delay 2ms --skew decode-0=3ms \
    --fault gpu-throttle@decode-1 --fault-at 12s --fault-for 12s \
    --case-dir "$out/cases" --out "$out/tb.json" 2>/dev/null |
    grep -E "^(requests|output identical|fault|case):"
case=$out/cases/decode-1_gpu/1
echo "\$ skewscope rca $case --method llm --top 3"
$bin rca "$case" --method llm --top 3
echo "\$ skewscope rca $case --method nsigma --top 3"
$bin rca "$case" --method nsigma --top 3

# Imbalance: the run's collectives on one clock. decode-0 arrives 3 ms
# "late" on its own clock only, so it is a note, not a straggler.
echo
echo "== 3. Imbalance =="
echo "\$ skewscope imbalance --traces $out/tb.json"
$bin imbalance --traces "$out/tb.json" || echo "(exit $?: findings)"
# A testbed run with a condition: decode-1 slowed (a tensor-parallel
# straggler) from 8 s, and the same detectors on its traces and scrapes.
echo "\$ skewscope experiment imbalance --reps 1 --conditions clock-offset,tp-straggler"
$bin experiment imbalance --reps 1 --conditions clock-offset,tp-straggler \
    --out-dir "$out/imbalance" 2>/dev/null || echo "(exit $?: a goal missed)"
echo "\$ skewscope imbalance --traces .../tp-straggler/1/traces.json .../scrapes.prom"
$bin imbalance --traces "$out/imbalance/tp-straggler/1/traces.json" \
    "$out/imbalance/tp-straggler/1/scrapes.prom" | head -12 || true
# A Prometheus scrape of a GPU host, one a second for 30 s: its PCIe link
# drops from x16 to x8 at 10 s.
awk 'BEGIN {
  for (k = 0; k <= 30; k++) {
    printf "# SCRAPE %d.5 gpu-host-a\n", 1796300000 + k
    print "# TYPE node_pcidevice_current_link_width gauge"
    printf "node_pcidevice_current_link_width{segment=\"0000\",bus=\"3b\",device=\"00\",function=\"0\"} %d\n", (k >= 10 ? 8 : 16)
    print "node_pcidevice_max_link_width{segment=\"0000\",bus=\"3b\",device=\"00\",function=\"0\"} 16"
  }
}' >"$out/pcie.prom"
echo "\$ skewscope imbalance $out/pcie.prom     # 31 scrapes; the link drops to x8 at 10 s"
$bin imbalance "$out/pcie.prom" || echo "(exit $?: findings)"
