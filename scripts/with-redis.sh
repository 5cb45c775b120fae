#!/usr/bin/env bash
# Runs a command with a private redis-server on a free loopback port, exported as REDIS_URL.
# Installs redis-server from the system packages when it is missing; stops the server afterwards.
# Usage: scripts/with-redis.sh cargo test --workspace
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/redis-common.sh"

ensure_installed redis-server redis-cli -- redis-server

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
workdir=$(mktemp -d)
redis-server --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
  --dir "$workdir" --daemonize yes --pidfile "$workdir/redis.pid" --logfile "$workdir/redis.log"

stop_redis() {
  if [ -f "$workdir/redis.pid" ]; then kill "$(cat "$workdir/redis.pid")" 2>/dev/null || true; fi
  # A server that is still closing its files must not fail the run on the way out.
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    rm -rf "$workdir" 2>/dev/null && break
    sleep 0.2
  done
  rm -rf "$workdir" || true
}
trap stop_redis EXIT

for _ in $(seq 1 50); do
  if redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null | grep -q PONG; then break; fi
  sleep 0.1
done
redis-cli -h 127.0.0.1 -p "$port" ping | grep -q PONG || { echo "redis-server did not start" >&2; cat "$workdir/redis.log" >&2; exit 1; }

export REDIS_URL="redis://127.0.0.1:$port"
echo "private redis-server at $REDIS_URL" >&2
"$@"
