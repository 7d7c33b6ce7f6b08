# part_rca: `skewscope rca` and `skewscope rca-eval` on generated RCAEval
# case folders with a known root cause (sourced by run.sh: S, T, expect,
# ok, bad). A case: 4 services x (cpu, mem, latency-50, latency-90,
# error), 1200 rows at 1 s, noise from awk's seeded generator, and from the
# inject time on a rise of SHIFT noise deviations (default 8) in the faulty
# service's metric: cpu for fault cpu, mem for memory, latency-90 and error
# for network. A "messy" case also has empty and inf cells, a constant
# column and one constant before the inject time only. Where pandas and
# scikit-learn are installed, rca_reference.py recomputes NSigma, BARO and
# the evaluation from them and the outputs must agree.

rca_case() { # DIR SERVICE FAULT N SEED [SHIFT [messy]]
  local d="$1/$2_$3/$4"
  mkdir -p "$d"
  echo 1700000600 >"$d/inject_time.txt"
  awk -v root="$2" -v fault="$3" -v seed="$5" -v shift="${6:-8}" -v messy="${7:-}" 'BEGIN {
    srand(seed); split("frontend prefill decode detok", sv, " ")
    split("cpu mem latency-50 latency-90 error", mt, " ")
    split("0.4 200000000 0.05 0.12 0.01", base, " ")
    split("0.03 2000000 0.004 0.01 0.002", sd, " ")
    printf "time"
    for (s = 1; s <= 4; s++) for (m = 1; m <= 5; m++) printf ",%s_%s", sv[s], mt[m]
    if (messy) printf ",frontend_queue,prefill_flag"
    printf "\n"
    for (r = 0; r < 1200; r++) {
      t = 1700000000 + r; printf "%d", t
      for (s = 1; s <= 4; s++) for (m = 1; m <= 5; m++) {
        # a normal draw (Box-Muller)
        z = sqrt(-2 * log(1 - rand())) * cos(6.283185307 * rand())
        v = base[m] + sd[m] * z
        hit = (sv[s] == root) && ((fault == "cpu" && mt[m] == "cpu") ||
              (fault == "memory" && mt[m] == "mem") ||
              (fault == "network" && (mt[m] == "latency-90" || mt[m] == "error")))
        if (hit && t >= 1700000600) v += shift * sd[m]
        u = rand()
        if (messy && u < 0.01) printf ","
        else if (messy && u < 0.013) printf ",inf"
        else printf ",%.10g", v
      }
      if (messy) printf ",5,%d", (t >= 1700000600 ? r % 3 : 0)
      printf "\n"
    }
  }' >"$d/data.csv"
}

R="$T/rca"
rca_case "$R" decode cpu 1 1
rca_case "$R" decode cpu 2 2
rca_case "$R" prefill memory 1 3
rca_case "$R" frontend network 1 4
rca_case "$R" detok network 1 5
C="$R/decode_cpu/1"

# ---- rca: the faulty service first --------------------------------------
for m in nsigma baro; do
  "$S" rca "$C" --method "$m" --json >"$T/rca-$m.json"; rc=$?
  expect "rca $m: exit 0" [ "$rc" = 0 ]
  expect "rca $m: decode_cpu first" \
    jq -e '.method == "'"$m"'" and .ranking[0].service == "decode" and .ranking[0].metric == "decode_cpu" and (.ranking[0].score | type) == "number"' "$T/rca-$m.json"
  expect "rca $m: every candidate once, latency-50 dropped, -90 renamed" \
    jq -e '(.ranking | length) == 16 and ([.ranking[].metric] | unique | length) == 16 and
           ([.ranking[].metric | select(endswith("latency-50") or endswith("latency-90"))] | length) == 0 and
           any(.ranking[]; .metric == "decode_latency")' "$T/rca-$m.json"
  expect "rca $m: scores descending" jq -e '[.ranking[].score] | . == (sort | reverse)' "$T/rca-$m.json"
done
for c in "prefill_memory/1 prefill_mem" "frontend_network/1 frontend_" "detok_network/1 detok_"; do
  set -- $c
  "$S" rca "$R/$1" --method baro --json >"$T/rca-one.json"
  expect "rca baro: $1 found first" jq -e --arg p "$2" '.ranking[0].metric | startswith($p)' "$T/rca-one.json"
done

"$S" rca "$C" >"$T/rca.txt"; rc=$?
expect "rca text: default method baro, exit 0" [ "$rc" = 0 ]
expect "rca text: header and rank 1" grep -Eq '^ +1 +[0-9.e+-]+ +decode +decode_cpu$' "$T/rca.txt"
expect "rca text: inject time from inject_time.txt" grep -q 'inject  1700000600 (inject_time.txt)' "$T/rca.txt"
expect "rca text: top 10 by default" [ "$(grep -Ec '^ +[0-9]+ +' "$T/rca.txt")" = 10 ]
"$S" rca "$C" --method nsigma --top 3 --json >"$T/rca-top.json"
expect "rca --top 3" jq -e '.ranking | length == 3' "$T/rca-top.json"
"$S" rca "$C/data.csv" --json >"$T/rca-file.json"
expect "rca: a data.csv path means its folder" diff <(jq -S . "$T/rca-file.json") <(jq -S . "$T/rca-baro.json")

# --inject-time auto: BARO's change-point detection finds the step
"$S" rca "$R/frontend_network/1" --inject-time auto --json >"$T/rca-auto.json" 2>"$T/rca-auto.err"; rc=$?
expect "rca --inject-time auto: exit 0" [ "$rc" = 0 ]
expect "rca --inject-time auto: frontend first" jq -e '.ranking[0].service == "frontend"' "$T/rca-auto.json"
expect "rca --inject-time auto: the detected time near 1700000600" \
  awk '/inject time detected at/ { t = $7 + 0; ok = (t >= 1700000590 && t <= 1700000610) } END { exit !ok }' "$T/rca-auto.err"
# an explicit inject time replaces inject_time.txt: with one long before the
# fault, the anomalous window is mostly normal and scores drop
"$S" rca "$C" --method nsigma --inject-time 1700000300 --json >"$T/rca-early.json"
expect "rca --inject-time T: used" jq -e --slurpfile a "$T/rca-nsigma.json" \
  '.ranking[0].score != $a[0].ranking[0].score' "$T/rca-early.json"

# dummy and e_diagnosis: same seed, same ranking; another seed, another one
"$S" rca "$C" --method dummy --seed 3 --json >"$T/d3a.json"
"$S" rca "$C" --method dummy --seed 3 --json >"$T/d3b.json"
"$S" rca "$C" --method dummy --seed 4 --json >"$T/d4.json"
expect "rca dummy: same seed, same ranking" cmp -s "$T/d3a.json" "$T/d3b.json"
expect "rca dummy: another seed, another ranking" bash -c "! cmp -s '$T/d3a.json' '$T/d4.json'"
"$S" rca "$C" --method e_diagnosis --seed 9 --json >"$T/e1.json"
"$S" rca "$C" --method e_diagnosis --seed 9 --json >"$T/e2.json"
expect "rca e_diagnosis: same seed, same ranking, at most 3" \
  bash -c "cmp -s '$T/e1.json' '$T/e2.json' && jq -e '.ranking | length <= 3' '$T/e1.json' >/dev/null"
"$S" rca "$C" --method e_diagnosis --param root_cause_top_k=50 --param alpha=0.5 --json >"$T/e3.json"; rc=$?
expect "rca --param: accepted" [ "$rc" = 0 ]

# ---- errors and exit codes -----------------------------------------------
"$S" rca "$C" --method nope 2>"$T/err"; rc=$?
expect "rca unknown method: exit 2" [ "$rc" = 2 ]
expect "rca unknown method: named" grep -q "unknown method 'nope'" "$T/err"
"$S" rca "$C" --method e_diagnosis --param alpha=7 2>"$T/err"; rc=$?
expect "rca bad --param value: exit 2" [ "$rc" = 2 ]
"$S" rca "$C" --param zzz=1 2>"$T/err"; rc=$?
expect "rca unknown --param key: exit 2, named" bash -c "[ $rc = 2 ] && grep -q zzz '$T/err'"
"$S" rca "$C" --inject-time soon 2>/dev/null; rc=$?
expect "rca bad --inject-time: exit 2" [ "$rc" = 2 ]
"$S" rca 2>/dev/null; rc=$?
expect "rca without CASE: exit 2" [ "$rc" = 2 ]
"$S" rca "$T/no-such-case" 2>"$T/err"; rc=$?
expect "rca missing case: exit 66" [ "$rc" = 66 ]
mkdir -p "$T/rca-bad/x_cpu/1"
printf 'time,a_cpu\n1,2\n2,abc\n' >"$T/rca-bad/x_cpu/1/data.csv"
echo 2 >"$T/rca-bad/x_cpu/1/inject_time.txt"
"$S" rca "$T/rca-bad/x_cpu/1" 2>"$T/err"; rc=$?
expect "rca malformed data.csv: exit 65" [ "$rc" = 65 ]
expect "rca malformed data.csv: file, line and column" grep -q 'data.csv:3:3' "$T/err"
"$S" rca "$C" --method mmbaro 2>"$T/err"; rc=$?
expect "rca mmbaro without logs: exit 65, says what is missing" \
  bash -c "[ $rc = 65 ] && grep -q 'logts.csv or logs.csv' '$T/err'"
"$S" rca --help >"$T/help"; rc=$?
expect "rca --help: exit 0 and usage" bash -c "[ $rc = 0 ] && grep -q 'usage: skewscope rca CASE' '$T/help'"
"$S" rca --list >"$T/list"
expect "rca --list: every basic method" bash -c "for m in dummy nsigma baro e_diagnosis mmbaro; do grep -q \"^\$m \" '$T/list' || exit 1; done"

# ---- rca-eval -------------------------------------------------------------
"$S" rca-eval "$R" --methods nsigma,baro --json >"$T/ev1.json" 2>"$T/ev1.err"; rc=$?
expect "rca-eval: exit 0" [ "$rc" = 0 ]
expect "rca-eval: the two methods, in order" jq -e '[.methods[].method] == ["nsigma", "baro"]' "$T/ev1.json"
expect "rca-eval: faults and case counts from the folder names" \
  jq -e 'all(.methods[]; .faults.cpu.cases == 2 and .faults.memory.cases == 1 and .faults.network.cases == 2 and (.faults | keys) == ["cpu", "memory", "network"])' "$T/ev1.json"
expect "rca-eval: every case found first (AC@1 = Avg@5 = 1)" \
  jq -e 'all(.methods[].faults[]; .ac1 == 1 and .ac3 == 1 and .ac5 == 1 and .avg5 == 1)' "$T/ev1.json"
expect "rca-eval: seconds per case, no failure" \
  jq -e 'all(.methods[]; (.seconds_per_case | type) == "number" and .failures == [] and .fallbacks == 0)' "$T/ev1.json"
"$S" rca-eval "$R" --methods nsigma,baro,dummy,e_diagnosis --jobs 3 --json >"$T/ev3.json"
"$S" rca-eval "$R" --methods nsigma,baro,dummy,e_diagnosis --jobs 1 --json >"$T/ev1b.json"
expect "rca-eval: --jobs 3 scores as --jobs 1" \
  diff <(jq -S 'del(.methods[].seconds_per_case)' "$T/ev3.json") <(jq -S 'del(.methods[].seconds_per_case)' "$T/ev1b.json")
"$S" rca-eval "$R" --methods baro >"$T/ev.txt"; rc=$?
expect "rca-eval text: a row per fault" bash -c "[ $rc = 0 ] && [ \$(grep -c '^baro ' '$T/ev.txt') = 3 ] && grep -Eq '^baro +cpu +2 +1.00 +1.00 +1.00 +1.00' '$T/ev.txt'"

# a case the methods cannot use is reported for that case, not fatal
rca_case "$R" prefill cpu 1 6
echo 1800000000 >"$R/prefill_cpu/1/inject_time.txt"  # after every row
cp -r "$T/rca-bad/x_cpu" "$R/"                       # malformed data.csv
"$S" rca-eval "$R" --methods baro --json >"$T/evf.json" 2>"$T/evf.err"; rc=$?
expect "rca-eval with failing cases: exit 0" [ "$rc" = 0 ]
expect "rca-eval: failing cases listed with their reason, not counted" \
  jq -e '.methods[0] | (.failures | map(.case) | sort) == ["prefill_cpu/1", "x_cpu/1"] and
         (.failures[] | select(.case == "x_cpu/1") | .error | test("data.csv:3:3")) and
         .faults.cpu.cases == 2 and .faults.cpu.ac1 == 1' "$T/evf.json"
expect "rca-eval: failures also on stderr" grep -q 'prefill_cpu/1' "$T/evf.err"
rm -rf "$R/prefill_cpu" "$R/x_cpu"

"$S" rca-eval "$R" --methods baro --inject-time auto --json >"$T/eva.json"; rc=$?
expect "rca-eval --inject-time auto: exit 0, AC@3 = 1" \
  bash -c "[ $rc = 0 ] && jq -e 'all(.methods[0].faults[]; .ac3 == 1)' '$T/eva.json' >/dev/null"
"$S" rca-eval "$R" --methods nope 2>/dev/null; rc=$?
expect "rca-eval unknown method: exit 2" [ "$rc" = 2 ]
"$S" rca-eval "$R" --methods baro --param alpha=0.1 2>"$T/err"; rc=$?
expect "rca-eval unscoped --param: exit 2" [ "$rc" = 2 ]
"$S" rca-eval "$R" --methods e_diagnosis --param e_diagnosis.alpha=0.1 --json >/dev/null; rc=$?
expect "rca-eval METHOD.KEY=VALUE: exit 0" [ "$rc" = 0 ]
"$S" rca-eval "$R" --inject-time 5 2>/dev/null; rc=$?
expect "rca-eval --inject-time T: exit 2 (only auto)" [ "$rc" = 2 ]
"$S" rca-eval "$T/no-such" 2>/dev/null; rc=$?
expect "rca-eval missing DATASET: exit 66" [ "$rc" = 66 ]
mkdir -p "$T/rca-empty/a"
"$S" rca-eval "$T/rca-empty" 2>"$T/err"; rc=$?
expect "rca-eval DATASET without cases: exit 66" bash -c "[ $rc = 66 ] && grep -q 'no case' '$T/err'"
"$S" rca-eval --help >"$T/help"; rc=$?
expect "rca-eval --help: exit 0" bash -c "[ $rc = 0 ] && grep -q 'usage: skewscope rca-eval DATASET' '$T/help'"

# ---- mmbaro: metrics, logs and traces together -----------------------------
# logs.csv: one line per container per second, decode 10 a second after the
# inject time; traces.csv: one span per service per second, decode's spans
# failing (status 500) after it. logts / tracets_* are derived by the reader.
M="$T/rca-mm"
rca_case "$M" decode cpu 1 31
awk 'BEGIN {
  print "container_name,timestamp,message"
  split("frontend prefill decode detok", sv, " ")
  for (t = 1700000000; t < 1700001200; t++) for (s = 1; s <= 4; s++) {
    n = (sv[s] == "decode" && t >= 1700000600) ? 10 : 1
    for (i = 0; i < n; i++) printf "%s,%d%09d,line %d\n", sv[s], t, i * 1000, i
  }
}' >"$M/decode_cpu/1/logs.csv"
awk 'BEGIN {
  print "traceID,spanID,parentSpanID,serviceName,methodName,operationName,startTimeMillis,startTime,duration,statusCode"
  split("frontend prefill decode detok", sv, " ")
  for (t = 1700000000; t < 1700001200; t++) for (s = 1; s <= 4; s++) {
    st = (sv[s] == "decode" && t >= 1700000600) ? 500 : 200
    printf "t%d,s%d%d,,%s,run,run,%d000,%d000000,1000,%d\n", t, t, s, sv[s], t, t, st
  }
}' >"$M/decode_cpu/1/traces.csv"
"$S" rca "$M/decode_cpu/1" --method mmbaro --json >"$T/mm.json" 2>"$T/mm.err"; rc=$?
expect "rca mmbaro: exit 0 with logs and traces" bash -c "[ $rc = 0 ] || { cat '$T/mm.err'; false; }"
expect "rca mmbaro: metrics, log counts and trace counts ranked together, decode first" \
  jq -e '.ranking[0].service == "decode" and
         any(.ranking[]; .metric == "decode") and any(.ranking[]; .metric == "decode_run") and
         any(.ranking[]; .metric == "decode_cpu")' "$T/mm.json"
expect "rca mmbaro: the decode log burst outranks every other log series" \
  jq -e '[.ranking[].metric] | index("decode") < (index("frontend") // 1e9)' "$T/mm.json"

# ---- against pandas and scikit-learn (when installed) ---------------------
REF="$(dirname "${BASH_SOURCE[0]}")/rca_reference.py"
H="$T/rca-hard"
rca_case "$H" decode cpu 1 21 0.6 messy
rca_case "$H" decode cpu 2 22 0.8 messy
rca_case "$H" prefill memory 1 23 0.7 messy
rca_case "$H" frontend network 1 24 0.5 messy
rca_case "$H" detok network 1 25 1.0 messy
rca_case "$H" detok network 2 26 0.4 messy
if /usr/bin/python3 "$REF" rank nsigma "$H/decode_cpu/1" >/dev/null 2>&1; then
  same_ranking='($a[0].ranking | map([.metric, .score])) as $x | $b[0].ranking as $y |
    ($x | length) == ($y | length) and ($x | length) > 10 and
    all(range($x | length); $x[.][0] == $y[.][0] and
        (($x[.][1] - $y[.][1]) | fabs) <= 1e-9 * (1 + ($y[.][1] | fabs)))'
  for m in nsigma baro; do
    agree=1
    for c in "$H"/*/*/; do
      "$S" rca "$c" --method $m --json >"$T/ours.json"
      /usr/bin/python3 "$REF" rank $m "$c" >"$T/ref.json"
      jq -e -n --slurpfile a "$T/ours.json" --slurpfile b "$T/ref.json" "$same_ranking" >/dev/null ||
        { agree=0; echo "  differs: $m $c"; }
    done
    expect "rca $m: same ranking and scores as pandas + scikit-learn (messy cells)" [ "$agree" = 1 ]
    "$S" rca-eval "$H" --methods $m --json >"$T/ours-ev.json" 2>/dev/null
    /usr/bin/python3 "$REF" eval $m "$H" >"$T/ref-ev.json"
    expect "rca-eval $m: AC@k and Avg@5 as RCAEval's evaluation computes them" \
      jq -e -n --slurpfile a "$T/ours-ev.json" --slurpfile b "$T/ref-ev.json" \
        '$a[0].methods[0].faults as $x | $b[0] as $y | ($x | keys) == ($y | keys) and
         all($y | keys[]; . as $f | all(["cases", "ac1", "ac3", "ac5", "avg5"][];
           (($x[$f][.] - $y[$f][.]) | fabs) < 1e-12))'
  done
  expect "rca-eval: the hard dataset is not all hits (the comparison means something)" \
    jq -e '[.methods[0].faults[].ac1] | any(. < 1)' "$T/ours-ev.json"
else
  echo "skip rca: no pandas / scikit-learn for the reference comparison"
fi
