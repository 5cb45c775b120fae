#!/usr/bin/env bash
# Fuzzes every target of fuzz/ for a bounded time each: `scripts/fuzz.sh [seconds]` (default 60).
#
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`). The seed step writes
# valid inputs (sealed values under every key of the fuzz ring, chunked session cookies, records,
# configurations) to fuzz/corpus/<target>/, checking each against its target's invariants on the
# way; the corpus then grows from run to run. An input that breaks an invariant is saved in
# fuzz/artifacts/<target>/ and replays with `cargo +nightly fuzz run <target> <file>`.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds="${1:-60}"

cargo run --quiet -p session-fuzz-support --bin seeds -- corpus

failed=()
for target in $(cargo +nightly fuzz list); do
    echo "fuzzing $target for ${seconds}s"
    # -timeout: seconds one input may take; -rss_limit_mb: memory the process may reach.
    if ! cargo +nightly fuzz run "$target" "corpus/$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1; then
        failed+=("$target")
    fi
done
if ((${#failed[@]})); then
    echo "fuzz targets that found a failing input: ${failed[*]} (see fuzz/artifacts/)" >&2
    exit 1
fi
echo "every fuzz target ran ${seconds}s without a failing input"
