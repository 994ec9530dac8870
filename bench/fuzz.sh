#!/usr/bin/env bash
# Runs every fuzz target for a fixed budget and prints executions and crashes per target.
# Not part of CI. Needs cargo-fuzz (`cargo install cargo-fuzz`); on a stable toolchain it runs
# with RUSTC_BOOTSTRAP=1. Corpora live in fuzz/corpus/<target> (minimized with `cmin` at the
# end, so they can be committed); crashes land in fuzz/artifacts/<target>.
#
#   bench/fuzz.sh [SECONDS_PER_TARGET]      (default 60)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../fuzz"
budget="${1:-60}"
export RUSTC_BOOTSTRAP=1
cargo fuzz build -O >/dev/null 2>&1
targets="$(cargo fuzz list)"
printf '%-16s %12s %10s %8s\n' target executions exec/s crashes
for t in $targets; do
    mkdir -p "corpus/$t"
    log="$(mktemp)"
    cargo fuzz run -O "$t" "corpus/$t" -- -max_total_time="$budget" -print_final_stats=1 \
        -rss_limit_mb=4096 -timeout=20 >"$log" 2>&1 || true
    execs="$(awk '/stat::number_of_executed_units/{print $2}' "$log" | tail -1)"
    crashes="$(find "artifacts/$t" -type f 2>/dev/null | wc -l)"
    printf '%-16s %12s %10s %8s\n' "$t" "${execs:-?}" "$(( ${execs:-0} / budget ))" "$crashes"
    rm -f "$log"
    cargo fuzz cmin -O "$t" "corpus/$t" >/dev/null 2>&1 || true
done
