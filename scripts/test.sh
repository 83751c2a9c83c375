#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite (ctest);
# then builds the toolkit without LibTorch under AddressSanitizer +
# UndefinedBehaviorSanitizer (build-asan/) and runs its tests there: every
# test that needs no LibTorch (the ML side's tests run in the first pass
# only, to keep CI well inside its time limit).
#   XTALDIFF_SKIP_SANITIZED=1 scripts/test.sh   skips the second pass
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh --tests
scripts/build.sh
(cd build && ctest --output-on-failure -j "$(nproc)")

if [ "${XTALDIFF_SKIP_SANITIZED:-0}" != 1 ]; then
  if [ ! -f build-asan/CMakeCache.txt ]; then
    cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DXTALDIFF_WITH_TORCH=OFF \
      -DXTALDIFF_SANITIZE=ON -DXTALDIFF_BUILD_BENCH=OFF
  fi
  cmake --build build-asan -j "$(nproc)"
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
  (cd build-asan && ctest --output-on-failure -j "$(nproc)")
fi
