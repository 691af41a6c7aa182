#!/usr/bin/env bash
# Builds idem's tests, examples and single-header suite with Meson and runs them all.
# Installs the build tools with apt-get when they are missing (Debian; needs root).
#   tools/test.sh [BUILD_DIR] [extra meson setup options...]
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v c++ >/dev/null || need+=(g++)
command -v meson >/dev/null || need+=(meson)
command -v ninja >/dev/null || need+=(ninja-build)
command -v python3 >/dev/null || need+=(python3)
[ -f /usr/include/doctest/doctest.h ] || need+=(doctest-dev)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "${need[@]}" cmake pkg-config
fi

# The tests talk to loopback servers they start; a proxy from the environment (read by fetch,
# as curl reads it) would send their requests elsewhere.
unset http_proxy https_proxy all_proxy ALL_PROXY HTTPS_PROXY no_proxy NO_PROXY

build=${1:-build}
shift || true
# Tests and examples on, whatever an earlier setup of the same directory said (an install
# configured with -Dtests=false, say), and the options given now applied, not ignored.
opts=(--werror -Dtests=true -Dexamples=true "$@")
if [ -f "$build/build.ninja" ]; then
  meson setup --reconfigure "$build" "${opts[@]}" >/dev/null
else
  meson setup "$build" "${opts[@]}"
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
meson test -C "$build" --print-errorlogs | tee "$log"
# A run that ran nothing is a failure, not a pass.
if grep -q "No tests defined" "$log" || ! grep -qE "^Ok: +[1-9]" "$log"; then
  echo "tools/test.sh: no test ran" >&2
  exit 1
fi
