#!/usr/bin/env bash
# Runs a command with a private Redis Cluster: six redis-server processes (3 primaries + 3
# replicas) on free loopback ports, data in a temp dir. Exports:
#   REDIS_CLUSTER_URLS  the nodes, comma-separated (redis://127.0.0.1:PORT/,...)
#   REDIS_CLUSTER_DIR   one directory per node, named by its port, holding its redis.conf (so a
#                       test that stops a node can start it again: redis-server DIR/PORT/redis.conf)
# Installs redis-server from the system packages when it is missing; stops and removes
# everything afterwards.
# Usage: scripts/with-redis-cluster.sh cargo test -p session-stores --test redis_cluster
set -euo pipefail

if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
  echo "redis-server not found; installing it from the system packages" >&2
  if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq redis-server >&2
fi

# Six ports free now, and their cluster bus ports (port + 10000) free too.
ports=$(python3 - <<'PY'
import socket
ports = []
while len(ports) < 6:
    s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]
    if port + 10000 > 65535 or port in ports:
        s.close(); continue
    try:
        b = socket.socket(); b.bind(("127.0.0.1", port + 10000)); b.close()
    except OSError:
        s.close(); continue
    s.close(); ports.append(port)
print(" ".join(map(str, ports)))
PY
)
workdir=$(mktemp -d)

stop_cluster() {
  for port in $ports; do
    pidfile="$workdir/$port/redis.pid"
    if [ -f "$pidfile" ]; then kill "$(cat "$pidfile")" 2>/dev/null || true; fi
  done
  # The servers remove their pid files on the way out; give them a moment.
  for _ in $(seq 1 50); do
    if ! ls "$workdir"/*/redis.pid >/dev/null 2>&1; then break; fi
    sleep 0.1
  done
  # A server a test restarted, or one still writing its files, must not fail the run on the
  # way out: stop whatever still listens on this setup's ports, then remove the directory.
  for port in $ports; do
    pkill -9 -f "redis-(server|sentinel) 127\.0\.0\.1:$port( |$)" 2>/dev/null || true
  done
  for _ in 1 2 3 4 5; do
    rm -rf "$workdir" 2>/dev/null && break
    sleep 0.2
  done
  rm -rf "$workdir" || true
}
trap stop_cluster EXIT

nodes=""
urls=""
for port in $ports; do
  mkdir -p "$workdir/$port"
  cat > "$workdir/$port/redis.conf" <<CONF
bind 127.0.0.1
port $port
dir $workdir/$port
daemonize yes
pidfile $workdir/$port/redis.pid
logfile $workdir/$port/redis.log
save ""
appendonly no
cluster-enabled yes
cluster-config-file nodes.conf
cluster-node-timeout 1000
CONF
  redis-server "$workdir/$port/redis.conf"
  nodes="$nodes 127.0.0.1:$port"
  urls="${urls:+$urls,}redis://127.0.0.1:$port/"
done

for port in $ports; do
  for _ in $(seq 1 50); do
    if redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null | grep -q PONG; then break; fi
    sleep 0.1
  done
done
# shellcheck disable=SC2086 # one argument per node
redis-cli --cluster create $nodes --cluster-replicas 1 --cluster-yes >"$workdir/create.log" 2>&1 ||
  { echo "redis-cli --cluster create failed" >&2; cat "$workdir/create.log" >&2; exit 1; }

# Every node must agree that all slots are served before the tests start.
for port in $ports; do
  for _ in $(seq 1 100); do
    if redis-cli -h 127.0.0.1 -p "$port" cluster info 2>/dev/null | grep -q "cluster_state:ok"; then break; fi
    sleep 0.1
  done
  redis-cli -h 127.0.0.1 -p "$port" cluster info | grep -q "cluster_state:ok" ||
    { echo "Redis Cluster did not form (node $port)" >&2; cat "$workdir/$port/redis.log" >&2; exit 1; }
done

export REDIS_CLUSTER_URLS="$urls"
export REDIS_CLUSTER_DIR="$workdir"
echo "private Redis Cluster at $REDIS_CLUSTER_URLS" >&2
"$@"
