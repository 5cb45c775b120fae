# What the with-redis*.sh scripts share; sourced by them, not run.

# Installs the system packages named after `--` when one of the commands named before it is
# missing: `ensure_installed redis-server redis-cli -- redis-server`.
ensure_installed() {
  local commands=() missing=0
  while [ "$1" != "--" ]; do commands+=("$1"); shift; done
  shift
  for command in "${commands[@]}"; do
    command -v "$command" >/dev/null 2>&1 || missing=1
  done
  if [ "$missing" -eq 1 ]; then
    echo "${commands[*]} not all found; installing $* from the system packages" >&2
    if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
    $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >&2
  fi
}

# The lines every server's config file starts with: loopback only, port `$2`, its own
# directory `$1` holding its pid file and its log `$3`, in the background.
server_conf() {
  cat <<CONF
bind 127.0.0.1
port $2
dir $1
daemonize yes
pidfile $1/redis.pid
logfile $1/$3
CONF
}

# The end of a setup: a server a test restarted, or one still writing its files, must not fail
# the run on the way out, so whatever still listens on the ports after `$1` is stopped, then the
# directory `$1` is removed.
remove_setup() {
  local workdir=$1
  shift
  for port in "$@"; do
    pkill -9 -f "redis-(server|sentinel) 127\.0\.0\.1:$port( |$)" 2>/dev/null || true
  done
  for _ in 1 2 3 4 5; do
    rm -rf "$workdir" 2>/dev/null && break
    sleep 0.2
  done
  rm -rf "$workdir" || true
}
