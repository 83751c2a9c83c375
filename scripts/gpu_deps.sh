#!/usr/bin/env bash
# Copies the Debian development files xtaldiff builds against (fmt, nlohmann-json,
# CLI11, spglib, zlib, GoogleTest) into .devdeps/usr, a prefix that travels to a
# CUDA machine which has PyTorch's LibTorch but none of these packages and no
# registry to install them from. scripts/gpu_session.sh builds against it.
# Run on a Debian 12 machine where scripts/install_deps.sh has run.
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.devdeps/' .git/info/exclude 2>/dev/null || { mkdir -p .git/info; echo '/.devdeps/' >> .git/info/exclude; }
rm -rf .devdeps && mkdir .devdeps
for pkg in libfmt-dev libfmt9 nlohmann-json3-dev libcli11-dev libsymspg-dev libsymspg1 zlib1g-dev libgtest-dev libgmock-dev; do
  dpkg -L "$pkg" | while read -r f; do
    case "$f" in */doc/*|*/man/*|/usr/src/*) continue ;; esac
    if [ -f "$f" ] || [ -L "$f" ]; then cp -a --parents "$f" .devdeps/ 2>/dev/null || true; fi
  done
done
# zlib's development link points at /lib; make it relative to the prefix.
zlib_so=$(ls /usr/lib/x86_64-linux-gnu/libz.so.1.* | head -1)
cp -a "$zlib_so" .devdeps/usr/lib/x86_64-linux-gnu/
ln -sf "$(basename "$zlib_so")" .devdeps/usr/lib/x86_64-linux-gnu/libz.so
echo ".devdeps: $(du -sh .devdeps | cut -f1)"
