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
  status=0
  "$out/$target" -max_total_time="$seconds" -print_final_stats=1 \
    "$out/corpus-$target" "tests/fuzz/corpus/$target" >"$out/$target.log" 2>&1 || status=$?
  if [ "$status" -ne 0 ]; then
    # The whole report: the sanitizer's stack, or the property that failed, and the input.
    tail -60 "$out/$target.log"
    for f in crash-* timeout-* oom-*; do [ -e "$f" ] && { echo "input $f:"; od -c "$f" | sed -n 1,40p; }; done
    echo "fuzzer $target failed"
    exit 1
  fi
  grep -E "^(#[0-9]|stat::number_of_executed_units)" "$out/$target.log" | tail -2
done
echo "fuzzing: 2 passed, 0 failed"
