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
source "$(dirname "${BASH_SOURCE[0]}")/redis-common.sh"

ensure_installed redis-server redis-cli -- redis-server

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
  # shellcheck disable=SC2086 # one argument per port
  remove_setup "$workdir" $ports
}
trap stop_cluster EXIT

nodes=""
urls=""
for port in $ports; do
  mkdir -p "$workdir/$port"
  {
    server_conf "$workdir/$port" "$port" redis.log
    cat <<CONF
save ""
appendonly no
cluster-enabled yes
cluster-config-file nodes.conf
cluster-node-timeout 1000
CONF
  } >"$workdir/$port/redis.conf"
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
