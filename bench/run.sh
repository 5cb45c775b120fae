#!/usr/bin/env bash
# Reproduces every figure in BENCHMARKS.md.
#
# Usage: bench/run.sh [micro] [stores] [memory] [http] ...   (no argument: all of them)
#
#   micro   criterion: seal + open and a client-side request cycle, ours against the cookie crate's
#           private and signed jars with serde_json (bench/benches/seal.rs)
#   stores  criterion: memory, file and Redis store load / create / delta update
#           (Redis through scripts/with-redis.sh, a private server on loopback)
#   memory  resident memory of 1M live sessions in the memory store, and ops/s at that size
#   http    full requests under wrk on loopback: axum, actix-web and rocket, each against its peer
#           crate and a server with no session layer
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
  log "stores: not measured yet (waiting for session-stores)"
}

run_memory() {
  log "memory: not measured yet (waiting for session-stores)"
}

run_http() {
  log "http: not measured yet (waiting for the framework adapters)"
}

sections=("$@")
if [ ${#sections[@]} -eq 0 ]; then sections=(micro stores memory http); fi
for section in "${sections[@]}"; do
  case "$section" in
    micro|stores|memory|http) ;;
    *) echo "unknown section '$section'; use micro, stores, memory or http" >&2; exit 2 ;;
  esac
done

machine | tee "$results/machine.txt"
for section in "${sections[@]}"; do
  "run_$section"
done
log "done; load average now: $(cut -d' ' -f1-3 /proc/loadavg)"
