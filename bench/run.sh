#!/usr/bin/env bash
# Reproduces every figure in BENCHMARKS.md.
#
# Usage: bench/run.sh [micro] [stores] [sql] [memory] [profile] [http] [redis] [logins] [owners] ...
#        (no argument: all)
#
#   micro   criterion: seal + open and a client-side request cycle, ours against the cookie crate's
#           private and signed jars with serde_json (bench/benches/seal.rs)
#   stores  criterion: memory, file and Redis store load / create / delta update
#           (Redis through scripts/with-redis.sh, a private server on loopback)
#   sql     criterion: the PostgreSQL, MySQL/MariaDB and SQLite stores against
#           tower-sessions-sqlx-store, load / create / update of one key, wall time
#           (bench/benches/sql.rs; private servers through scripts/with-postgres.sh and
#           scripts/with-mariadb.sh, SQLite in a temporary file), then PostgreSQL's own time per
#           statement from pg_stat_statements (mean execution time and calls, ours and the peer's)
#   memory  resident memory of 1M live sessions in the memory store, and ops/s at that size
#   profile instructions (valgrind --tool=callgrind) and heap allocations per request of the
#           session work alone, without HTTP: memory store /rw, client-side /rw, a read-only
#           request and one that extracts no session (bench/src/bin/cycle-profile.rs); then
#           instructions per whole request in process, every framework with no layer, a
#           pass-through layer, ours and its peer, and ours with the Prometheus recorder or an
#           event hook that does nothing installed, through the framework's own test client
#           (bench/src/bin/request-profile.rs); then the same requests natively, ns per request
#           CPU ns per request over BENCH_NATIVE_RUNS runs (5) of BENCH_NATIVE_REQUESTS (50000)
#   http    full requests under wrk on loopback: axum, actix-web and rocket, each against its peer
#           crate and a server with no session layer; under actix-web also our Redis store against
#           actix-session's (Redis through scripts/with-redis.sh, a private server on loopback);
#           for each -redis variant, Redis's INFO commandstats over the measured run
#           (bench-results/redis-commandstats.tsv in the target directory) and its main-thread
#           CPU time (bench-results/redis-cpu.tsv); the table gives Redis µs per request and
#           ours/theirs
#   redis   Redis's own cost per session update, layout by layout (whole-record SET as
#           actix-session does, our store's update, the floor of any script, MULTI/EXEC of native
#           commands, pipelined write-then-check), and the client's CPU per update
#           (bench/src/bin/redis-layouts.rs, on a private server through scripts/with-redis.sh;
#           BENCH_REDIS_TASKS, BENCH_REDIS_UPDATES)
#   logins  a login through the manager (no cookie, set_owner, one value, the client's info,
#           save_request) with and without the per-owner cap, the owner holding 5 sessions, on the
#           memory, file, Redis, PostgreSQL, MariaDB and SQLite stores: wall µs per login
#           (bench/src/bin/owner-logins.rs; private servers through scripts/with-redis.sh,
#           scripts/with-postgres.sh and scripts/with-mariadb.sh; BENCH_LOGINS per variant, 300)
#   owners  Redis's own time listing and revoking one owner's 10, 1,000 and 100,000 sessions
#           (SLOWLOG: commands, time in all, the longest one; main-thread CPU; another client's
#           slowest load meanwhile) (bench/src/bin/owner-redis-time.rs, private server through
#           scripts/with-redis.sh; BENCH_OWNER_SIZES)
#
# Everything builds in release mode into the repository's one target directory (<repo>/target;
# set BENCH_TARGET_DIR to use another). Criterion measures the benchmark thread's CPU time by
# default, which stays meaningful on a shared machine; BENCH_CLOCK=wall measures wall time.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
export CARGO_TARGET_DIR="${BENCH_TARGET_DIR:-$repo/target}"
manifest="$here/Cargo.toml"
criterion_dir="$CARGO_TARGET_DIR/criterion"
results="$CARGO_TARGET_DIR/bench-results"
mkdir -p "$results"

log() { printf '\n== %s\n' "$*" >&2; }

machine() {
  log "machine"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) cores"
  echo "load average before the run: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "clock: ${BENCH_CLOCK:-cpu} (criterion)"
}

report() {
  cargo run -q --release --manifest-path "$manifest" --bin bench-report -- "$criterion_dir" "$@"
}

run_micro() {
  log "micro: seal + open, request cycle (criterion)"
  cargo bench --manifest-path "$manifest" --bench seal
  report seal_open request_cycle parts_
}

run_stores() {
  log "stores: memory, file, Redis (criterion; Redis on a private server)"
  cargo bench --manifest-path "$manifest" --no-run
  "$repo/scripts/with-redis.sh" cargo bench --manifest-path "$manifest" --bench stores
  report runtime_overhead store_ server_cycle
}

run_sql() {
  log "sql: PostgreSQL, MariaDB, SQLite stores against tower-sessions-sqlx-store (criterion, wall time)"
  cargo bench --manifest-path "$manifest" --bench sql --no-run
  # Both servers at once, PostgreSQL with pg_stat_statements loaded; the bench runs in a second
  # instance of this script under them.
  POSTGRES_EXTRA_OPTS="-c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=top" \
    "$repo/scripts/with-postgres.sh" "$repo/scripts/with-mariadb.sh" "$here/run.sh" --sql-bench
  report --sql "$results/pg-statements.tsv"
}

# The measurement of run_sql; needs POSTGRES_URL and MYSQL_URL, which the scripts set.
sql_bench() {
  psql "$POSTGRES_URL" -q -c 'CREATE EXTENSION IF NOT EXISTS pg_stat_statements' \
    -c 'SELECT pg_stat_statements_reset()' >/dev/null
  cargo bench --manifest-path "$manifest" --bench sql
  # Per statement of either side's tables (and the peer's transactions): calls, mean execution
  # time in µs, the statement on one line.
  psql "$POSTGRES_URL" -At -F $'\t' -c "
    SELECT calls, round((mean_exec_time * 1000)::numeric, 2), regexp_replace(query, '\\s+', ' ', 'g')
    FROM pg_stat_statements
    WHERE (query ILIKE '%session%' OR query IN ('BEGIN', 'COMMIT'))
      AND query NOT ILIKE '%pg_stat_statements%'
    ORDER BY calls DESC" >"$results/pg-statements.tsv"
}

run_memory() {
  log "memory: 1M live sessions in the memory store"
  cargo build --release --manifest-path "$manifest" --bin memory-sessions
  "$CARGO_TARGET_DIR/release/memory-sessions" "${BENCH_SESSIONS:-1000000}" | tee "$results/memory.txt"
}

# Instructions per iteration of `binary args... <iterations>`: the difference of two callgrind
# runs (2N and N iterations), so that start-up and set-up cancel out. Exact for a given binary and
# input, whatever the machine's load.
instructions_per_iteration() {
  local n=$1 scratch=$2 binary=$3
  shift 3
  local counts=()
  for iterations in "$n" $((2 * n)); do
    valgrind --tool=callgrind --callgrind-out-file="$scratch/out" "$binary" "$@" "$iterations" \
      >"$scratch/stdout" 2>"$scratch/stderr"
    counts+=("$(sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$scratch/stderr")")
  done
  echo $(((counts[1] - counts[0]) / n))
}

# The request-profile variants of `framework`: the bare server first, then the pass-through
# layer, ours, the framework's peer where it has one, and ours with the Prometheus recorder and
# with an event hook that does nothing.
request_variants() {
  case "$1" in
    axum) echo none pass-through ours ours-cookie tower-sessions ours-prometheus ours-hook ;;
    actix) echo none pass-through ours ours-cookie actix-session ours-prometheus ours-hook ;;
    *) echo none pass-through ours ours-cookie ours-prometheus ours-hook ;;
  esac
}

run_profile() {
  log "profile: instructions and allocations per request (callgrind, no network)"
  command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 1; }
  cargo build --release --manifest-path "$manifest" --bin cycle-profile --bin request-profile
  local binary="$CARGO_TARGET_DIR/release/cycle-profile" n=1000 scratch
  scratch=$(mktemp -d)
  : >"$results/profile.tsv"
  echo "The session work alone, through the SessionManager (10-key session):"
  for cycle in server client read plain; do
    local allocations
    allocations=$("$binary" "$cycle" 10000)
    printf '%s\t%s instructions\t%s\n' "$cycle" \
      "$(instructions_per_iteration "$n" "$scratch" "$binary" "$cycle")" "$allocations" \
      | tee -a "$results/profile.tsv"
  done
  echo
  echo "Whole requests in process, each framework's own test client (bench/src/bin/request-profile.rs);"
  echo "a layer's addition is its variant's instructions less the bare server's (none):"
  binary="$CARGO_TARGET_DIR/release/request-profile"
  local native_runs=${BENCH_NATIVE_RUNS:-5} native_requests=${BENCH_NATIVE_REQUESTS:-50000}
  : >"$results/request-profile.tsv"
  local framework variant route bare count
  for framework in axum actix rocket; do
    local variants
    read -ra variants <<<"$(request_variants "$framework")"
    for route in rw plain; do
      for variant in "${variants[@]}"; do
        count=$(instructions_per_iteration "$n" "$scratch" "$binary" "$framework" "$variant" "$route")
        [ "$variant" = none ] && bare=$count
        printf '%s\t/%s\t%s\t%s instructions\t%+d added\n' \
          "$framework" "$route" "$variant" "$count" "$((count - bare))" \
          | tee -a "$results/request-profile.tsv"
      done
    done
  done
  rm -rf "$scratch"
  echo "(SHA-256 runs in software under valgrind, which hides the CPU's SHA extensions: the HMAC"
  echo " over the id counts several times what it costs natively. AES-NI is emulated, so AES-GCM"
  echo " counts about what it costs natively.)"
  echo
  echo "The same requests natively, CPU ns per request: median (min-max) of $native_runs runs"
  echo "of $native_requests; the addition is the median less the bare server's median:"
  : >"$results/request-native.tsv"
  for framework in axum actix rocket; do
    local variants
    read -ra variants <<<"$(request_variants "$framework")"
    for route in rw plain; do
      for variant in "${variants[@]}"; do
        local times=() run
        for ((run = 0; run < native_runs; run++)); do
          times+=("$("$binary" "$framework" "$variant" "$route" "$native_requests" \
            | sed -n 's/.* \([0-9]*\) ns each$/\1/p')")
        done
        mapfile -t times < <(printf '%s\n' "${times[@]}" | sort -n)
        local median=${times[$((native_runs / 2))]}
        [ "$variant" = none ] && bare=$median
        printf '%s\t/%s\t%s\t%s ns (%s-%s)\t%+d ns added\n' "$framework" "$route" "$variant" \
          "$median" "${times[0]}" "${times[$((native_runs - 1))]}" "$((median - bare))" \
          | tee -a "$results/request-native.tsv"
      done
    done
  done
}

run_redis() {
  log "redis: Redis CPU per session update, layout by layout (private server)"
  cargo build --release --manifest-path "$manifest" --bin redis-layouts
  redis-server --version
  "$repo/scripts/with-redis.sh" "$CARGO_TARGET_DIR/release/redis-layouts" \
    "${BENCH_REDIS_TASKS:-8}" "${BENCH_REDIS_UPDATES:-2000}" | tee "$results/redis-layouts.txt"
}

run_logins() {
  log "logins: a login with and without the per-owner cap, per store (private servers)"
  cargo build --release --manifest-path "$manifest" --bin owner-logins
  "$repo/scripts/with-redis.sh" "$repo/scripts/with-postgres.sh" "$repo/scripts/with-mariadb.sh" \
    "$CARGO_TARGET_DIR/release/owner-logins" "${BENCH_LOGINS:-300}" \
    memory file redis postgres mysql sqlite | tee "$results/owner-logins.tsv"
}

run_owners() {
  log "owners: Redis time of listing and revoking one owner's sessions (private server)"
  cargo build --release --manifest-path "$manifest" --bin owner-redis-time
  redis-server --version
  local sizes
  read -ra sizes <<<"${BENCH_OWNER_SIZES:-10 1000 100000}"
  "$repo/scripts/with-redis.sh" "$CARGO_TARGET_DIR/release/owner-redis-time" "${sizes[@]}" \
    | tee "$results/owner-redis-time.tsv"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

server_pid=""
stop_server() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
  fi
}
trap stop_server EXIT

# CPU time (user + system, in microseconds) the process has used so far.
cpu_us() {
  awk -v tck="$(getconf CLK_TCK)" '{printf "%d", ($14 + $15) * 1000000 / tck}' "/proc/$1/stat"
}

# Redis's main-thread CPU time (user + system, in microseconds) so far (INFO cpu).
redis_cpu_us() {
  redis-cli -u "$REDIS_URL" info cpu | tr -d '\r' |
    awk -F: '/^used_cpu_(user|sys)_main_thread:/ {s += $2} END {printf "%.0f", s * 1000000}'
}

# One wrk measurement of one server variant on one path; appends a line to $results/http.tsv:
# framework, variant, path, round, req/s, p50, p99, non-2xx count, load average, server CPU
# microseconds per request.
http_one() {
  local framework=$1 variant=$2 path=$3 round=$4
  local port out pid cookie
  port=$(free_port)
  out="$results/wrk-$framework-$variant-${path#/}-$round.txt"
  if [[ $variant == *-redis ]]; then
    # Every measurement on Redis starts from an empty database: none inherits the sessions of
    # the ones before it. (The server is the private one of scripts/with-redis.sh.)
    redis-cli -u "$REDIS_URL" flushall >/dev/null
  fi
  taskset -c 0 "$CARGO_TARGET_DIR/release/http-$framework" "$variant" "$port" >/dev/null 2>&1 &
  pid=$!
  server_pid=$pid
  for _ in $(seq 1 100); do
    curl -fs -o /dev/null "http://127.0.0.1:$port/plain" && break
    sleep 0.05
  done
  local url="http://127.0.0.1:$port$path"
  local wrk_args=(-t1 -c32)
  if [ "$path" = /rw ]; then
    wrk_args+=(-s "$here/wrk/session.lua")
  else
    # Browsers send the cookie on every request: the no-extract route gets a live session cookie.
    cookie=$(curl -fsi "http://127.0.0.1:$port/rw" | tr -d '\r' | sed -n 's/^[Ss]et-[Cc]ookie: \([^;]*\).*/\1/p' | head -1)
    # A server that sets none (the no-session baseline) gets a cookie of the same size.
    wrk_args+=(-H "Cookie: ${cookie:-id=$(printf "A%.0s" $(seq 1 92))}")
  fi
  taskset -c 1 wrk "${wrk_args[@]}" -d"${BENCH_HTTP_WARMUP:-1}s" "$url" >/dev/null
  local cpu_before cpu_after redis_before=""
  if [[ $variant == *-redis ]]; then
    redis-cli -u "$REDIS_URL" config resetstat >/dev/null
    redis_before=$(redis_cpu_us)
  fi
  cpu_before=$(cpu_us "$pid")
  taskset -c 1 wrk "${wrk_args[@]}" -d"${BENCH_HTTP_SECONDS:-5}s" --latency "$url" >"$out"
  cpu_after=$(cpu_us "$pid")
  local stats="" redis_after=""
  if [[ $variant == *-redis ]]; then
    stats=$(redis-cli -u "$REDIS_URL" info commandstats)
    redis_after=$(redis_cpu_us)
  fi
  stop_server
  local rps p50 p99 bad requests cpu_per_request
  rps=$(awk '/^Requests\/sec:/ {print $2}' "$out")
  p50=$(awk '$1 == "50%" {print $2}' "$out")
  p99=$(awk '$1 == "99%" {print $2}' "$out")
  bad=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$out")
  requests=$(awk '/requests in/ {print $1}' "$out")
  if [ -n "$redis_before" ]; then
    # framework, variant, path, round, requests, command, calls, usec, usec_per_call
    printf '%s\n' "$stats" | tr -d '\r' | awk -F'[:,=]' -v pre="$framework\t$variant\t$path\t$round\t${requests:-0}" \
      '/^cmdstat_/ {sub(/^cmdstat_/, "", $1); printf "%s\t%s\t%s\t%s\t%s\n", pre, $1, $3, $5, $7}' \
      >>"$results/redis-commandstats.tsv"
    # framework, variant, path, round, requests, Redis main-thread CPU µs over the run
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$framework" "$variant" "$path" "$round" "${requests:-0}" \
      "$(awk -v a="$redis_before" -v b="$redis_after" 'BEGIN {printf "%.0f", b - a}')" \
      >>"$results/redis-cpu.tsv"
  fi
  cpu_per_request=$(awk -v a="$cpu_before" -v b="$cpu_after" -v n="${requests:-0}" \
    'BEGIN {if (n > 0) printf "%.2f", (b - a) / n; else print "?"}')
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$framework" "$variant" "$path" "$round" \
    "${rps:-0}" "${p50:-?}" "${p99:-?}" "${bad:-0}" "$(cut -d' ' -f1 /proc/loadavg)" \
    "$cpu_per_request" >>"$results/http.tsv"
  printf '  %-7s %-19s %-7s round %s: %s req/s, p50 %s, p99 %s, server CPU %s µs/request%s\n' \
    "$framework" "$variant" "$path" "$round" "${rps:-?}" "${p50:-?}" "${p99:-?}" \
    "$cpu_per_request" "${bad:+, NON-2XX: $bad}" >&2
}

run_http() {
  log "http: full requests under wrk (server on core 0, wrk -t1 -c32 and Redis on core 1, loopback)"
  command -v wrk >/dev/null || { echo "wrk is not installed" >&2; exit 1; }
  cargo build --release --manifest-path "$manifest" --bin http-axum --bin http-actix --bin http-rocket
  : >"$results/http.tsv"
  : >"$results/redis-commandstats.tsv"
  : >"$results/redis-cpu.tsv"
  # The rounds run in a second instance of this script under a private Redis server (REDIS_URL),
  # started on core 1 beside wrk so that core 0 stays the measured server's alone.
  taskset -c 1 "$repo/scripts/with-redis.sh" "$here/run.sh" --http-rounds
  cargo run -q --release --manifest-path "$manifest" --bin bench-report -- --http "$results/http.tsv"
}

# The measurement rounds of run_http; needs REDIS_URL, which scripts/with-redis.sh sets.
http_rounds() {
  local rounds=${BENCH_HTTP_ROUNDS:-3}
  local groups=(
    "axum:ours tower-sessions none ours-cookie"
    "actix:ours-cookie actix-session none ours actix-session-redis ours-redis"
    "rocket:ours none ours-cookie"
  )
  for round in $(seq 1 "$rounds"); do
    for group in "${groups[@]}"; do
      # BENCH_HTTP_ONLY (e.g. "actix" or "axum rocket") runs only those frameworks.
      if [ -n "${BENCH_HTTP_ONLY:-}" ] && [[ " $BENCH_HTTP_ONLY " != *" ${group%%:*} "* ]]; then
        continue
      fi
      local framework=${group%%:*} variants
      read -r -a variants <<<"${group#*:}"
      # Alternate the order between rounds so no variant always runs first.
      if [ $((round % 2)) -eq 0 ]; then
        local reversed=()
        for ((i = ${#variants[@]} - 1; i >= 0; i--)); do reversed+=("${variants[i]}"); done
        variants=("${reversed[@]}")
      fi
      for variant in "${variants[@]}"; do
        for path in /rw /plain; do
          http_one "$framework" "$variant" "$path" "$round"
        done
      done
    done
  done
}

if [ "${1:-}" = --http-rounds ]; then
  http_rounds
  exit
fi
if [ "${1:-}" = --sql-bench ]; then
  sql_bench
  exit
fi

sections=("$@")
if [ ${#sections[@]} -eq 0 ]; then sections=(micro stores sql memory profile http redis logins owners); fi
for section in "${sections[@]}"; do
  case "$section" in
    micro|stores|sql|memory|profile|http|redis|logins|owners) ;;
    *) echo "unknown section '$section'; use micro, stores, sql, memory, profile, http, redis, logins or owners" >&2; exit 2 ;;
  esac
done

machine | tee "$results/machine.txt"
for section in "${sections[@]}"; do
  "run_$section"
done
log "done; load average now: $(cut -d' ' -f1-3 /proc/loadavg)"
