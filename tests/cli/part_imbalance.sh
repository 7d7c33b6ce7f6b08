# part_imbalance: `skewscope imbalance` end to end on generated inputs with
# a known answer (sourced by run.sh: S, T, expect, ok, bad): Prometheus
# scrape files (markers, a directory named by time), DPU counters, a
# collector recording, traces of two tensor-parallel ranks whose rank 1
# clock is 3 ms ahead (estimated from the traces: no straggler; compared
# on the ranks' own clocks: a false one), the runbook's overrides and
# errors, and the exit codes.

I="$T/imbalance"
mkdir -p "$I"

# PCIe link of host-a: x16, from t=10 s x$2 (1 scrape a second, 31 s).
pcie_scrapes() { # FILE WIDTH
  awk -v w="$2" 'BEGIN {
    for (k = 0; k <= 30; k++) {
      printf "# SCRAPE %d.5 host-a\n", 1700000000 + k
      print "# TYPE node_pcidevice_current_link_width gauge"
      printf "node_pcidevice_current_link_width{segment=\"0000\",bus=\"3b\",device=\"00\",function=\"0\"} %d\n", (k >= 10 ? w : 16)
      printf "node_pcidevice_max_link_width{segment=\"0000\",bus=\"3b\",device=\"00\",function=\"0\"} 16\n"
    }
  }' >"$1"
}

expect "imbalance --help" "$S" imbalance --help
"$S" imbalance >/dev/null 2>&1; rc=$?
expect "imbalance: no input is a usage error (2)" [ "$rc" = 2 ]

"$S" imbalance --print-runbook >"$I/rb.yaml"
expect "imbalance --print-runbook prints the YAML" grep -q '^conditions:' "$I/rb.yaml"
"$S" imbalance --list >"$I/list.txt"
expect "imbalance --list: every condition" \
  sh -c "grep -c -E '^(tp_straggler|pp_imbalance|dp_load_skew|pd_interference|early_stop|kv_pressure|net_congestion|net_retransmit|net_link_flap|net_nic_imbalance|pcie_saturation|pcie_degraded) ' '$I/list.txt' | grep -qx 12"

pcie_scrapes "$I/x8.prom" 8
pcie_scrapes "$I/x16.prom" 16
"$S" imbalance --json "$I/x8.prom" >"$I/x8.json"; rc=$?
expect "imbalance: x8 of x16 -> exit 1" [ "$rc" = 1 ]
expect "imbalance: x8 of x16 -> pcie_degraded on the link, onset at 10 s" \
  jq -e '.findings | length == 1 and .[0].condition == "pcie_degraded" and
         .[0].subject == "host-a/0000/3b/00/0" and
         .[0].onset_unix_nano == 1700000010000000000 and
         .[0].detection_delay_s <= 5 and
         (.[0].causes[0] | .id == "link_training" and .supported)' "$I/x8.json"
"$S" imbalance --json "$I/x16.prom" >"$I/x16.json"; rc=$?
expect "imbalance: a healthy link -> exit 0, no finding" \
  sh -c "[ $rc = 0 ] && jq -e '.findings == [] and .signals.pcie_width == 1' '$I/x16.json' >/dev/null"
"$S" imbalance --runbook "$I/rb.yaml" "$I/x16.prom" >/dev/null; rc=$?
expect "imbalance: the printed runbook loads as a user runbook" [ "$rc" = 0 ]

# a directory of single scrapes named by their time, the entity a label
mkdir -p "$I/dir"
for k in $(seq 0 20); do
  w=16; [ "$k" -ge 5 ] && w=4
  printf 'node_pcidevice_current_link_width{job="host-b",segment="0000",bus="5e",device="00",function="0"} %d\nnode_pcidevice_max_link_width{job="host-b",segment="0000",bus="5e",device="00",function="0"} 16\n' \
    "$w" >"$I/dir/$((1700000100 + k)).prom"
done
"$S" imbalance --json "$I/dir" >"$I/dir.json"; rc=$?
expect "imbalance: a directory of scrapes named by time" \
  jq -e '.findings[0].subject == "host-b/0000/5e/00/0" and
         .findings[0].onset_unix_nano == 1700000105000000000' "$I/dir.json"

"$S" imbalance --set pcie_degraded.enabled=false "$I/x8.prom" >/dev/null; rc=$?
expect "imbalance: --set COND.enabled=false" [ "$rc" = 0 ]
"$S" imbalance --set pcie_degraded.persist_s=20 --json "$I/x8.prom" >"$I/p20.json"
expect "imbalance: --set a threshold (persist 20 s)" \
  jq -e '.findings[0].detected_unix_nano == 1700000030000000000' "$I/p20.json"
"$S" imbalance --set pcie_degraded.speed=1 "$I/x8.prom" >/dev/null 2>"$I/set.err"; rc=$?
expect "imbalance: --set an unknown key is a usage error (2)" \
  sh -c "[ $rc = 2 ] && grep -q 'has no threshold speed' '$I/set.err'"

printf 'conditions:\n  - id: pcie_degraded\n    thresholds:\n      width_ratio: lots\n' >"$I/bad.yaml"
"$S" imbalance --runbook "$I/bad.yaml" "$I/x8.prom" >/dev/null 2>"$I/bad.err"; rc=$?
expect "imbalance: a bad runbook entry -> 65 with file and line" \
  sh -c "[ $rc = 65 ] && grep -q '$I/bad.yaml:4: width_ratio: expected a number' '$I/bad.err'"
"$S" imbalance "$I/nope.prom" >/dev/null 2>&1; rc=$?
expect "imbalance: a missing input -> 66" [ "$rc" = 66 ]
printf '# SCRAPE 1700000000 a\nup 1\n# SCRAPE 1700000001 a\nup{ 1\n' >"$I/broken.prom"
"$S" imbalance "$I/broken.prom" >/dev/null 2>"$I/broken.err"; rc=$?
expect "imbalance: a malformed scrape -> 65 at the file's line" \
  sh -c "[ $rc = 65 ] && grep -q 'broken.prom:4:' '$I/broken.err'"

# DPU counters: eth0 of leaf-1 flaps at 40 s; retransmits burst at 30 s
awk 'BEGIN {
  print "time,device,port,counter,value"
  for (k = 0; k <= 60; k++) {
    t = 1700000200 + k
    printf "%d.5,leaf-1,swp1,carrier_changes,%d\n", t, (k < 40 ? 2 : 3)
    printf "%d.5,leaf-1,swp2,carrier_changes,%d\n", t, 5
    rt += (k >= 30 && k < 34) ? 5000 : 1
    printf "%d.5,bf3-a,p0,retransmits,%d\n", t, rt
  }
}' >"$I/dpu.csv"
"$S" imbalance --json "$I/dpu.csv" >"$I/dpu.json"
expect "imbalance: DPU counters: a flap on leaf-1/swp1 at 40 s, a retransmit storm on bf3-a/p0" \
  jq -e '([.findings[] | select(.condition == "net_link_flap") | .subject] == ["leaf-1/swp1"]) and
         ([.findings[] | select(.condition == "net_link_flap")][0].onset_unix_nano == 1700000240000000000) and
         ([.findings[] | select(.condition == "net_retransmit") | .subject] == ["bf3-a/p0"])' "$I/dpu.json"

# the collector's recording
awk 'BEGIN {
  print "time_ns,entity,metric,labels,kind,value"
  for (k = 0; k <= 20; k++) {
    t = sprintf("%d500000000", 1700000300 + k)
    printf "%s,gpu-node,node_pcidevice_current_link_width,segment=0000;bus=3b;device=00;function=0,gauge,%d\n", t, (k >= 5 ? 8 : 16)
    printf "%s,gpu-node,node_pcidevice_max_link_width,segment=0000;bus=3b;device=00;function=0,gauge,16\n", t
  }
}' >"$I/rec.csv"
"$S" imbalance --json "$I/rec.csv" >"$I/rec.json"
expect "imbalance: a collector recording" \
  jq -e '.findings[0].subject == "gpu-node/0000/3b/00/0"' "$I/rec.json"

# Traces: gateway -> decode-0, decode-1 (10 steps x 2 all-reduces) ->
# gateway, 120 requests over 60 s; rank 1's clock 3 ms ahead, no slowdown.
awk 'function ts(off) { return sprintf("%d%09d", 1700000400 + int(off / 1e9), off % 1e9) }
function span(host, tid, sid, par, kind, st, en) {
  printf "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"host.name\",\"value\":{\"stringValue\":\"%s\"}}]},\"scopeSpans\":[{\"spans\":[{\"traceId\":\"%s\",\"spanId\":\"%016x\",%s\"name\":\"s\",\"kind\":%d,\"startTimeUnixNano\":\"%s\",\"endTimeUnixNano\":\"%s\"%s}]}]}]}\n",
    host, tid, sid, par ? sprintf("\"parentSpanId\":\"%016x\",", par) : "", kind, ts(st), ts(en),
    (kind == 4 || kind == 5) ? ",\"attributes\":[{\"key\":\"messaging.system\",\"value\":{\"stringValue\":\"zeromq\"}}]" : ""
}
BEGIN {
  id = 0; skew[0] = 0; skew[1] = 3000000
  for (i = 0; i < 120; i++) {
    tid = sprintf("%032x", i + 1); t = i * 500000000
    g = ++id; span("node-gateway", tid, g, 0, 4, t, t + 100000)
    for (r = 0; r < 2; r++) {
      rt[r] = t + 1000000; c[r] = ++id
      span("node-decode-" r, tid, c[r], g, 5, rt[r] + skew[r], rt[r] + 100000 + skew[r])
    }
    for (k = 0; k < 10; k++) {
      for (r = 0; r < 2; r++) { st[r] = ++id; span("node-decode-" r, tid, st[r], c[r], 1, rt[r] + skew[r], rt[r] + 3000000 + skew[r]) }
      for (l = 0; l < 2; l++) {
        a0 = rt[0] + 1000000; a1 = rt[1] + 1000000; rel = (a0 > a1 ? a0 : a1) + 50000
        span("node-decode-0", tid, ++id, st[0], 1, a0, rel)
        span("node-decode-1", tid, ++id, st[1], 1, a1 + skew[1], rel + skew[1])
        rt[0] = rel; rt[1] = rel
      }
    }
    for (r = 0; r < 2; r++) {
      p = ++id; span("node-decode-" r, tid, p, c[r], 4, rt[0] + skew[r], rt[0] + 100000 + skew[r])
      span("node-gateway", tid, ++id, p, 5, rt[0] + 1000000, rt[0] + 1100000)
    }
  }
}' >"$I/tp.json"
"$S" imbalance --json --traces "$I/tp.json" >"$I/tp.out"; rc=$?
expect "imbalance: a rank clock 3 ms ahead, offsets from the traces: no finding (exit 0)" \
  sh -c "[ $rc = 0 ] && jq -e '.findings == [] and .signals.collective_lateness == 2' '$I/tp.out' >/dev/null"
expect "imbalance: the note says the offset explains the apparent lateness" \
  jq -e '.notes[0].subject == "node-decode-1" and (.notes[0].text | test("clock offset"))' "$I/tp.out"
"$S" imbalance --json "$I/tp.json" >"$I/tp2.out"; rc=$?
expect "imbalance: traces given as an INPUT are detected as traces" \
  sh -c "[ $rc = 0 ] && jq -e '.notes | length == 1' '$I/tp2.out' >/dev/null"
printf '{"nodes":[{"node":"node-gateway","offset_ns":0},{"node":"node-decode-0","offset_ns":0},{"node":"node-decode-1","offset_ns":0}]}\n' >"$I/zero.json"
"$S" imbalance --json --traces "$I/tp.json" --offsets "$I/zero.json" --overlap-tol 0.01 >"$I/tp3.out"; rc=$?
expect "imbalance: the same traces on the ranks' own clocks (--offsets all 0): a false straggler" \
  sh -c "[ $rc = 1 ] && jq -e '.findings[0].condition == \"tp_straggler\" and .findings[0].subject == \"node-decode-1\"' '$I/tp3.out' >/dev/null"
printf '{"nodes": 3}' >"$I/badoff.json"
"$S" imbalance --traces "$I/tp.json" --offsets "$I/badoff.json" >/dev/null 2>&1; rc=$?
expect "imbalance: a malformed offsets file -> 65" [ "$rc" = 65 ]

# A Prometheus query_range export: vLLM waiting requests of 4 replicas
# (pods of service vllm), pod vllm-c's queue 5x the others' from 20 s.
awk 'BEGIN {
  printf "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":["
  for (p = 0; p < 4; p++) {
    printf "%s{\"metric\":{\"__name__\":\"vllm:num_requests_waiting\",\"service\":\"vllm\",\"pod\":\"vllm-%c\"},\"values\":[", p ? "," : "", 97 + p
    for (k = 0; k <= 60; k++)
      printf "%s[%d.5,\"%d\"]", k ? "," : "", 1700000500 + k, (p == 2 && k >= 20) ? 15 + k % 3 : 3 + k % 2
    printf "]}"
  }
  printf "]}}\n"
}' >"$I/range.json"
"$S" imbalance --json "$I/range.json" >"$I/range.out"
expect "imbalance: a query_range export: load skew on replica vllm-c from 20 s" \
  jq -e '[.findings[] | .condition + " " + .subject] == ["dp_load_skew vllm/vllm-c"] and
         .findings[0].onset_unix_nano == 1700000520000000000' "$I/range.out"
