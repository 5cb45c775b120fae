#!/usr/bin/env bash
# Runs a command with a private MariaDB server on a free loopback port, exported as MYSQL_URL
# (database `sessions`, user `root`, no password; the server skips its grant tables, so it takes
# connections only on 127.0.0.1 and its private socket). Installs Debian's mariadb-server when it
# is missing; stops the server and removes its data afterwards.
#
# MYSQL_CTL is exported too: `"$MYSQL_CTL" stop` and `"$MYSQL_CTL" start` stop the server and
# start it again on the same port, for tests of outages.
# Usage: scripts/with-mariadb.sh cargo test --workspace
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/server-common.sh"

if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
if ! command -v mariadbd >/dev/null 2>&1 && [ ! -x /usr/sbin/mariadbd ]; then
  echo "mariadbd not found; installing mariadb-server from the system packages" >&2
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq mariadb-server >&2
fi
mariadbd=$(command -v mariadbd || echo /usr/sbin/mariadbd)

port=$(free_port)
workdir=$(mktemp -d)
chmod 755 "$workdir"
mkdir "$workdir/run"

# The server refuses to run as root unless told which user to become: the unprivileged `mysql`.
user_args=()
if [ "$(id -u)" -eq 0 ]; then
  id mysql >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin mysql
  chown mysql "$workdir/run"
  user_args=(--user=mysql)
fi

mariadb-install-db --no-defaults --datadir="$workdir/run/data" "${user_args[@]}" \
  --auth-root-authentication-method=normal --skip-test-db >"$workdir/install.log" 2>&1 ||
  { echo "mariadb-install-db failed" >&2; cat "$workdir/install.log" >&2; rm -rf "$workdir"; exit 1; }

cat >"$workdir/ctl" <<CTL
#!/usr/bin/env bash
# stop | start the private MariaDB server.
set -euo pipefail
ping() { mariadb --no-defaults --protocol=tcp -h 127.0.0.1 -P $port -u root -e 'SELECT 1' >/dev/null 2>&1; }
case "\${1:-}" in
  start)
    "$mariadbd" --no-defaults --datadir="$workdir/run/data" ${user_args[*]} \
      --socket="$workdir/run/mysqld.sock" --port=$port --bind-address=127.0.0.1 \
      --pid-file="$workdir/run/mysqld.pid" --log-error="$workdir/run/error.log" \
      --skip-grant-tables --skip-name-resolve --skip-log-bin \
      --innodb-buffer-pool-size=64M --innodb-flush-log-at-trx-commit=0 --innodb-doublewrite=0 \
      >/dev/null 2>&1 </dev/null &
    for _ in \$(seq 1 300); do ping && exit 0; sleep 0.1; done
    echo "mariadbd did not start" >&2; cat "$workdir/run/error.log" >&2; exit 1 ;;
  stop)
    if [ -f "$workdir/run/mysqld.pid" ]; then
      pid=\$(cat "$workdir/run/mysqld.pid")
      kill "\$pid" 2>/dev/null || true
      for _ in \$(seq 1 300); do kill -0 "\$pid" 2>/dev/null || exit 0; sleep 0.1; done
      kill -9 "\$pid" 2>/dev/null || true
    fi ;;
  *) echo "usage: \$0 start|stop" >&2; exit 2 ;;
esac
CTL
chmod 755 "$workdir/ctl"

stop_mariadb() {
  "$workdir/ctl" stop 2>/dev/null || true
  remove_workdir "$workdir"
}
trap stop_mariadb EXIT

"$workdir/ctl" start
mariadb --no-defaults --protocol=tcp -h 127.0.0.1 -P "$port" -u root -e 'CREATE DATABASE sessions'

export MYSQL_URL="mysql://root@127.0.0.1:$port/sessions"
export MYSQL_CTL="$workdir/ctl"
echo "private MariaDB at $MYSQL_URL" >&2
"$@"
