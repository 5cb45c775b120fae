#!/usr/bin/env bash
# Packages the publishable crates and runs the tests inside the packaged `.crate` files, as a user
# who downloads them would: each `.crate` is unpacked into a temporary workspace whose crates use
# each other (none is on crates.io yet), with the repository's Cargo.lock so that the same
# dependency versions resolve, and the repository's target dir so that the dependencies the test
# run already built are reused (only the packaged crates build again).
#
# No server is started: the tests that need Redis, Redis Cluster, PostgreSQL or MySQL pass by
# skipping, and every skip is listed at the end. `bash scripts/test.sh` runs them for real.
#
# Usage: scripts/package-check.sh [--isolated]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"

packaged=(session-core session-stores session-axum session-actix session-rocket session-cli)

args=()
for crate in "${packaged[@]}"; do args+=(-p "$crate"); done
# Packaged together, cargo serves the crates to each other from a temporary local registry.
# `--allow-dirty`: what is checked is the working tree, committed or not.
cargo package --no-verify --allow-dirty --quiet "${args[@]}"

version=$(cargo pkgid -p session-core | sed 's/.*[#@]//')
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# The temporary workspace has the repository's root manifest and members: the packaged crates
# unpacked where their sources are, and (unless `--isolated`) every other member as its manifest
# over an empty library. Its dependencies then resolve with the features the test run built
# them with, so they are reused; alone, the packaged crates unify fewer features of tokio, axum
# and the others, and most of the dependency tree builds again (about ten minutes on 2 cores).
# `--isolated` does that once, to show that each crate's own manifest asks for all it needs.
isolated=false
if [ "${1:-}" = "--isolated" ]; then isolated=true; fi
cp Cargo.lock "$scratch/Cargo.lock"
patches=()
for crate in "${packaged[@]}"; do
    tar -xzf "$CARGO_TARGET_DIR/package/$crate-$version.crate" -C "$scratch"
    mv "$scratch/$crate-$version" "$scratch/$crate"
    patches+=("$crate = { path = \"$crate\" }")
done
if $isolated; then
    members=$(printf '"%s",' "${packaged[@]}")
    printf '[workspace]\nresolver = "2"\nmembers = [%s]\n' "${members%,}" >"$scratch/Cargo.toml"
else
    cp Cargo.toml "$scratch/Cargo.toml"
    for manifest in examples/*/Cargo.toml; do
        member=$(dirname "$manifest")
        mkdir -p "$scratch/$member/src"
        cp "$manifest" "$scratch/$member/Cargo.toml"
        echo "//! Only this member's manifest, for the dependencies' features." >"$scratch/$member/src/lib.rs"
    done
fi
printf '\n[patch.crates-io]\n' >>"$scratch/Cargo.toml"
printf '%s\n' "${patches[@]}" >>"$scratch/Cargo.toml"

# The services' variables are cleared so that a run never reaches a server by accident.
unset REDIS_URL REDIS_CLUSTER_URLS REDIS_CLUSTER_DIR REDIS_SENTINEL_URLS REDIS_SENTINEL_MASTER REDIS_SENTINEL_PRIMARY_PASSWORD REDIS_SENTINEL_DIR POSTGRES_URL POSTGRES_CTL MYSQL_URL MYSQL_CTL

log="$scratch/test.log"
status=0
# session-stores' tests need its `conformance` and SQL features, and each adapter's `testing` test its
# `testing` feature, which their own workspace turns on through a path dev-dependency that
# packaging drops.
features=session-stores/conformance,session-stores/postgres,session-stores/mysql,session-stores/sqlite,session-axum/testing,session-actix/testing,session-rocket/testing
# Offline: nothing new is fetched, the versions are those of Cargo.lock.
(cd "$scratch" && cargo test --offline --workspace --features "$features" -- --show-output) \
    >"$log" 2>&1 || status=$?
if [ "$status" -ne 0 ]; then
    grep -v '^\s*Compiling ' "$log" | tail -n 200 >&2
    echo "package-check: the packaged crates' tests failed (exit $status)" >&2
    exit "$status"
fi

if ! $isolated; then
    # With every member present, the lock file loses only the crates' dependencies on
    # themselves (session-stores' and each adapter's path dev-dependency, which turn on their
    # test features and which packaging drops).
    self_deps='^ "session-(stores|axum|actix|rocket)",$'
    changed=$(diff <(grep -Ev "$self_deps" Cargo.lock) \
        <(grep -Ev "$self_deps" "$scratch/Cargo.lock") || true)
    if [ -n "$changed" ]; then
        echo "package-check: the packaged crates resolved other versions than Cargo.lock:" >&2
        echo "$changed" >&2
        exit 1
    fi
fi
passed=$(grep -Eo '^test result: ok\. [0-9]+ passed' "$log" | awk '{sum += $4} END {print sum + 0}')
compiled=$(grep -Eo '^\s*Compiling [^ ]+' "$log" | awk '{print $2}' | sort | tr '\n' ' ' || true)
echo "package-check: $passed tests of the packaged ${packaged[*]} passed"
echo "package-check: compiled: ${compiled:-nothing}"
skips=$(grep -Eo 'skipped: [^;(]*' "$log" | sed 's/ *$//' | sort | uniq -c || true)
if [ -n "$skips" ]; then
    echo "package-check: skipped without servers (bash scripts/test.sh runs them):"
    echo "$skips"
fi
