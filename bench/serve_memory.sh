#!/usr/bin/env bash
# bench/serve_memory.sh: does serve's resident memory level off under
# steady load? Starts the counting sink and `skewscope serve` forwarding to
# it (as bench/serve.sh), then runs PHASES: "load:S" sends for S seconds
# from CONNECTIONS connections as fast as serve takes them, "idle:S" sends
# nothing for S seconds. Every SAMPLE_S seconds it prints one line: time,
# phase, serve's RSS (VmRSS), its heap in use (skewscope_heap_in_use_bytes,
# when /metrics has it: allocated, resident or not), its address space
# (VmSize) and memory mappings (a count that must level off too: the
# kernel allows vm.max_map_count, 65,530), the spans queued and assembling,
# and the spans
# accepted so far. At the end: the peak RSS and the RSS at the end of each
# phase, to compare with the bound that the flags set (README: "Memory").
#
# Environment (defaults): PHASES="load:600" (a 10-minute load test; e.g.
#   "load:60 idle:20 load:60 idle:20" shows whether idle RSS climbs from one
#   load phase to the next) SAMPLE_S=5 CONNECTIONS=4 SPANS=100 DOMAINS=4
#   SERVE_EXTRA="" (more serve flags) SKEWSCOPE=build/skewscope BUILD=build
#   KEEP=1 (keep the temp dir)
# This is a benchmark, not a test: run it on a quiet machine.
set -euo pipefail
cd "$(dirname "$0")/.."

PHASES=${PHASES:-load:600}
SAMPLE_S=${SAMPLE_S:-5}
CONNECTIONS=${CONNECTIONS:-4}
SPANS=${SPANS:-100}
DOMAINS=${DOMAINS:-4}
BUILD=${BUILD:-build}
S=${SKEWSCOPE:-$BUILD/skewscope}
L=$BUILD/bench/serve_load
N=$BUILD/bench/bench_null_sink
make -s -j2 BUILD="$BUILD" "$S" "$L" "$N"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/serve-memory.XXXXXX")
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT

wait_file() {
  local _
  for _ in $(seq 200); do [ -s "$1" ] && return 0; sleep 0.1; done
  echo "serve_memory.sh: timed out waiting for $1" >&2
  exit 1
}

metric() {
  awk -v n="$1" '$1 == n { v = $2 } END { printf "%.0f\n", v + 0 }' "$2"
}

# the downstream reads and discards (serve_load's counting sink would hold
# every span ID of a 10-minute run)
"$N" "$TMP/sink.port" >"$TMP/sink.out" 2>"$TMP/sink.err" &
PIDS+=($!)
wait_file "$TMP/sink.port"
PORT=$("$L" free-port)
# shellcheck disable=SC2086 # SERVE_EXTRA is a list of flags
"$S" serve --listen "127.0.0.1:$PORT" \
  --forward-otlp "http://127.0.0.1:$(cat "$TMP/sink.port")/v1/traces" \
  --spool-dir "$TMP/spool" ${SERVE_EXTRA:-} >"$TMP/serve.out" 2>"$TMP/serve.err" &
SPID=$!
PIDS+=("$SPID")
for _ in $(seq 200); do
  curl -sf -o /dev/null "http://127.0.0.1:$PORT/metrics" && break
  sleep 0.1
done
echo "serve: ${SERVE_EXTRA:-default flags}; phases: $PHASES; $CONNECTIONS connections x $SPANS spans per request"
printf "%6s %-6s %9s %9s %9s %6s %9s %10s %12s\n" t_s phase rss_mb heap_mb vsz_mb maps queued assembling accepted

sample() {
  local t=$1 phase=$2 rss
  rss=$(awk '/^VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$SPID/status")
  curl -sf "http://127.0.0.1:$PORT/metrics" >"$TMP/m.txt" || :
  printf "%6d %-6s %9s %9.1f %9.0f %6d %9d %10d %12d\n" "$t" "$phase" "$rss" \
    "$(awk '$1 == "skewscope_heap_in_use_bytes" { printf "%.1f", $2 / 1048576 }' "$TMP/m.txt")" \
    "$(awk '/^VmSize/ { print $2 / 1024 }' "/proc/$SPID/status")" \
    "$(wc -l <"/proc/$SPID/maps")" \
    "$(metric skewscope_queue_spans "$TMP/m.txt")" \
    "$(metric skewscope_assembly_spans "$TMP/m.txt")" \
    "$(metric skewscope_spans_accepted_total "$TMP/m.txt")"
  echo "$rss" >>"$TMP/rss.$phase"
  LAST_RSS=$rss
}

t=0
ends=()
for p in $PHASES; do
  kind=${p%%:*}
  secs=${p#*:}
  if [ "$kind" = load ]; then
    "$L" send --url "http://127.0.0.1:$PORT/v1/traces" \
      --connections "$CONNECTIONS" --spans-per-request "$SPANS" \
      --domains "$DOMAINS" --duration "$secs" >"$TMP/send.$t.out" 2>&1 &
    SEND=$!
  fi
  for _ in $(seq $((secs / SAMPLE_S))); do
    sleep "$SAMPLE_S"
    t=$((t + SAMPLE_S))
    sample "$t" "$kind"
  done
  if [ "$kind" = load ]; then
    wait "$SEND" || :
    grep -h '^RESULT' "$TMP/send.$((t - secs / SAMPLE_S * SAMPLE_S)).out" || :
  fi
  ends+=("$kind@${t}s:${LAST_RSS}MB")
done
echo "peak RSS: $(awk '/^VmHWM/ { printf "%.1f MB", $2 / 1024 }' "/proc/$SPID/status")"
awk '$1 == "skewscope_heap_trims_total" { n = $2 } $1 == "skewscope_heap_trim_seconds_total" { s = $2 }
  END { if (n) printf "malloc_trim: %d runs, %.2f ms each on average\n", n, s / n * 1000 }' "$TMP/m.txt"
echo "RSS at the end of each phase: ${ends[*]}"
