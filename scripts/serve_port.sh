# Sourced by scripts and tests that start `skewscope serve --listen
# HOST:0` in the background with its stdout in a file.
# serve_port OUT: print the port serve announced in OUT (waits up to 10 s);
# prints nothing and fails when it did not.
serve_port() {
  local port _
  for _ in $(seq 100); do
    port=$(sed -n 's/.*(port \([0-9]*\)).*/\1/p' "$1")
    [ -n "$port" ] && { echo "$port"; return 0; }
    sleep 0.1
  done
  return 1
}
