# part_clock: estimate's reference, drift significance and queueing fields
# (issue 10), sourced by run.sh ($S, $T, expect, sim).

# ---- the reference: the consensus of the clocks that agree ----------------
# decode-0 has the most spans (the old default reference) and is the one
# 5 ms ahead: against the consensus it stands out, the others sit at 0.
f="$T/clock-consensus"
sim --requests 100 --tp 1 --skew decode-0=5ms -o "$f" --truth "$f.truth"
"$S" estimate --json "$f" >"$f.est"
expect "estimate default: reference is the consensus" \
  jq -e '.reference == "consensus" and (.consensus.members | length) == 4 and
         (.consensus.members | index("node-decode-0") | not)' "$f.est"
expect "estimate default: the skewed clock at +5 ms (100us), the rest at 0" \
  jq -e 'all(.nodes[]; if .node == "node-decode-0"
                        then (.offset_ns - 5000000 | fabs) <= 100000
                        else (.offset_ns | fabs) <= 100000 end)' "$f.est"
expect "estimate default: bounds proven against a clock of the consensus" \
  jq -e '.anchor != "node-decode-0" and .consensus.anchor == .anchor' "$f.est"
"$S" estimate "$f" >"$f.txt"
expect "estimate text: consensus named, odd clock flagged" \
  grep -q "reference consensus of 4 of 5" "$f.txt"
expect "estimate text: the skewed clock is off the consensus" \
  grep -q "node-decode-0 .*(off the consensus)" "$f.txt"
"$S" estimate --json --reference node-gateway "$f" >"$f.ref"
expect "estimate --reference still names the reference" \
  jq -e '.reference == "node-gateway" and (.consensus == null)' "$f.ref"

# ---- drift: standard error and significance ------------------------------
f="$T/clock-drift"
sim --requests 600 --drift tokenizer=40ppm -o "$f"
"$S" estimate --json --reference node-gateway "$f" >"$f.est"
expect "estimate: 40 ppm drift significant, standard error given" \
  jq -e '.nodes[] | select(.node == "node-tokenizer") |
         .drift_significant and (.drift_ppm - 40 | fabs) < 2 and
         .drift_se_ppm > 0 and .drift_se_ppm < 2' "$f.est"
expect "estimate: no drift elsewhere is significant" \
  jq -e 'all(.nodes[] | select(.node != "node-tokenizer");
             (.drift_significant | not) and .drift_ppm == 0 and
             (.drift_fit_ppm | type) == "number")' "$f.est"
"$S" estimate --reference node-gateway "$f" >"$f.txt"
expect "estimate text: insignificant drifts say so" \
  grep -q "node-prefill .*(not significant)" "$f.txt"
expect "estimate --json: fit_excluded_groups reported" \
  jq -e '.fit_excluded_groups == 0' "$f.est"
