#!/usr/bin/env bash
# Runs a command with a private redis-server on a free loopback port, exported as REDIS_URL.
# Installs redis-server from the system packages when it is missing; stops the server afterwards.
# Usage: scripts/with-redis.sh cargo test --workspace
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/redis-common.sh"
source "$(dirname "${BASH_SOURCE[0]}")/server-common.sh"

ensure_installed redis-server redis-cli -- redis-server

port=$(free_port)
workdir=$(mktemp -d)
redis-server --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
  --dir "$workdir" --daemonize yes --pidfile "$workdir/redis.pid" --logfile "$workdir/redis.log"

stop_redis() {
  if [ -f "$workdir/redis.pid" ]; then kill "$(cat "$workdir/redis.pid")" 2>/dev/null || true; fi
  remove_workdir "$workdir"
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
