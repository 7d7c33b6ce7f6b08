#!/usr/bin/env bash
# bench/grpc_vs_http.sh: one `skewscope serve` (no forwarding, so the
# receivers and the analysis are what is measured) taking the same load over
# OTLP/HTTP (bench/serve_load.c send) and over OTLP/gRPC (bench/grpc_load.c),
# interleaved RUNS times. Prints one RESULT line per run and protocol.
#
# Environment (defaults): RUNS=3 DURATION=10 CONNECTIONS=4 SPANS=100
#   BUILD=build SKEWSCOPE=$BUILD/skewscope NO_BUILD=1 (use the binaries as
#   built)
# This is a benchmark, not a test: run it on a quiet machine.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/serve_port.sh

RUNS=${RUNS:-3}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-4}
SPANS=${SPANS:-100}
BUILD=${BUILD:-build}
SKEWSCOPE=${SKEWSCOPE:-$BUILD/skewscope}
[ -n "${NO_BUILD:-}" ] ||
  make -j2 BUILD="$BUILD" "$BUILD/skewscope" "$BUILD/bench/serve_load" \
    "$BUILD/bench/grpc_load" >/dev/null

T=$(mktemp -d)
trap 'kill "$SERVE_PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$T"' EXIT
"$SKEWSCOPE" serve --listen 127.0.0.1:0 --listen-grpc 127.0.0.1:0 \
  --durability memory >"$T/serve.out" 2>"$T/serve.err" &
SERVE_PID=$!
HTTP_PORT=$(serve_port "$T/serve.out") || { cat "$T/serve.err"; exit 1; }
GRPC_PORT=
for _ in $(seq 100); do
  GRPC_PORT=$(sed -n 's/.*(grpc port \([0-9]*\)).*/\1/p' "$T/serve.out")
  [ -n "$GRPC_PORT" ] && break
  sleep 0.1
done
[ -n "$GRPC_PORT" ] || { echo "serve announced no gRPC port" >&2; exit 1; }

echo "serve: HTTP port $HTTP_PORT, gRPC port $GRPC_PORT; $CONNECTIONS connections x $SPANS spans per request, ${DURATION}s per run"
for i in $(seq "$RUNS"); do
  r=$("$BUILD/bench/serve_load" send --url "http://127.0.0.1:$HTTP_PORT/v1/traces" \
    --connections "$CONNECTIONS" --spans-per-request "$SPANS" \
    --duration "$DURATION" 2>/dev/null | grep '^RESULT')
  echo "run $i http $r"
  r=$("$BUILD/bench/grpc_load" --port "$GRPC_PORT" --connections "$CONNECTIONS" \
    --spans-per-request "$SPANS" --duration "$DURATION" 2>/dev/null | grep '^RESULT')
  echo "run $i grpc $r"
done
