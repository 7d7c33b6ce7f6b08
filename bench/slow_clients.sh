#!/usr/bin/env bash
# bench/slow_clients.sh: `skewscope serve` under a slow-client attack
# (bench/bench_slow_clients.c): N connections that send a header line every
# 2.5 s and never finish, from ADDRS loopback addresses, while GET /metrics
# and POST /v1/traces are probed from 127.0.0.1; prints the probes' p50/p99
# latency. Goal: every probe answered, p99 under 50 ms with 2,000 slow
# connections.
#
# Environment (defaults): N=2000 ADDRS=8 DURATION=30 SERVE_EXTRA="" (more
#   serve flags, e.g. "--http-threads 4" or "--header-timeout 5s")
#   SKEWSCOPE=build/skewscope BUILD=build
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/serve_port.sh

N=${N:-2000}
ADDRS=${ADDRS:-8}
SECONDS_=${DURATION:-30} # not SECONDS: bash counts its own seconds there
BUILD=${BUILD:-build}
S=${SKEWSCOPE:-$BUILD/skewscope}
B=$BUILD/bench/bench_slow_clients
make -s -j2 BUILD="$BUILD" "$S" "$B"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/slow-clients.XXXXXX")
PID=
cleanup() {
  [ -n "$PID" ] && kill -TERM "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# shellcheck disable=SC2086 # SERVE_EXTRA is a list of flags
"$S" serve --listen 127.0.0.1:0 ${SERVE_EXTRA:-} >"$TMP/out" 2>"$TMP/err" &
PID=$!
PORT=$(serve_port "$TMP/out") || { cat "$TMP/err" >&2; exit 1; }
echo "serve on port $PORT (${SERVE_EXTRA:-default flags}); $N slow connections from $ADDRS addresses for ${SECONDS_}s"
rc=0
"$B" "$PORT" "$N" "$ADDRS" "$SECONDS_" || rc=$?
curl -s "http://127.0.0.1:$PORT/metrics" |
  grep -E '^skewscope_http_connections(_refused_total|_timed_out_total.*)? ' || true
exit $rc
