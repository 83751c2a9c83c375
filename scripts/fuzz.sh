#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan) in ./build-fuzz and runs
# each for SECONDS (default 600) on its corpus. Findings (crash, hang, leak,
# sanitizer report) stop the run with the reproducer in build-fuzz/findings/.
#   scripts/fuzz.sh [SECONDS] [TARGET...]      e.g. scripts/fuzz.sh 60 cif formula
#   XTALDIFF_FUZZ_MERGE=1 scripts/fuzz.sh ...  also merge new coverage into fuzz/corpus/
# Needs clang-14 and libclang-rt-14-dev (Debian); installs them when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(cif poscar extxyz json formula cdvae_csv dataset_cache)

if ! command -v clang++-14 >/dev/null 2>&1 || ! dpkg-query -W libclang-rt-14-dev >/dev/null 2>&1; then
  sudo_cmd=(); [ "$(id -u)" -ne 0 ] && sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends clang-14 libclang-rt-14-dev
fi
scripts/install_deps.sh >/dev/null
if [ ! -f build-fuzz/CMakeCache.txt ]; then
  CXX=clang++-14 CC=clang-14 cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DXTALDIFF_WITH_TORCH=OFF -DXTALDIFF_BUILD_FUZZERS=ON -DXTALDIFF_BUILD_TESTS=OFF -DXTALDIFF_BUILD_BENCH=OFF
fi
cmake --build build-fuzz -j "$(nproc)" --target $(printf 'fuzz_%s ' "${targets[@]}")

mkdir -p build-fuzz/findings
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
for t in "${targets[@]}"; do
  work=build-fuzz/corpus/$t
  mkdir -p "$work"
  echo "fuzz: $t for ${seconds}s (seeds: fuzz/corpus/$t)"
  build-fuzz/fuzz/fuzz_$t -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
    -print_final_stats=1 -artifact_prefix="build-fuzz/findings/$t-" "$work" "fuzz/corpus/$t" 2>&1 |
    tee "build-fuzz/$t.log" | grep -E "^(#[0-9]+ +DONE|stat::|==|SUMMARY|INFO: seed)" || true
  if ! grep -q "^Done [0-9]* runs" "build-fuzz/$t.log"; then
    echo "fuzz: $t found a problem: see build-fuzz/$t.log and build-fuzz/findings/" >&2
    exit 1
  fi
  if [ "${XTALDIFF_FUZZ_MERGE:-0}" = 1 ]; then
    build-fuzz/fuzz/fuzz_$t -merge=1 "fuzz/corpus/$t" "$work" >/dev/null 2>&1
  fi
done
echo "fuzz: ${#targets[@]} targets ran ${seconds}s each without a finding"
