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
