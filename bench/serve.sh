#!/usr/bin/env bash
# bench/serve.sh: loopback throughput and zero-loss check of `skewscope serve`
# with bench/serve_load.c (load generator, counting sink, Kafka helpers).
#
#   bench/serve.sh [serve]   send -> serve -> (--forward-otlp) -> sink
#   bench/serve.sh direct    send -> sink: no serve, the tools' own ceiling
#   bench/serve.sh kafka     kafka-produce -> mock cluster -> serve (Kafka
#                            input) -> sink; without serve, kafka-count
#                            consumes instead
#
# serve mode: builds, starts the sink on a free port, starts serve (see
# serve_cmd below: the one place that knows serve's command line), waits for
# its /metrics, sends for DURATION seconds from CONNECTIONS connections,
# waits until serve has forwarded what it accepted (or DRAIN_S passes),
# scrapes /metrics, SIGTERMs serve (which flushes its forwarding queue),
# then reads the sink's count. PASS when the sink saw every span that send
# had accepted (unique == accepted); duplicates (at-least-once redelivery)
# are reported but do not fail the run. When build/skewscope has no serve
# command, serve mode falls back to direct mode and says so.
#
# Environment (defaults): DURATION=10 CONNECTIONS=4 SPANS=100 DOMAINS=4
#   SKEW_NS=0,0,5000000 (prefill 5 ms ahead) DRAIN_S=30
#   SINK_EXPECT=DURATION x 2,000,000 (spans the sink's table is sized for)
#   SERVE_EXTRA="" (more serve flags) KEEP=1 (keep the temp dir)
#   BUILD=build (the build directory of serve_load and skewscope)
#   NO_BUILD=1 (use the binaries as built: no make first)
#   SKEWSCOPE=$BUILD/skewscope (the binary whose serve command is measured)
#   DURABILITY (serve's --durability: wal, memory; default: serve's own,
#   which is wal when forwarding)
#   kafka: MESSAGES=10000 (one SPANS-span trace each), PARTITIONS (default:
#   enough for the mock's retention), RATE (messages/s; default: produce
#   the whole backlog first, then start serve and time its drain)
set -euo pipefail
cd "$(dirname "$0")/.."

MODE=${1:-serve}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-4}
SPANS=${SPANS:-100}
DOMAINS=${DOMAINS:-4}
SKEW_NS=${SKEW_NS:-0,0,5000000}
MESSAGES=${MESSAGES:-10000}
DRAIN_S=${DRAIN_S:-30}
SERVE_EXTRA=${SERVE_EXTRA:-}
if [ "$MODE" = kafka ]; then
  SINK_EXPECT=${SINK_EXPECT:-$((MESSAGES * SPANS))}
else
  SINK_EXPECT=${SINK_EXPECT:-$(awk -v d="$DURATION" 'BEGIN { printf "%d", d * 2000000 }')}
fi
B=${BUILD:-build}
L=$B/bench/serve_load
S=${SKEWSCOPE:-$B/skewscope}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/serve-bench.XXXXXX")
PIDS=()

# serve's command line into SERVE_ARGV, for listen port $1 and sink port
# $2; more serve arguments (the Kafka input) follow. Adjust here when
# serve's flags change.
serve_cmd() {
  local port=$1 sink=$2
  shift 2
  SERVE_ARGV=("$S" serve --listen "127.0.0.1:$port"
    --forward-otlp "http://127.0.0.1:$sink/v1/traces"
    --spool-dir "$TMP/spool" "$@")
  if [ -n "${DURABILITY:-}" ]; then SERVE_ARGV+=(--durability "$DURABILITY"); fi
  # shellcheck disable=SC2206 # SERVE_EXTRA is a list of flags
  SERVE_ARGV+=($SERVE_EXTRA)
}

cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT

die() {
  echo "serve.sh: $*" >&2
  for f in "$TMP"/*.err; do [ -s "$f" ] && { echo "== $f" >&2; tail -5 "$f" >&2; }; done
  exit 1
}

now() { date +%s.%N; }

# Wait up to 20 s for file $1 to exist (written by a background process).
wait_file() {
  local _
  for _ in $(seq 200); do
    [ -s "$1" ] && return 0
    sleep 0.1
  done
  die "timed out waiting for $1"
}

# Wait up to 20 s until http://127.0.0.1:$1/metrics answers; $2 = pid.
wait_http() {
  local _
  for _ in $(seq 200); do
    curl -sf -o /dev/null "http://127.0.0.1:$1/metrics" && return 0
    kill -0 "$2" 2>/dev/null || die "serve exited before listening"
    sleep 0.1
  done
  die "serve did not answer on port $1"
}

# Value of counter $1 in Prometheus text file $2 (0 when absent).
metric() {
  awk -v n="$1" '$1 == n { v = $2 } END { printf "%.0f\n", v + 0 }' "$2"
}

# Field $1 (spans, unique, duplicates) of a "spans=N unique=U ..." line.
field() { sed -n "s/.*\b$1=\([0-9.]*\).*/\1/p" <<<"$2" | head -1; }

# The sink's table is sized up front for SINK_EXPECT spans (growing it
# mid-run stalls its HTTP threads); about 80 bytes per span of memory.
start_sink() {
  "$L" sink --port-file "$TMP/sink.port" --expect-spans "$SINK_EXPECT" \
    >"$TMP/sink.out" 2>"$TMP/sink.err" &
  PIDS+=($!)
  wait_file "$TMP/sink.port"
  SINK_PORT=$(cat "$TMP/sink.port")
}

sink_count() { curl -sf "http://127.0.0.1:$SINK_PORT/count"; }

# Start serve on a free port ($@: extra serve arguments); sets SERVE_PORT.
start_serve() {
  SERVE_PORT=$("$L" free-port)
  serve_cmd "$SERVE_PORT" "$SINK_PORT" "$@"
  echo "serve: ${SERVE_ARGV[*]}"
  "${SERVE_ARGV[@]}" >"$TMP/serve.out" 2>"$TMP/serve.err" &
  SERVE_PID=$!
  PIDS+=("$SERVE_PID")
  wait_http "$SERVE_PORT" "$SERVE_PID"
}

# Wait until serve's forwarded + dropped + spooled spans reach $1 or stop
# moving for 3 s (at most DRAIN_S); leaves the last scrape in metrics.txt.
drain_serve() {
  local want=$1 last=-1 still=0 done_=0 t0
  t0=$(now)
  while :; do
    curl -sf "http://127.0.0.1:$SERVE_PORT/metrics" >"$TMP/metrics.txt" || break
    done_=$(($(metric skewscope_spans_forwarded_total "$TMP/metrics.txt") +
      $(metric skewscope_spans_dropped_total "$TMP/metrics.txt") +
      $(metric skewscope_spans_spooled_total "$TMP/metrics.txt")))
    [ "$done_" -ge "$want" ] && break
    if [ "$done_" = "$last" ]; then still=$((still + 1)); else still=0; fi
    [ "$still" -ge 30 ] && break
    awk -v a="$t0" -v b="$(now)" -v m="$DRAIN_S" 'BEGIN { exit !(b - a > m) }' && break
    last=$done_
    sleep 0.1
  done
  awk -v a="$t0" -v b="$(now)" -v d="$done_" -v w="$want" \
    'BEGIN { printf "drain: %d of %d spans forwarded/spooled/dropped, %.1f s after send\n", d, w, b - a }'
}

# SIGTERM serve and wait for it (STOP_S, default 30 s, then SIGKILL).
stop_serve() {
  local t0
  t0=$(now)
  # peak memory of the service (resident high-water mark)
  SERVE_HWM=$(awk '/^VmHWM/ { print $2 " " $3 }' "/proc/$SERVE_PID/status" 2>/dev/null || echo "?")
  echo "serve peak RSS   $SERVE_HWM"
  # CPU time serve used (user + system, all threads), per accepted span
  awk -v hz="$(getconf CLK_TCK)" -v n="${SENT:-0}" '{
    sub(/^.*\) /, ""); c = ($12 + $13) / hz
    printf "serve CPU        %.2f s user+sys (%.2f us per accepted span)\n", c,
      n ? c / n * 1e6 : 0 }' "/proc/$SERVE_PID/stat" 2>/dev/null || true
  kill -TERM "$SERVE_PID"
  while kill -0 "$SERVE_PID" 2>/dev/null; do
    if awk -v a="$t0" -v b="$(now)" -v m="${STOP_S:-30}" 'BEGIN { exit !(b - a > m) }'; then
      echo "serve did not exit within ${STOP_S:-30} s of SIGTERM: SIGKILL"
      kill -KILL "$SERVE_PID"
      break
    fi
    sleep 0.1
  done
  SERVE_RC=0
  wait "$SERVE_PID" 2>/dev/null || SERVE_RC=$?
  awk -v a="$t0" -v b="$(now)" -v rc="$SERVE_RC" \
    'BEGIN { printf "serve exit status %d, %.1f s after SIGTERM\n", rc, b - a }'
}

# Print serve's counters from the scrape and the sink's count, then the
# verdict: $1 = spans the sender had accepted, $2 = sink count line.
verdict() {
  local sent=$1 line=$2 m="$TMP/metrics.txt" n
  if [ -s "$m" ]; then
    for n in received accepted rejected throttled processed forwarded \
      spooled dropped; do
      printf "serve %-10s %s\n" "$n" "$(metric "skewscope_spans_${n}_total" "$m")"
    done
    # the write-ahead log (absent in memory mode): requests per fsync
    if grep -q '^skewscope_wal_fsyncs_total' "$m"; then
      awk '$1 == "skewscope_wal_appended_records_total" { r = $2 }
        $1 == "skewscope_wal_fsyncs_total" { f = $2 }
        $1 == "skewscope_wal_fsync_seconds_total" { s = $2 }
        $1 == "skewscope_wal_wait_seconds_total" { w = $2 }
        END { printf "wal: %d requests, %d fsyncs (%.1f requests each, %.3f ms each); a request waited %.3f ms for its fsync\n",
          r, f, f ? r / f : 0, f ? s / f * 1000 : 0, r ? w / r * 1000 : 0 }' "$m"
    else
      echo "wal: off (--durability memory)"
    fi
  fi
  local unique dup
  unique=$(field unique "$line")
  dup=$(field duplicates "$line")
  echo "sink: $line"
  if [ "$unique" = "$sent" ]; then
    echo "PASS zero loss: sink unique $unique = accepted $sent (duplicates $dup)${SERVE_RC:+, serve exit status $SERVE_RC}"
  else
    echo "FAIL loss: sink unique $unique != accepted $sent (duplicates $dup)"
    return 1
  fi
}

send_load() {
  local url=$1
  "$L" send --url "$url" --connections "$CONNECTIONS" --duration "$DURATION" \
    --spans-per-request "$SPANS" --domains "$DOMAINS" --skew-ns "$SKEW_NS" \
    | tee "$TMP/send.out" || true # failed requests: see the verdict
  SENT=$(sed -n 's/^RESULT spans_accepted=\([0-9]*\).*/\1/p' "$TMP/send.out")
  [ -n "$SENT" ] || die "send printed no RESULT line"
}

have_serve() { "$S" serve --help >/dev/null 2>&1; }

run_direct() {
  start_sink
  send_load "http://127.0.0.1:$SINK_PORT/v1/traces"
  verdict "$SENT" "$(sink_count)"
}

run_serve() {
  start_sink
  start_serve
  send_load "http://127.0.0.1:$SERVE_PORT/v1/traces"
  drain_serve "$SENT"
  stop_serve
  verdict "$SENT" "$(sink_count)"
}

# Poll the sink until it has $1 unique spans (at most 120 s); prints the
# rate between the first poll that saw spans and the one that saw all
# (polls are 0.1 s apart: use a backlog of some seconds for a figure).
wait_sink() {
  local want=$1 line u t_first="" u_first=0 t t0
  t0=$(now)
  while :; do
    line=$(sink_count || true)
    u=$(field unique "$line")
    u=${u:-0}
    t=$(now)
    [ -z "$t_first" ] && [ "$u" -gt 0 ] && { t_first=$t; u_first=$u; }
    [ "$u" -ge "$want" ] && break
    awk -v a="$t0" -v b="$t" 'BEGIN { exit !(b - a > 120) }' && break
    sleep 0.1
  done
  awk -v a="$t0" -v b="$t" -v u="$u" -v w="$want" \
    'BEGIN { printf "sink: %d of %d spans, %.1f s after the producer finished\n", u, w, b - a }'
  if [ -n "$t_first" ]; then
    awk -v a="$t_first" -v b="$t" -v n=$((u - u_first)) 'BEGIN { if (b > a)
      printf "kafka -> serve -> sink: %d spans in %.2f s after the first: %.0f spans/s\n",
        n, b - a, n / (b - a) }'
  fi
}

produce() {
  "$L" kafka-produce --brokers "$1" --topic "$2" --messages "$MESSAGES" \
    --spans-per-message "$SPANS" --domains "$DOMAINS" --skew-ns "$SKEW_NS" \
    ${RATE:+--rate "$RATE"} | tee "$TMP/produce.out" || true
  SENT=$(sed -n 's/^RESULT messages=[0-9]* spans=\([0-9]*\).*/\1/p' "$TMP/produce.out")
  [ -n "$SENT" ] || die "kafka-produce printed no RESULT line"
}

# librdkafka's mock cluster keeps only about 5 MB per partition, so a
# backlog produced before the consumer starts needs enough partitions
# (3 MB each here, for uneven keys). With RATE (messages/s), serve starts
# first and consumes while the producer paces itself instead.
run_kafka() {
  local topic=otlp_spans brokers parts
  parts=${PARTITIONS:-$(((MESSAGES * SPANS * 100 + 2999999) / 3000000))}
  [ "$parts" -ge 1 ] || parts=1
  "$L" kafka-mock --topic "$topic" --partitions "$parts" \
    --port-file "$TMP/kafka.bootstraps" >"$TMP/kafka.out" 2>"$TMP/kafka.err" &
  PIDS+=($!)
  wait_file "$TMP/kafka.bootstraps"
  brokers=$(cat "$TMP/kafka.bootstraps")
  echo "kafka mock: $brokers, topic $topic ($parts partitions)"
  if ! have_serve; then
    echo "note: $S has no serve command; kafka-count consumes instead"
    produce "$brokers" "$topic"
    "$L" kafka-count --brokers "$brokers" --topic "$topic" --expect "$SENT" \
      | tee "$TMP/count.out" || true
    verdict "$SENT" "$(tail -1 "$TMP/count.out")"
    return
  fi
  start_sink
  [ -z "${RATE:-}" ] && produce "$brokers" "$topic"
  start_serve --kafka-brokers "$brokers" --kafka-topic "$topic" \
    --kafka-group skewscope-bench
  if [ -n "${RATE:-}" ]; then
    sleep 3 # the consumer group join
    produce "$brokers" "$topic"
  fi
  wait_sink "$SENT"
  drain_serve "$SENT"
  stop_serve
  verdict "$SENT" "$(sink_count)"
}

# Build; a tree that does not build right now (someone's half-written
# file) still runs with the binaries already built, with a warning.
if [ "${NO_BUILD:-0}" != 1 ]; then
  make -j2 BUILD="$B" "$L" >"$TMP/make.log" 2>&1 || {
    [ -x "$L" ] || { cat "$TMP/make.log" >&2; die "cannot build $L"; }
    echo "warning: make $L failed; using the existing binary" >&2
  }
  make -j2 BUILD="$B" "$S" >"$TMP/make.log" 2>&1 || true
fi
[ -x "$L" ] || die "no $L (build it, or unset NO_BUILD)"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
# the machine may be shared: the load before and after the run
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
trap 'echo "load average after: $(cut -d" " -f1-3 /proc/loadavg)"; cleanup' EXIT
case $MODE in
direct) run_direct ;;
serve)
  if have_serve; then
    run_serve
  else
    echo "note: $S has no serve command; running send -> sink directly"
    run_direct
  fi
  ;;
kafka) run_kafka ;;
*) die "unknown mode '$MODE' (serve, direct, kafka)" ;;
esac
