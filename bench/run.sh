#!/usr/bin/env bash
# Benchmarks for BENCHMARKS.md: generate ~1,000,000 simulated spans as OTLP
# JSON and OTLP protobuf, then time check and estimate (parse included) on
# one core, a plain jansson parse of the same JSON for scale, and the peak
# memory of the whole command.
#   bench/run.sh            # 31250 requests = 1,000,000 spans
#   REQUESTS=3000 bench/run.sh   # a quick run
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
make -j2 bench >/dev/null
B=${BENCH_DIR:-build/bench-data}
REQUESTS=${REQUESTS:-31250}
mkdir -p "$B"
S=build/skewscope
for fmt in otlp-json otlp-proto; do
  f="$B/spans.$fmt"
  [ -s "$f" ] && [ "$(cat "$f.requests" 2>/dev/null)" = "$REQUESTS" ] ||
    { $S simulate --requests "$REQUESTS" --duration 600 --skew prefill=5ms \
        --format "$fmt" -o "$f" && echo "$REQUESTS" >"$f.requests"; }
done
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
for fmt in otlp-json otlp-proto; do
  f="$B/spans.$fmt"
  echo "== $fmt ($(du -h "$f" | cut -f1))"
  cat "$f" >/dev/null # warm the page cache
  for mode in check estimate; do
    taskset -c 0 build/bench/bench_ingest $mode "$f"
  done
  [ $fmt = otlp-json ] && taskset -c 0 build/bench/bench_ingest jansson "$f"
  /usr/bin/time -f "skewscope check: %e s, peak RSS %M KiB" $S check "$f" >/dev/null || true
done
echo "== ID patterns (bench_ids: 1,000,000 spans, load + index + pairs + check)"
taskset -c 0 build/bench/bench_ids 1000000
