# `skewscope collect` from the command line (sourced by tests/cli/run.sh:
# S, T, expect, ok, bad). The samplers on fake trees and the NVML stand-in
# are tests/test_collect*.c; here: options, exit codes, messages, a short
# recording to stdout on this machine, --listen and its port, SIGTERM.
"$S" collect 2>"$T/c.err"
expect "collect: nothing to do: exit 2" [ $? = 2 ]
expect "collect: nothing to do: says what to give" grep -q -- "--listen and/or --out" "$T/c.err"
"$S" collect --out "$T/x.csv" --interval 0ms 2>/dev/null
expect "collect: --interval 0ms: exit 2" [ $? = 2 ]
"$S" collect --out "$T/x.csv" --sources net,gpu 2>"$T/c.err"
expect "collect: unknown source: exit 2" [ $? = 2 ]
expect "collect: unknown source: named" grep -q "unknown source 'gpu'" "$T/c.err"
"$S" collect --out /nonexistent-dir/x.csv --duration 50ms 2>"$T/c.err"
expect "collect: --out cannot be created: exit 66" [ $? = 66 ]
expect "collect: --out cannot be created: the path" grep -q "/nonexistent-dir/x.csv" "$T/c.err"
"$S" collect --help | grep -q -- "--slow-interval"
expect "collect --help: lists --slow-interval" [ $? = 0 ]

# A short recording to stdout, NVML looked for where the environment says.
SKEWSCOPE_NVML_LIB=/nonexistent/libnvml.so "$S" collect --interval 10ms \
  --duration 300ms --out - >"$T/rec.csv" 2>"$T/c.err"
expect "collect --out -: exit 0" [ $? = 0 ]
expect "collect --out -: the header first" \
  [ "$(head -1 "$T/rec.csv")" = "time_ns,entity,metric,labels,kind,value" ]
expect "collect --out -: six fields a line" awk -F, 'NF != 6 { exit 1 }' "$T/rec.csv"
expect "collect --out -: CPU time of cpu 0 recorded" \
  grep -q ',node_cpu_seconds_total,cpu=0;mode=user,counter,' "$T/rec.csv"
expect "collect: SKEWSCOPE_NVML_LIB names the library tried" \
  grep -q "nvml left out: /nonexistent/libnvml.so" "$T/c.err"
expect "collect: a summary at the end" grep -q "rounds, [0-9]* overruns" "$T/c.err"

# --listen: the port announced, /metrics served, a second one refused.
command -v serve_port >/dev/null || . "$(dirname "$0")/../../scripts/serve_port.sh"
"$S" collect --listen 127.0.0.1:0 --duration 30s >"$T/c1.out" 2>/dev/null &
cpid=$!
cport=$(serve_port "$T/c1.out")
expect "collect --listen: announces its port" [ -n "$cport" ]
curl -s "http://127.0.0.1:$cport/metrics" >"$T/cm.txt"
expect "collect --listen: serves node_cpu_seconds_total" \
  grep -q '^node_cpu_seconds_total{cpu="0",mode="idle"} ' "$T/cm.txt"
expect "collect --listen: says which sources are up" \
  grep -q '^skewscope_collect_source_up{source="cpu"} 1$' "$T/cm.txt"
"$S" collect --listen "127.0.0.1:$cport" --duration 1s 2>"$T/c2.err"
expect "collect: port in use: exit 69" [ $? = 69 ]
expect "collect: port in use: message" grep -q "Address already in use" "$T/c2.err"
kill -TERM "$cpid"
wait "$cpid"
expect "collect --listen: SIGTERM: exit 0" [ $? = 0 ]

# The NVML stand-in through SKEWSCOPE_NVML_LIB, when the tests built it.
stub="$(dirname "$S")/tests/libnvml_stub.so"
if [ -e "$stub" ]; then
  SKEWSCOPE_NVML_LIB="$stub" "$S" collect --sources nvml --interval 10ms \
    --duration 200ms --out "$T/gpu.csv" 2>/dev/null
  expect "collect: the NVML stand-in's SM clock recorded" \
    grep -q ',DCGM_FI_DEV_SM_CLOCK,Hostname=[^;]*;UUID=GPU-stub-0;device=nvidia0;gpu=0;' "$T/gpu.csv"
else
  echo "skip collect: NVML stand-in not built ($stub)"
fi
