# serve's HTTP limits and deadlines from the command line (sourced by
# tests/cli/run.sh: S, T, expect, ok, bad). The full slow-client attack is
# tests/test_slow_clients.c; here: the flags, one deadline, one limit, the
# whole-path route match, and promtool on the page.
"$S" serve --max-connections 0 2>/dev/null
expect "serve: --max-connections 0: exit 2" [ $? = 2 ]
"$S" serve --header-timeout 0.5ms 2>/dev/null
expect "serve: --header-timeout below 1ms: exit 2" [ $? = 2 ]
"$S" serve --body-min-rate fast 2>/dev/null
expect "serve: --body-min-rate not a size: exit 2" [ $? = 2 ]
"$S" serve --help >"$T/http.help"
expect "serve --help: names the connection limits" grep -q -- "--max-connections-per-ip" "$T/http.help"

"$S" serve --listen 127.0.0.1:0 --duration 30s --max-connections-per-ip 2 \
  --header-timeout 1s >"$T/http.out" 2>"$T/http.log" &
hpid=$!
command -v serve_port >/dev/null || . "$(dirname "$0")/../../scripts/serve_port.sh"
hport=$(serve_port "$T/http.out")
expect "serve (http limits): announces its port" [ -n "$hport" ]
# two slow clients from 127.0.0.1 fill its per-address limit: a third
# connection from it is refused, one from 127.0.0.2 is answered
exec 7<>"/dev/tcp/127.0.0.1/$hport" 8<>"/dev/tcp/127.0.0.1/$hport"
printf 'GET /metrics HTTP/1.1\r\n' >&7
printf 'GET /metrics HTTP/1.1\r\n' >&8
sleep 0.2
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$hport/metrics")
expect "serve (http limits): third connection from one address refused" [ "$code" = 000 ]
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 --interface 127.0.0.2 \
  "http://127.0.0.1:$hport/metrics")
expect "serve (http limits): another address answered" [ "$code" = 200 ]
# the header deadline (1 s) closes them, however the idle timeout stands
sleep 0.6
printf 'X-Slow: 1\r\n' >&7 2>/dev/null
printf 'X-Slow: 1\r\n' >&8 2>/dev/null
sleep 1.2
exec 7>&- 8>&-
curl -s --max-time 5 "http://127.0.0.1:$hport/metrics" >"$T/http-metrics.txt"
expect "serve (http limits): header deadline closed both" \
  grep -q '^skewscope_http_connections_timed_out_total{phase="header"} 2$' "$T/http-metrics.txt"
expect "serve (http limits): the refusal is counted" \
  grep -q '^skewscope_http_connections_refused_total 1$' "$T/http-metrics.txt"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$hport/metrics%00.txt")
expect "serve: GET /metrics%00.txt is 404, not the metrics page" [ "$code" = 404 ]
if command -v promtool >/dev/null; then
  expect "serve: promtool check metrics accepts /metrics" \
    sh -c "promtool check metrics < '$T/http-metrics.txt'"
else
  echo "skip serve: promtool check metrics (promtool not installed: Debian package prometheus)"
fi
kill -TERM "$hpid"; wait "$hpid"
expect "serve (http limits): SIGTERM: exit 0" [ $? = 0 ]
