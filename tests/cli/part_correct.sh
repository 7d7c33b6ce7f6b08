# `correct` under hostile input and faults (issue 9): zero spans, files
# left behind on any exit (also SIGTERM, SIGINT, SIGKILL of a real process
# mid-run), the output's mode, bounded memory (an element over the limit
# is refused), zero bytes, U+0000 and bad UTF-8, spans the readers count as
# invalid. Sourced by tests/cli/run.sh (S, T, sim, expect, ok, bad).

C="$T/correct"
mkdir -p "$C"
# true when every directory given holds nothing
empty_dir() {
  local d
  for d in "$@"; do [ -z "$(ls -A "$d")" ] || return 1; done
}

# ---- zero spans: exit 0, no warning, a valid document ---------------------
i=0
for doc in '' '   ' '{"resourceSpans":[]}' '{"data":[]}' '[]'; do
  i=$((i + 1))
  f="$C/zero$i.json"
  printf '%s' "$doc" >"$f"
  "$S" correct "$f" -o "$f.out" 2>"$C/err"; rc=$?
  expect "correct, zero spans ($i: '$doc'): exit 0" [ "$rc" = 0 ]
  expect "correct, zero spans ($i): no inconsistency warning" \
    sh -c "! grep -q inconsistent '$C/err'"
  expect "correct, zero spans ($i): the output is a JSON document" \
    jq -e 'type == "object" or type == "array"' "$f.out"
  "$S" estimate --json "$f" >"$f.est" 2>"$C/err"; rc=$?
  expect "estimate, zero spans ($i): exit 0, consistent, no warning" \
    sh -c "[ $rc = 0 ] && ! grep -q inconsistent '$C/err' && jq -e '.consistent' '$f.est' >/dev/null"
  "$S" correct --format input - -o "$f.in" <"$f" 2>/dev/null; rc=$?
  expect "correct --format input, zero spans ($i) from stdin: exit 0 and a document" \
    sh -c "[ $rc = 0 ] && jq -e . '$f.in' >/dev/null"
done
expect "correct --format input keeps an empty Jaeger document" \
  jq -e '. == {"data": []}' "$C/zero4.json.in"
expect "correct --format input keeps an empty Zipkin list" \
  jq -e '. == []' "$C/zero5.json.in"
"$S" simulate --seed 7 --requests 20 --format zipkin -o "$C/z.json" 2>/dev/null

# ---- the output's mode: 0666 & ~umask --------------------------------------
for m in 022:644 027:640 002:664; do
  (umask "${m%%:*}"; "$S" correct "$C/z.json" -o "$C/mode.json" 2>/dev/null)
  expect "correct -o under umask ${m%%:*}: mode ${m#*:}" \
    [ "$(stat -c %a "$C/mode.json")" = "${m#*:}" ]
  rm -f "$C/mode.json"
done

# ---- nothing left behind: stdin spool, failures ------------------------------
mkdir -p "$C/tmp" "$C/out"
cat "$C/z.json" | TMPDIR="$C/tmp" "$S" correct - -o "$C/out/z.fixed" 2>/dev/null; rc=$?
expect "correct - (a pipe): exit 0" [ "$rc" = 0 ]
expect "correct - (a pipe): reads the same as from the file" \
  sh -c "'$S' correct '$C/z.json' 2>/dev/null | cmp -s - '$C/out/z.fixed'"
expect "correct - (a pipe): no spool file left in TMPDIR" empty_dir "$C/tmp"
rm -f "$C/out/z.fixed"
{ cat "$C/z.json"; echo '[{"traceId": tru'; } >"$C/bad-tail.json"
cat "$C/bad-tail.json" | TMPDIR="$C/tmp" "$S" correct - -o "$C/out/x" 2>/dev/null; rc=$?
expect "correct -, malformed: exit 65" [ "$rc" = 65 ]
expect "correct -, malformed: no spool file, no output, no temporary" \
  empty_dir "$C/tmp" "$C/out"
"$S" correct "$C/bad-tail.json" -o "$C/out/x" 2>/dev/null; rc=$?
expect "correct, malformed after a valid document: exit 65" [ "$rc" = 65 ]
expect "correct, malformed after a valid document: nothing in the output directory" \
  empty_dir "$C/out"

# A real process killed mid-run: nothing left, whatever the signal. (Large
# enough that the rewriting, about 500 MB/s, is still writing when the
# 50 ms poll below has seen 2 MB go out, even on a loaded machine.)
sim --requests 10000 --skew prefill=5ms -o "$C/big.json"
big=$(stat -c %s "$C/big.json")
# wait until process $1 has written more than $2 bytes (or ended)
wrote_more() {
  local n
  for _ in $(seq 1 1200); do
    n=$(awk '/^wchar/ {print $2}' "/proc/$1/io" 2>/dev/null) || return 1
    [ "${n:-0}" -gt "$2" ] && return 0
    sleep 0.05
  done
  return 1
}
for sig in TERM INT KILL; do
  num=$(kill -l "$sig")
  env --default-signal=INT "$S" correct "$C/big.json" -o "$C/out/k.json" 2>/dev/null &
  pid=$!
  if wrote_more "$pid" 2000000; then
    kill -s "$sig" "$pid"; { wait "$pid"; } 2>/dev/null; rc=$?
    expect "correct killed by SIG$sig mid-write: died of it" [ "$rc" = $((128 + num)) ]
    expect "correct killed by SIG$sig mid-write: nothing left in the output directory" \
      empty_dir "$C/out"
  else
    wait "$pid"; bad "correct SIG$sig: could not catch it mid-write"
  fi
  rm -f "$C/out/k.json"
done
# stdin: killed while spooling, then while writing the output
for stage in "spooling:1000000" "writing:$((big + 2000000))"; do
  for sig in TERM KILL; do
    num=$(kill -l "$sig")
    cat "$C/big.json" | TMPDIR="$C/tmp" "$S" correct - -o "$C/out/k.json" 2>/dev/null &
    pid=$!
    if wrote_more "$pid" "${stage#*:}"; then
      kill -s "$sig" "$pid"; { wait "$pid"; } 2>/dev/null; rc=$?
      expect "correct - killed by SIG$sig while ${stage%%:*}: died of it" [ "$rc" = $((128 + num)) ]
      expect "correct - killed by SIG$sig while ${stage%%:*}: no spool, no output left" \
        empty_dir "$C/tmp" "$C/out"
    else
      wait "$pid"; bad "correct - SIG$sig: could not catch it while ${stage%%:*}"
    fi
    rm -f "$C/out/k.json"
  done
done

# ---- bounded memory: what correct holds is bounded by --max-element ----------
# (an OTLP span of a known clock domain is held while it is corrected)
python3 - "$C/longname.json" <<'EOF'
import sys
head = ('{"resourceSpans":[{"resource":{"attributes":[{"key":"host.name","value":'
        '{"stringValue":"node-a"}}]},"scopeSpans":[{"spans":[{"traceId":'
        '"0123456789abcdef0123456789abcdef","spanId":"0123456789abcdef",'
        '"startTimeUnixNano":"1790000000000000000","endTimeUnixNano":'
        '"1790000000000001000","name":"')
with open(sys.argv[1], "w") as f:
    f.write(head + "a" * (3 << 20) + '"}]}]}]}\n')
EOF
"$S" correct --max-element 1M "$C/longname.json" -o "$C/out/l.json" 2>"$C/err"; rc=$?
expect "correct: an element over --max-element: exit 65" [ "$rc" = 65 ]
expect "correct: an element over --max-element: position and limit named" \
  grep -q 'longname.json:1:125: expected a span of at most 1048576 bytes.*--max-element' "$C/err"
expect "correct: an element over --max-element: no output" empty_dir "$C/out"
"$S" correct "$C/longname.json" -o "$C/out/l.json" 2>/dev/null; rc=$?
expect "correct: the same element under the default limit: exit 0, name kept" \
  sh -c "[ $rc = 0 ] && jq -e '.resourceSpans[0].scopeSpans[0].spans[0].name | length == 3145728' '$C/out/l.json' >/dev/null"
rm -f "$C/out/l.json"
"$S" correct --max-element 0 "$C/z.json" -o "$C/out/l.json" 2>/dev/null; rc=$?
expect "correct --max-element 0: usage error" [ "$rc" = 2 ]

# ---- zero bytes, U+0000, bad UTF-8 ------------------------------------------
head -c 100000 /dev/zero >"$C/zeros"
"$S" correct "$C/zeros" -o "$C/out/zeros.json" 2>/dev/null; rc=$?
expect "correct on zero bytes: exit 65, no output" \
  sh -c "[ $rc = 65 ] && [ ! -e '$C/out/zeros.json' ]"
"$S" correct --input-format otlp-json "$C/zeros" -o "$C/out/zeros.json" 2>/dev/null; rc=$?
expect "correct --input-format otlp-json on zero bytes: exit 65, no output" \
  sh -c "[ $rc = 65 ] && [ ! -e '$C/out/zeros.json' ]"
printf '%s' '[{"traceId":"1","id":"2","name":"a\u0000b","timestamp":6000,"duration":2,"localEndpoint":{"serviceName":"n\u0000a"},"tags":{"k\u0000ey":"v\u0000al"}},{"traceId":"1","id":"3","parentId":"2","name":"c","timestamp":6001,"duration":1,"localEndpoint":{"serviceName":"b"}}]' >"$C/nul.json"
"$S" correct --format input "$C/nul.json" -o "$C/out/nul.json" 2>/dev/null; rc=$?
expect "correct: U+0000 in a name, a domain and a tag key: exit 0" [ "$rc" = 0 ]
expect "correct: U+0000 written back escaped" \
  sh -c "grep -q '\"name\":\"a\\\\u0000b\"' '$C/out/nul.json' && grep -q '\"k\\\\u0000ey\":\"v\\\\u0000al\"' '$C/out/nul.json'"
"$S" correct "$C/nul.json" -o "$C/out/nul-otlp.json" 2>/dev/null; rc=$?
expect "correct: U+0000, converted to OTLP JSON: exit 0, read back by check" \
  sh -c "[ $rc = 0 ] && '$S' check '$C/out/nul-otlp.json' >/dev/null"
rm -f "$C/out/"*
printf '[{"traceId":"1","id":"2","name":"a\377b","timestamp":6000,"localEndpoint":{"serviceName":"a"}}]' >"$C/bad-utf8.json"
"$S" correct "$C/bad-utf8.json" -o "$C/out/u.json" 2>/dev/null; rc=$?
expect "correct: invalid UTF-8: exit 65" [ "$rc" = 65 ]
expect "correct: invalid UTF-8: no output" empty_dir "$C/out"

# ---- spans the readers count as invalid: written through ---------------------
jq -c '. + [(.[3] | del(.timestamp) | .id = "ffffffffffffff01"
         | .annotations = [{"timestamp": 1790000000000500, "value": "x"}])]' \
  "$C/z.json" >"$C/inv.json"
"$S" correct --format input "$C/inv.json" -o "$C/out/inv.json" 2>/dev/null; rc=$?
expect "correct: a Zipkin span without timestamp among valid ones: exit 0" [ "$rc" = 0 ]
expect "correct: the span without timestamp is written through unchanged" \
  sh -c "jq -e --slurpfile a '$C/inv.json' '(.[] | select(.id == \"ffffffffffffff01\")) == (\$a[0][] | select(.id == \"ffffffffffffff01\"))' '$C/out/inv.json' >/dev/null"
expect "correct: every span kept" \
  sh -c "[ \$(jq length '$C/out/inv.json') = \$(jq length '$C/inv.json') ]"
"$S" correct --strict --format input "$C/inv.json" -o "$C/out/inv2.json" 2>/dev/null; rc=$?
expect "correct --strict on the same input: exit 65, no output" \
  sh -c "[ $rc = 65 ] && [ ! -e '$C/out/inv2.json' ]"
