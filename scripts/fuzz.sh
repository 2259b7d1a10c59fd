#!/usr/bin/env bash
# Runs fuzz targets for a while each and prints libFuzzer's final counts.
#   bash scripts/fuzz.sh SECONDS TARGET...      (nightly + cargo-fuzz; see docs/fuzzing.md)
# New inputs go to a scratch corpus (runs/fuzz/corpus/<target>), the committed seeds are only
# read; crashes land in fuzz/artifacts/<target>/. Logs: runs/fuzz/<target>.log.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:?seconds}; shift
mkdir -p runs/fuzz
for target in "$@"; do
    mkdir -p "runs/fuzz/corpus/$target"
    cargo +nightly fuzz run "$target" -O "runs/fuzz/corpus/$target" "fuzz/corpus/$target" \
        -- -max_total_time="$seconds" -print_final_stats=1 >"runs/fuzz/$target.log" 2>&1 || true
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "runs/fuzz/$target.log" | grep -o '[0-9]*$' || echo '?')
    took=$(grep -o 'Done [0-9]* runs in [0-9]* second' "runs/fuzz/$target.log" | grep -o 'in [0-9]*' | grep -o '[0-9]*' \
        || echo "under $seconds (stopped early: see the log)")
    crashes=$(find "fuzz/artifacts/$target" -type f 2>/dev/null | wc -l)
    echo "$target: $runs runs in $took s, $crashes crash files in fuzz/artifacts/$target"
done
