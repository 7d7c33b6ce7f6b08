#!/usr/bin/env bash
# The host collector's overhead at 100 Hz: runs `skewscope collect
# --interval 10ms` (serving /metrics and recording to a temporary file, as
# in production) for DURATION seconds (default 60) and prints its CPU share
# (utime + stime from /proc/<pid>/stat over the run, divided by wall time),
# its resident memory at the end and at its peak (VmRSS, VmHWM), the rounds
# it ran and the deadlines it missed, and the recording's rate in bytes/s.
# Usage: bench/collect_overhead.sh [SKEWSCOPE] (default build/skewscope);
# EXTRA="--sources net,cpu" adds options; DURATION=10 for a quick look.
set -euo pipefail
S=${1:-${SKEWSCOPE:-build/skewscope}}
DURATION=${DURATION:-60}
EXTRA=${EXTRA:-}
T=$(mktemp -d /tmp/skewscope-collect-bench-XXXXXX)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT

hz=$(getconf CLK_TCK)
# utime + stime in clock ticks (fields 14 and 15 after the command name)
cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
now() { date +%s.%N; }

# shellcheck disable=SC2086
"$S" collect --interval 10ms --listen 127.0.0.1:0 --out "$T/rec.csv" $EXTRA \
  >"$T/out" 2>"$T/err" &
pid=$!
for _ in $(seq 100); do
  grep -q '(port ' "$T/out" 2>/dev/null && break
  sleep 0.1
done
port=$(sed -n 's/.*(port \([0-9]*\)).*/\1/p' "$T/out")
[ -n "$port" ] || { echo "collect did not start:"; cat "$T/err"; exit 1; }
c0=$(cpu_ticks "$pid"); w0=$(now); b0=$(stat -c %s "$T/rec.csv")
sleep "$DURATION"
c1=$(cpu_ticks "$pid"); w1=$(now); b1=$(stat -c %s "$T/rec.csv")
curl -s "http://127.0.0.1:$port/metrics" >"$T/metrics"
rss=$(awk '/^VmRSS/ { print $2 }' "/proc/$pid/status")
hwm=$(awk '/^VmHWM/ { print $2 }' "/proc/$pid/status")
kill -TERM "$pid"
wait "$pid" || true
pid=
rounds=$(awk '/^skewscope_collect_rounds_total / { print $2 }' "$T/metrics")
overruns=$(awk '/^skewscope_collect_overruns_total / { print $2 }' "$T/metrics")
series=$(awk '/^skewscope_collect_series / { print $2 }' "$T/metrics")
up=$(grep -c '^skewscope_collect_source_up{source="[a-z]*"} 1$' "$T/metrics" || true)
awk -v c0="$c0" -v c1="$c1" -v w0="$w0" -v w1="$w1" -v hz="$hz" \
    -v rss="$rss" -v hwm="$hwm" -v b0="$b0" -v b1="$b1" -v r="$rounds" \
    -v o="$overruns" -v s="$series" -v up="$up" -v n="$(nproc)" 'BEGIN {
  wall = w1 - w0; cpu = (c1 - c0) / hz
  printf "collect --interval 10ms for %.1f s (%d sources up, %d series, %d CPUs)\n", wall, up, s, n
  printf "  CPU share:  %.2f %% of one core (%.3f s CPU; %.0f us of CPU per 10 ms interval)\n", 100 * cpu / wall, cpu, 1e6 * cpu / (wall * 100)
  printf "  RSS:        %.1f MiB at the end, %.1f MiB peak\n", rss / 1024, hwm / 1024
  printf "  rounds:     %d since start, %d deadlines missed\n", r, o
  printf "  recording:  %.0f bytes/s\n", (b1 - b0) / wall
}'
grep -o 'left out: .*' "$T/err" | sed 's/^/  /' || true
