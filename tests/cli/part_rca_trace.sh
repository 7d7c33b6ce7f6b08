# part_rca_trace: the trace-based methods (microrank, tracerca) and the
# multi-source pdiagnose through `skewscope rca` and `rca-eval` on generated
# case folders (sourced by run.sh: S, T, expect, ok, bad). A case: requests
# every 50 ms for 120 s through gateway -> {cart|checkout} -> {payment|
# shipping} (four paths in turn, synchronous calls, own times 2/3/3.5/5/4
# ms + noise), and from the inject time (60 s) on the faulty service's own
# time + 10 ms, an error log line from it each second and its cpu up.

trace_case() { # DIR SERVICE N SEED
  local d="$1/$2_delay/$3"
  mkdir -p "$d"
  echo 1700000060 >"$d/inject_time.txt"
  # mawk prints %d through a 32-bit int: times are printed in parts
  awk -v root="$2" -v seed="$4" -v dir="$d" '
  function us(rel) { return sprintf("%d%06d", 1700000000 + int(rel / 1000000), rel % 1000000) }
  function ms(rel) { return sprintf("%d%03d", 1700000000 + int(rel / 1000000), int((rel % 1000000) / 1000)) }
  BEGIN {
    srand(seed)
    split("gateway cart checkout payment shipping", sv, " ")
    split("2 3 3.5 5 4", own, " ")
    tf = dir "/traces.csv"; mf = dir "/data.csv"; lf = dir "/logs.csv"
    print "traceID,spanID,parentSpanID,serviceName,methodName,operationName,startTimeMillis,startTime,duration,statusCode" >tf
    id = 0
    for (k = 0; k < 2400; k++) {
      t = k * 50000
      p[1] = 1; p[2] = (k % 4 < 2) ? 2 : 3; p[3] = (k % 2 == 0) ? 4 : 5
      for (j = 1; j <= 3; j++) {
        z = sqrt(-2 * log(1 - rand())) * cos(6.283185307 * rand())
        o[j] = (own[p[j]] + 0.3 * z) * 1000
        if (o[j] < 100) o[j] = 100
        if (t >= 60000000 && sv[p[j]] == root) o[j] += 10000
      }
      d3 = int(o[3]); d2 = int(o[2]) + d3; d1 = int(o[1]) + d2
      s1 = t; s2 = t + int(o[1] / 2); s3 = s2 + int(o[2] / 2)
      printf "T%d,S%d,,%s,m%d,m%d,%s,%s,%d,200\n", k, id, sv[p[1]], p[1], p[1], ms(s1), us(s1), d1 >tf
      printf "T%d,S%d,S%d,%s,m%d,m%d,%s,%s,%d,200\n", k, id + 1, id, sv[p[2]], p[2], p[2], ms(s2), us(s2), d2 >tf
      printf "T%d,S%d,S%d,%s,m%d,m%d,%s,%s,%d,200\n", k, id + 2, id + 1, sv[p[3]], p[3], p[3], ms(s3), us(s3), d3 >tf
      id += 3
    }
    printf "time" >mf
    for (s = 1; s <= 5; s++) printf ",%s_cpu", sv[s] >mf
    printf "\n" >mf
    print "timestamp,container_name,message" >lf
    for (r = 0; r < 120; r++) {
      printf "%d", 1700000000 + r >mf
      for (s = 1; s <= 5; s++) {
        z = sqrt(-2 * log(1 - rand())) * cos(6.283185307 * rand())
        v = 0.3 + 0.02 * z
        if (r >= 60 && sv[s] == root) v += 0.16
        printf ",%.6f", v >mf
        printf "%d000000000,%s,ok\n", 1700000000 + r, sv[s] >lf
      }
      printf "\n" >mf
      if (r >= 60) printf "%d000000001,%s,upstream error\n", 1700000000 + r, root >lf
    }
  }'
}

RT="$T/rcatrace"
trace_case "$RT" payment 1 11
trace_case "$RT" shipping 1 12
trace_case "$RT" cart 1 13
P="$RT/payment_delay/1"

for m in tracerca pdiagnose; do
  "$S" rca "$P" --method "$m" --json >"$T/rt-$m.json"; rc=$?
  expect "rca $m: exit 0" [ "$rc" = 0 ]
  expect "rca $m: payment first" jq -e '.method == "'"$m"'" and .ranking[0].service == "payment"' "$T/rt-$m.json"
done
"$S" rca "$P" --method microrank --param mode=paper --json >"$T/rt-mr.json"
expect "rca microrank mode=paper: payment first" jq -e '.ranking[0].service == "payment"' "$T/rt-mr.json"
"$S" rca "$P" --method microrank --json >"$T/rt-mr0.json"
expect "rca microrank (RCAEval): the gateway first, at most 11 operations" \
  jq -e '.ranking[0].service == "gateway" and (.ranking | length) <= 11' "$T/rt-mr0.json"

# inputs and parameters
mkdir -p "$T/rt-notraces/payment_delay/1"
cp "$P/data.csv" "$P/inject_time.txt" "$T/rt-notraces/payment_delay/1/"
"$S" rca "$T/rt-notraces/payment_delay/1" --method tracerca 2>"$T/rt.err"; rc=$?
expect "rca tracerca without traces.csv: exit 65, named" \
  sh -c "[ $rc = 65 ] && grep -q 'traces' '$T/rt.err'"
"$S" rca "$P" --method microrank --param spectrum=nope 2>"$T/rt.err"; rc=$?
expect "rca microrank spectrum=nope: exit 2" sh -c "[ $rc = 2 ] && grep -q 'spectrum=nope' '$T/rt.err'"

# rca-eval over three cases: tracerca and pdiagnose find all three
"$S" rca-eval "$RT" --methods microrank,tracerca,pdiagnose --json >"$T/rt-eval.json" 2>/dev/null; rc=$?
expect "rca-eval trace methods: exit 0" [ "$rc" = 0 ]
expect "rca-eval: tracerca and pdiagnose AC@1 = 1 on the delay cases" \
  jq -e '[.methods[] | select(.method != "microrank") | .faults.delay.ac1] == [1, 1]' "$T/rt-eval.json"
