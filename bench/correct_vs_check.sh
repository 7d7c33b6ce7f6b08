#!/usr/bin/env bash
# correct against check on the same file (issue 10, "Speed and scale"):
# generate a simulated OTLP file (~320 MB of JSON at the default size), run
# `check` and `correct` on it RUNS times each, interleaved, and print each
# run's wall time, CPU time (user + system) and peak RSS, the medians, and
# the ratios correct/check. correct writes its output to a file next to the
# input (removed before each run, so that no run pays for deleting the
# previous output) and also, once per round, to /dev/null (the rewriting
# alone, without the file system's cost of 1.75x the input's bytes).
#
#   bench/correct_vs_check.sh                      # OTLP JSON, 28000 requests
#   FORMAT=otlp-proto OUT_FORMAT=input bench/correct_vs_check.sh  # protobuf
#   FORMAT=otlp-proto bench/correct_vs_check.sh    # protobuf -> OTLP JSON
#   FORMAT=jaeger REQUESTS=5000 bench/correct_vs_check.sh
#   SKEWSCOPE=build-x/skewscope RUNS=5 DIR=/var/tmp bench/correct_vs_check.sh
#
# Wall times on a shared machine follow its load (printed); the CPU-time
# ratio is the steadier figure.
set -euo pipefail
cd "$(dirname "$0")/.."
S=${SKEWSCOPE:-build/skewscope}
REQUESTS=${REQUESTS:-28000}
FORMAT=${FORMAT:-otlp-json}
RUNS=${RUNS:-3}
OUT_FORMAT=${OUT_FORMAT:-} # correct --format (default: OTLP JSON)
DIR=${DIR:-${TMPDIR:-/tmp}/skewscope-bench-correct}
mkdir -p "$DIR"
in="$DIR/in.$FORMAT.$REQUESTS"
out="$DIR/out.$FORMAT"
fmt=()
[ -n "$OUT_FORMAT" ] && fmt=(--format "$OUT_FORMAT")
[ -x "$S" ] || { echo "no binary $S (make, or set SKEWSCOPE)" >&2; exit 2; }
if [ ! -s "$in" ]; then
  "$S" simulate --seed 3 --requests "$REQUESTS" --duration 3600 \
    --skew node-prefill=5ms --drift node-decode-1=20 --format "$FORMAT" \
    -o "$in"
fi
cat "$in" >/dev/null # page cache warm for every run alike

# One measurement: "wall cpu rss_kib" of the command.
measure() {
  local t
  t=$(mktemp)
  /usr/bin/time -f "%e %U %S %M" -o "$t" "$@" >/dev/null 2>&1 || true
  # (time puts "Command exited with non-zero status" first: check exits 1
  # when it finds violations)
  tail -n 1 "$t" | awk '{printf "%.2f %.2f %d\n", $1, $2 + $3, $4}'
  rm -f "$t"
}

median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo |
  cut -d: -f2 | sed 's/^ //'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "input: $in ($(du -hL "$in" | cut -f1)), $FORMAT -> ${OUT_FORMAT:-otlp-json}, $RUNS runs each"
printf '%-14s %8s %8s %10s\n' run wall_s cpu_s rss_mib
res="$DIR/results.$$"
: >"$res"
for i in $(seq 1 "$RUNS"); do
  read -r w c m < <(measure "$S" check "$in")
  echo "check $w $c $m" >>"$res"
  printf '%-14s %8s %8s %10d\n' "check" "$w" "$c" $((m / 1024))
  rm -f "$out"
  read -r w c m < <(measure "$S" correct "${fmt[@]}" "$in" -o "$out")
  echo "correct $w $c $m" >>"$res"
  printf '%-14s %8s %8s %10d\n' "correct" "$w" "$c" $((m / 1024))
  read -r w c m < <(measure "$S" correct "${fmt[@]}" "$in" -o /dev/null)
  echo "correct-null $w $c $m" >>"$res"
  printf '%-14s %8s %8s %10d\n' "correct>null" "$w" "$c" $((m / 1024))
done
[ -s "$out" ] && echo "output: $(du -h "$out" | cut -f1)"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
for what in check correct correct-null; do
  for col in 2 3 4; do
    awk -v w="$what" -v c="$col" '$1 == w {print $c}' "$res" | median
  done | paste -sd' ' | sed "s/^/$what /"
done >"$res.med"
awk '
  {w[$1] = $2; c[$1] = $3; m[$1] = $4}
  END {
    printf "median %-13s wall %.2f s, cpu %.2f s, peak RSS %d MiB\n", "check", w["check"], c["check"], m["check"] / 1024
    printf "median %-13s wall %.2f s, cpu %.2f s, peak RSS %d MiB\n", "correct", w["correct"], c["correct"], m["correct"] / 1024
    printf "median %-13s wall %.2f s, cpu %.2f s, peak RSS %d MiB\n", "correct>null", w["correct-null"], c["correct-null"], m["correct-null"] / 1024
    printf "ratio correct/check:      wall %.2fx, cpu %.2fx, memory %.2fx\n", w["correct"] / w["check"], c["correct"] / c["check"], m["correct"] / m["check"]
    printf "ratio correct>null/check: wall %.2fx, cpu %.2fx, memory %.2fx\n", w["correct-null"] / w["check"], c["correct-null"] / c["check"], m["correct-null"] / m["check"]
  }' "$res.med"
rm -f "$res" "$res.med" "$out"
