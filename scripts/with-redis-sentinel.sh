#!/usr/bin/env bash
# Runs a command with a private Redis Sentinel setup: a primary, one replica and three sentinels
# (redis-server and redis-sentinel processes on free loopback ports, data and configs in a temp
# dir), tuned so that a failover takes a few seconds. The sentinels and the servers have
# passwords of their own, as in production. Exports:
#   REDIS_SENTINEL_URLS    the sentinels, comma-separated, their password in each URL
#                          (redis://:PASSWORD@127.0.0.1:PORT/,...)
#   REDIS_SENTINEL_MASTER  the name the sentinels know the primary by
#   REDIS_SENTINEL_PRIMARY_PASSWORD  the password of the primary and its replica
#   REDIS_SENTINEL_DIR     one directory per server, named by its port, holding its redis.conf and
#                          redis.pid (so a test can kill the primary of the moment and start it
#                          again: redis-server DIR/PORT/redis.conf)
# Installs redis-server and redis-sentinel from the system packages when they are missing; stops
# every process and removes the dir afterwards, also when the command or the setup fails.
# Usage: scripts/with-redis-sentinel.sh cargo test -p session-stores --test redis_sentinel
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/redis-common.sh"

ensure_installed redis-server redis-sentinel redis-cli -- redis-server redis-sentinel

master=mymaster
sentinel_password="sentinel-$RANDOM$RANDOM"
primary_password="primary-$RANDOM$RANDOM"
read -r primary replica sentinels <<<"$(python3 - <<'PY'
import socket
sockets = []
while len(sockets) < 5:
    s = socket.socket(); s.bind(("127.0.0.1", 0)); sockets.append(s)
ports = [s.getsockname()[1] for s in sockets]
for s in sockets: s.close()
print(ports[0], ports[1], " ".join(map(str, ports[2:])))
PY
)"
sentinel_ports=($sentinels)
workdir=$(mktemp -d)

stop_all() {
  # A pid file may outlive its process (a test kills the primary with SIGKILL): only a process
  # that still is this setup's server on that port is stopped.
  for port in "$primary" "$replica" "${sentinel_ports[@]}"; do
    pidfile="$workdir/$port/redis.pid"
    if [ -f "$pidfile" ]; then
      pid=$(cat "$pidfile" 2>/dev/null || true)
      if ps -o args= -p "$pid" 2>/dev/null | grep -q ":$port"; then kill "$pid" 2>/dev/null || true; fi
    fi
  done
  for _ in $(seq 1 50); do
    alive=0
    for port in "$primary" "$replica" "${sentinel_ports[@]}"; do
      pidfile="$workdir/$port/redis.pid"
      if [ -f "$pidfile" ] && ps -o args= -p "$(cat "$pidfile" 2>/dev/null)" 2>/dev/null | grep -q ":$port"; then
        alive=1
      fi
    done
    if [ "$alive" -eq 0 ]; then break; fi
    sleep 0.1
  done
  remove_setup "$workdir" "$primary" "$replica" "${sentinel_ports[@]}"
}
trap stop_all EXIT

for port in "$primary" "$replica"; do
  mkdir -p "$workdir/$port"
  {
    server_conf "$workdir/$port" "$port" redis.log
    cat <<CONF
save ""
appendonly no
requirepass $primary_password
masterauth $primary_password
CONF
  } >"$workdir/$port/redis.conf"
done
echo "replicaof 127.0.0.1 $primary" >>"$workdir/$replica/redis.conf"
redis-server "$workdir/$primary/redis.conf"
redis-server "$workdir/$replica/redis.conf"

# Sentinels rewrite their config files, so each has its own. A quorum of 2 of 3; the primary is
# down after 1 s without an answer, and a failover that stalls is retried after 3 s.
for port in "${sentinel_ports[@]}"; do
  mkdir -p "$workdir/$port"
  {
    server_conf "$workdir/$port" "$port" sentinel.log
    cat <<CONF
requirepass $sentinel_password
sentinel monitor $master 127.0.0.1 $primary 2
sentinel auth-pass $master $primary_password
sentinel down-after-milliseconds $master 1000
sentinel failover-timeout $master 3000
sentinel parallel-syncs $master 1
CONF
  } >"$workdir/$port/sentinel.conf"
  redis-sentinel "$workdir/$port/sentinel.conf"
done

fail() {
  echo "$1" >&2
  for log in "$workdir"/*/*.log; do echo "== $log" >&2; tail -n 20 "$log" >&2; done
  exit 1
}

# Ready when the replica is in sync and every sentinel knows the primary, the replica and the
# two other sentinels (so that a failover can be agreed on at once).
ready=0
for _ in $(seq 1 300); do
  ready=1
  REDISCLI_AUTH="$primary_password" redis-cli -h 127.0.0.1 -p "$replica" info replication 2>/dev/null | grep -q "master_link_status:up" || ready=0
  for port in "${sentinel_ports[@]}"; do
    state=$(REDISCLI_AUTH="$sentinel_password" redis-cli -h 127.0.0.1 -p "$port" sentinel master "$master" 2>/dev/null | tr '\n' ' ' || true)
    echo "$state" | grep -Eq "num-slaves [1-9]" || ready=0
    echo "$state" | grep -Eq "num-other-sentinels 2" || ready=0
  done
  if [ "$ready" -eq 1 ]; then break; fi
  sleep 0.1
done
[ "$ready" -eq 1 ] || fail "the Redis Sentinel setup did not come up"

urls=""
for port in "${sentinel_ports[@]}"; do
  urls="${urls:+$urls,}redis://:$sentinel_password@127.0.0.1:$port/"
done
export REDIS_SENTINEL_URLS="$urls"
export REDIS_SENTINEL_MASTER="$master"
export REDIS_SENTINEL_PRIMARY_PASSWORD="$primary_password"
export REDIS_SENTINEL_DIR="$workdir"
echo "private Redis Sentinel setup: primary on port $primary, replica on $replica, sentinels on ${sentinel_ports[*]}" >&2
"$@"
