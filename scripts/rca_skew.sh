#!/bin/sh
# rca_skew.sh: is clock skew part of why trace-based RCA methods fail?
# (issue 8). Records testbed runs with one skewed stage and an injected
# fault as RCAEval cases, corrects each run's spans with `skewscope
# correct`, and scores microrank and tracerca (RCAEval's defaults and the
# papers' modes) on the cases as recorded and after correction.
#
#   scripts/rca_skew.sh [--out DIR] [--skew STAGE=D] [--hops oneway|rpc]
#                       [--faults "KIND@STAGE ..."] [--reps N]
#                       [--duration D] [--fault-at D] [--fault-for D]
#                       [--hop-delay D] [--control]
#
# Defaults: --out build/rca-skew, --skew prefill=5ms, --hops oneway,
# --hop-delay 2ms, --duration 20s, --fault-at 8s, --fault-for 8s, --reps 1,
# faults: network, cpu and gpu-throttle at prefill and at decode-0/1 (six
# cases, about a minute each on a 2-core machine). --control also records
# every case without skew (OUT/noskew), to show how much two runs differ
# anyway.
#
# Needs the skewscope binary ($SKEWSCOPE, default build/skewscope) and the
# driver bench/rca_skew ($RCA_SKEW, default build/bench/rca_skew; `make
# build/bench/rca_skew`).
#
# Writes:
#   OUT/skewed/<stage>_<fault>/<n>/     the case as recorded (data.csv,
#       inject_time.txt, logs.csv, traces.csv from the skewed spans),
#       spans.otlp.jsonl (the raw spans), spans.corrected.jsonl,
#       estimate.txt (the offsets `correct` applied)
#   OUT/corrected/<stage>_<fault>/<n>/  the same case, traces.csv from the
#       corrected spans
#   OUT/compare.tsv      per case and method: the true service's rank
#       before and after correction, whether the ranking changed, how many
#       spans changed side of the inject time or latency class, the largest
#       change of a span's duration; then AC@1/AC@3/Avg@5 on both sides
#   OUT/eval_skewed.json, OUT/eval_corrected.json   `skewscope rca-eval`
#       on both datasets (microrank, tracerca with RCAEval's defaults)
# Exit: 0, or the first failing step's status.
set -eu

BIN=${SKEWSCOPE:-build/skewscope}
DRIVER=${RCA_SKEW:-build/bench/rca_skew}
OUT=build/rca-skew
SKEW=prefill=5ms
HOPS=oneway
HOPDELAY=2ms
DURATION=20s
FAULT_AT=8s
FAULT_FOR=8s
REPS=1
CONTROL=0
FAULTS="network@prefill network@decode-0 cpu@prefill cpu@decode-1 gpu-throttle@prefill gpu-throttle@decode-0"

usage() {
    sed -n '2,40p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
}

while [ $# -gt 0 ]; do
    case $1 in
    --out) OUT=$2; shift 2 ;;
    --skew) SKEW=$2; shift 2 ;;
    --hops) HOPS=$2; shift 2 ;;
    --hop-delay) HOPDELAY=$2; shift 2 ;;
    --faults) FAULTS=$2; shift 2 ;;
    --reps) REPS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --fault-at) FAULT_AT=$2; shift 2 ;;
    --fault-for) FAULT_FOR=$2; shift 2 ;;
    --control) CONTROL=1; shift ;;
    -h|--help) usage ;;
    *) echo "rca_skew.sh: unknown option $1" >&2; usage ;;
    esac
done

[ -x "$BIN" ] || { echo "rca_skew.sh: no skewscope binary at $BIN" >&2; exit 2; }
[ -x "$DRIVER" ] || { echo "rca_skew.sh: no driver at $DRIVER (make $DRIVER)" >&2; exit 2; }
mkdir -p "$OUT/work"

# record DATASET SKEWFLAGS FAULT: one testbed run as a case; prints its folder
record() {
    log="$OUT/work/testbed.log"
    spans="$OUT/work/spans.otlp.jsonl"
    # shellcheck disable=SC2086 # $2 is zero or two words on purpose
    "$BIN" testbed --duration "$DURATION" --concurrency 2 --hops "$HOPS" \
        --hop-delay "$HOPDELAY" $2 --no-internal-spans --fault "$3" \
        --fault-at "$FAULT_AT" --fault-for "$FAULT_FOR" --out "$spans" \
        --case-dir "$OUT/$1" >"$log" 2>&1 || {
        echo "rca_skew.sh: testbed failed, see $log" >&2
        cat "$log" >&2
        exit 1
    }
    dir=$(sed -n 's/^case: *\(.*\) ([0-9]* scrapes)$/\1/p' "$log")
    [ -d "$dir" ] || { echo "rca_skew.sh: no case folder in $log" >&2; exit 1; }
    mv "$spans" "$dir/spans.otlp.jsonl"
    echo "$dir"
}

pairs=""
n=0
total=$(($(echo "$FAULTS" | wc -w) * REPS))
rep=1
while [ $rep -le "$REPS" ]; do
    for f in $FAULTS; do
        n=$((n + 1))
        start=$(date +%s)
        dir=$(record skewed "--skew $SKEW" "$f")
        rel=${dir#"$OUT"/skewed/}
        "$BIN" estimate "$dir/spans.otlp.jsonl" >"$dir/estimate.txt" 2>&1
        "$BIN" correct "$dir/spans.otlp.jsonl" -o "$dir/spans.corrected.jsonl" 2>/dev/null
        # the conversion must give exactly the testbed's traces.csv
        "$DRIVER" convert "$dir/spans.otlp.jsonl" "$OUT/work/check.csv" 2>/dev/null
        cmp -s "$OUT/work/check.csv" "$dir/traces.csv" || {
            echo "rca_skew.sh: $dir: traces.csv conversion differs from the testbed's" >&2
            exit 1
        }
        cdir="$OUT/corrected/$rel"
        mkdir -p "$cdir"
        cp "$dir/data.csv" "$dir/inject_time.txt" "$dir/logs.csv" "$cdir/"
        "$DRIVER" convert "$dir/spans.corrected.jsonl" "$cdir/traces.csv" 2>/dev/null
        pairs="$pairs $dir $cdir"
        echo "[$n/$total] $f -> $dir ($(($(date +%s) - start)) s)" >&2
        if [ "$CONTROL" = 1 ]; then
            # record sets $dir: keep the skewed one in $sdir for the message
            sdir=$dir
            record noskew "" "$f" >/dev/null
            echo "[$n/$total] $f without skew -> $dir" >&2
            dir=$sdir
        fi
    done
    rep=$((rep + 1))
done

# shellcheck disable=SC2086 # pairs is a list of paths without blanks
"$DRIVER" compare $pairs >"$OUT/compare.tsv"
"$BIN" rca-eval "$OUT/skewed" --methods microrank,tracerca --json >"$OUT/eval_skewed.json"
"$BIN" rca-eval "$OUT/corrected" --methods microrank,tracerca --json >"$OUT/eval_corrected.json"
if [ "$CONTROL" = 1 ]; then
    "$BIN" rca-eval "$OUT/noskew" --methods microrank,tracerca --json >"$OUT/eval_noskew.json"
fi
sed -n '/^summary/,$p' "$OUT/compare.tsv"
echo "per case: $OUT/compare.tsv; rca-eval: $OUT/eval_*.json" >&2
