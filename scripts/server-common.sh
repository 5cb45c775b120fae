# What the with-*.sh scripts that start a private server share; sourced by them, not run.

# A loopback port that is free now.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Removes the server's directory `$1` at the end of a run. A server that is still closing its
# files must not fail the run on the way out, so the removal is tried again for a moment.
remove_workdir() {
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    rm -rf "$1" 2>/dev/null && return
    sleep 0.2
  done
  rm -rf "$1" || true
}
