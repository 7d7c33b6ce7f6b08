# part_faults: `skewscope testbed --fault ... --case-dir` and `skewscope
# experiment rca-dataset` (sourced by run.sh: S, T, expect, ok, bad). Real
# stage processes; short runs with the fault in the middle.

# ---- usage errors: named, exit 2, nothing started --------------------------
for spec in "disk@prefill" "cpu" "gpu-throttle@tokenizer" "memory@prefill:lots" \
            "network@prefill:5ms/9ms" "cpu@prefill:0"; do
  "$S" testbed --fault "$spec" >"$T/f.out" 2>"$T/f.err"; rc=$?
  expect "testbed --fault $spec: usage error" [ "$rc" = 2 ]
done
expect "the bad spec is quoted" grep -q "memory fault: 'lots'" <("$S" testbed --fault memory@prefill:lots 2>&1)
"$S" testbed --fault cpu@decode-5 --requests 1 >"$T/f.out" 2>"$T/f.err"; rc=$?
expect "testbed --fault at an unknown stage: usage error" [ "$rc" = 2 ]
expect "the unknown stage is named" grep -q "decode-5" "$T/f.err"
"$S" experiment rca-dataset --kinds disk >"$T/f.out" 2>&1; rc=$?
expect "rca-dataset --kinds disk: usage error" [ "$rc" = 2 ]
"$S" experiment rca-dataset --stages gateway --kinds gpu-throttle >"$T/f.out" 2>&1; rc=$?
expect "rca-dataset with no case to run: usage error" [ "$rc" = 2 ]
expect "rca-dataset --help names the layout" \
  grep -q "OUT/<stage>_<fault>/<rep>" <("$S" experiment rca-dataset --help)

# ---- one case through the CLI -------------------------------------------------
"$S" testbed --duration 9s --concurrency 2 --hop-delay 2ms --max-new 8 \
  --fault network@prefill:15ms/0ms --fault-at 4s --fault-for 3s \
  --case-dir "$T/ds" >"$T/tb.out" 2>"$T/tb.err"; rc=$?
expect "testbed --case-dir exits 0" [ "$rc" = 0 ]
c="$T/ds/prefill_network/1"
expect "the case folder is <service>_<fault>/<n>" test -s "$c/data.csv"
for f in inject_time.txt traces.csv logs.csv logs.jsonl; do
  expect "the case has $f" test -s "$c/$f"
done
expect "no OTLP file is left in the case" test ! -e "$c/spans.otlp.jsonl"
expect "inject_time.txt is the fault's start, a whole second" \
  grep -qE "fault: +network at prefill from $(cat "$c/inject_time.txt")\.000 " "$T/tb.out"
expect "data.csv: time first, <stage>_<metric> columns" \
  awk -F, 'NR == 1 { exit !($1 == "time" && /,prefill_latency-90,/ && /,decode-1_sm-clock,/ && /,gateway_cpu,/) }' "$c/data.csv"
expect "data.csv: one row per second" \
  awk -F, 'NR > 2 && $1 != prev + 1 { exit 1 } NR > 1 { prev = $1 }' "$c/data.csv"
expect "traces.csv has RCAEval's columns" \
  grep -q "^time,traceID,spanID,parentSpanID,serviceName,methodName,operationName,startTimeMillis,startTime,duration,statusCode$" "$c/traces.csv"
expect "logs.csv has rca-llm's columns" grep -q "^time,timestamp,container_name,message$" "$c/logs.csv"
expect "logs.csv leaves the fault lines out" sh -c "! grep -q 'fault' '$c/logs.csv'"
expect "logs.jsonl has them" grep -q '"event":"fault","fault":"network","phase":"start"' "$c/logs.jsonl"
# the inbound hop of prefill grows by about 15 ms in the window (more when
# a slow host queues messages behind the held ones), no other's
hop_delta() { # STAGE
  awk -F, -v col="$1_latency-hop" -v inj="$(cat "$c/inject_time.txt")" '
    NR == 1 { for (i = 1; i <= NF; i++) if ($i == col) k = i; next }
    $k == "" { next }
    $1 >= inj + 1 && $1 < inj + 3 { d += $k; nd++ }
    $1 < inj && NR > 3 { b += $k; nb++ }
    END { if (nd && nb) printf "%.4f\n", d / nd - b / nb; else print "none" }' "$c/data.csv"
}
between() { # VALUE LO HI: LO < VALUE < HI (prints VALUE for the log)
  echo "$1"; awk -v d="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(d != "none" && d > lo && d < hi) }'
}
expect "network@prefill: prefill's inbound hop +15 ms" between "$(hop_delta prefill)" 0.008 0.030
expect "network@prefill: tokenizer's inbound hop does not rise" between "$(hop_delta tokenizer)" -1 0.008
"$S" testbed --duration 5s --concurrency 2 --hop-delay 2ms --max-new 8 \
  --fault network@prefill:15ms/0ms --fault-at 2s --fault-for 2s \
  --case-dir "$T/ds" >/dev/null 2>&1
expect "a second run of the same case is run 2" test -s "$T/ds/prefill_network/2/data.csv"

# ---- the dataset command --------------------------------------------------------
"$S" experiment rca-dataset --reps 1 --kinds memory --stages tokenizer \
  --memory 64MiB --run-for 6 --fault-at 2 --fault-for 3 --out-dir "$T/rd" \
  >"$T/rd.out" 2>"$T/rd.err"; rc=$?
expect "rca-dataset exits 0" [ "$rc" = 0 ]
expect "rca-dataset writes <stage>_<fault>/<rep>" test -s "$T/rd/tokenizer_memory/1/data.csv"
expect "rca-dataset reports progress on stderr" grep -q "^\[1/1\] .*tokenizer_memory/1" "$T/rd.err"
expect "rca-dataset: the tokenizer's memory grew by about 64 MiB" \
  awk '$1 ~ /tokenizer_memory/ { d = $5 - $4; exit !(d > 30e6 && d < 75e6) }' "$T/rd.out"
