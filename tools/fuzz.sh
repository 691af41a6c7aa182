#!/usr/bin/env bash
# Builds the libFuzzer targets in tests/fuzz/ with clang (ASan + UBSan) and runs each one.
#   tools/fuzz.sh [SECONDS_PER_TARGET]   (default 60; needs clang and libclang-rt-14-dev)
# New inputs go to a scratch corpus; the seeds in tests/fuzz/corpus/ are only read. A crash
# leaves its input as ./crash-* and fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for target in response chunked; do
  clang++ -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -Iinclude "tests/fuzz/${target}_fuzz.cpp" -o "$out/$target"
  mkdir -p "$out/corpus-$target"
  echo "fuzzing $target for ${seconds}s"
  "$out/$target" -max_total_time="$seconds" -print_final_stats=1 \
    "$out/corpus-$target" "tests/fuzz/corpus/$target" 2>&1 | grep -E "^(#|stat::number_of_executed_units|==|SUMMARY|INFO: Running with)" | tail -4
  # grep ends the pipe's status; the fuzzer's own status decides.
  [ "${PIPESTATUS[0]}" -eq 0 ] || { echo "fuzzer $target failed"; exit 1; }
done
echo "fuzzing: 2 passed, 0 failed"
