#!/usr/bin/env bash
# Runs a command with a private PostgreSQL server on a free loopback port, exported as
# POSTGRES_URL (database `sessions`, user `postgres`, no password). Installs Debian's postgresql
# when it is missing; stops the server and removes its data afterwards.
#
# POSTGRES_CTL is exported too: `"$POSTGRES_CTL" stop` and `"$POSTGRES_CTL" start` stop the server
# and start it again on the same port, for tests of outages.
#
# POSTGRES_EXTRA_OPTS (default empty) is appended to the server's options, e.g.
# POSTGRES_EXTRA_OPTS="-c shared_preload_libraries=pg_stat_statements" for the benchmarks.
# Usage: scripts/with-postgres.sh cargo test --workspace
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/server-common.sh"

find_bindir() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -n "$dir" ] && [ -x "$dir/initdb" ]; then echo "$dir"; fi
}

if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
bindir=$(find_bindir)
if [ -z "$bindir" ]; then
  echo "PostgreSQL not found; installing it from the system packages" >&2
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql >&2
  bindir=$(find_bindir)
  [ -n "$bindir" ] || { echo "postgresql installed but initdb not found" >&2; exit 1; }
fi

port=$(free_port)
workdir=$(mktemp -d)
chmod 755 "$workdir"
mkdir "$workdir/data" "$workdir/socket" "$workdir/log"

# The server refuses to run as root: run it as the unprivileged `postgres` user then.
as_server_user=()
if [ "$(id -u)" -eq 0 ]; then
  id postgres >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin postgres
  chown postgres "$workdir/data" "$workdir/socket" "$workdir/log"
  as_server_user=(runuser -u postgres --)
fi

"${as_server_user[@]}" "$bindir/initdb" -D "$workdir/data" -U postgres --auth=trust \
  --encoding=UTF8 --locale=C --no-sync >"$workdir/initdb.log" 2>&1 ||
  { echo "initdb failed" >&2; cat "$workdir/initdb.log" >&2; rm -rf "$workdir"; exit 1; }

cat >"$workdir/ctl" <<CTL
#!/usr/bin/env bash
# stop | start the private PostgreSQL server.
set -euo pipefail
case "\${1:-}" in
  start) ${as_server_user[*]} "$bindir/pg_ctl" -D "$workdir/data" -l "$workdir/log/server.log" -w -t 30 \
           -o "-p $port -k $workdir/socket -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off${POSTGRES_EXTRA_OPTS:+ $POSTGRES_EXTRA_OPTS}" \
           start >/dev/null ;;
  stop) ${as_server_user[*]} "$bindir/pg_ctl" -D "$workdir/data" -m fast -w -t 30 stop >/dev/null ;;
  *) echo "usage: \$0 start|stop" >&2; exit 2 ;;
esac
CTL
chmod 755 "$workdir/ctl"

stop_postgres() {
  "$workdir/ctl" stop 2>/dev/null || true
  remove_workdir "$workdir"
}
trap stop_postgres EXIT

"$workdir/ctl" start || { echo "postgres did not start" >&2; cat "$workdir/log/server.log" >&2; exit 1; }
"$bindir/createdb" -h 127.0.0.1 -p "$port" -U postgres sessions

export POSTGRES_URL="postgres://postgres@127.0.0.1:$port/sessions"
export POSTGRES_CTL="$workdir/ctl"
echo "private PostgreSQL at $POSTGRES_URL" >&2
"$@"
