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

build=${1:-build}
shift || true
if [ ! -d "$build" ]; then
  meson setup "$build" --werror "$@"
fi
meson test -C "$build" --print-errorlogs
