#!/usr/bin/env bash
# Measure how long before the first causality violation `skewscope serve`
# warns: run serve, feed it the testbed with one stage's clock drifting,
# and compare the times of the first skew_budget_warning and the first
# causality_violations log lines (issue 4's "warning must come before the
# first violation").
#   scripts/serve_lead_time.sh [DRIFT_PPM [SECONDS [HOP_DELAY]]]
# defaults: 40 ppm, 80 s, 2ms hops (budget ~2 ms: exhausted after ~50 s).
set -euo pipefail
cd "$(dirname "$0")/.."
drift=${1:-40}
secs=${2:-80}
hop=${3:-2ms}
make -j2 build/skewscope >/dev/null
work=$(mktemp -d /tmp/skewscope-lead-XXXXXX)
trap 'kill $serve_pid 2>/dev/null || true; rm -rf "$work"' EXIT

build/skewscope serve --listen 127.0.0.1:0 --reference node-gateway \
    --window 5s --update-interval 500ms >"$work/serve.out" 2>"$work/serve.log" &
serve_pid=$!
. scripts/serve_port.sh
port=$(serve_port "$work/serve.out") ||
    { echo "serve did not start" >&2; cat "$work/serve.log" >&2; exit 1; }
echo "serve on port $port; testbed: prefill drifting at ${drift} ppm, ${hop} hops, ${secs} s"
build/skewscope testbed --duration "${secs}s" --hop-delay "$hop" --tp 1 \
    --max-new 4 --concurrency 2 --drift "prefill=${drift}ppm" \
    --otlp-endpoint "http://127.0.0.1:$port/v1/traces" >"$work/testbed.out"
sleep 3
kill -TERM "$serve_pid"
wait "$serve_pid"

# ts is "YYYY-MM-DDTHH:MM:SS.ffffffZ"; seconds since midnight suffice here
first() {
    grep -m1 "\"event\":\"$1\"" "$work/serve.log" |
        sed 's/.*"ts":"[0-9-]*T\([0-9:.]*\)Z".*/\1/' |
        awk -F: '{ printf "%.3f", $1 * 3600 + $2 * 60 + $3 }'
}
warn=$(first skew_budget_warning)
viol=$(first causality_violations)
echo "first warning:   $(grep -m1 skew_budget_warning "$work/serve.log" || echo none)"
echo "first violation: $(grep -m1 causality_violations "$work/serve.log" || echo none)"
if [ -z "$warn" ] || [ -z "$viol" ]; then
    echo "RESULT warning=${warn:-none} violation=${viol:-none}: run longer or drift faster"
    exit 1
fi
awk -v w="$warn" -v v="$viol" 'BEGIN {
    printf "RESULT lead_time_s=%.2f (warning %.2f s before the first violation)\n", v - w, v - w
    exit (v > w) ? 0 : 1 }'
