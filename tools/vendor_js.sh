#!/usr/bin/env bash
# Fetches the JavaScript libraries that report.html embeds from the npm
# registry, checks them against the pinned tarball hashes and copies the
# files the build embeds (with their licences) into third_party/js/.
# Run it to update a library: change the version and hash here, run, commit.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=third_party/js
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# name version sha256-of-the-npm-tarball
fetch() {
  local name=$1 version=$2 sha=$3
  (cd "$work" && npm pack --silent "$name@$version" >/dev/null)
  local tgz
  tgz=$(ls "$work"/*"$version".tgz)
  echo "$sha  $tgz" | sha256sum --check --quiet
  mkdir -p "$work/$name" && tar xzf "$tgz" -C "$work/$name"
  rm "$tgz"
}

fetch 3dmol 2.5.5 26d91c5036d4efe78fc032c22cb692fea92bbb3cb1e65d20bf3869673fb3d8f5
cp "$work/3dmol/package/build/3Dmol-min.js" "$dest/3Dmol-min.js"
cp "$work/3dmol/package/build/3Dmol-min.js.LICENSE.txt" "$dest/3Dmol-min.js.LICENSE.txt"
cp "$work/3dmol/package/LICENSE" "$dest/3Dmol.LICENSE"

fetch chart.js 4.6.2 24bdaa65a5f90246ef451c0b47b29463fcfa4ff445d2cfcf684ff8f1a1e949c3
cp "$work/chart.js/package/dist/chart.umd.min.js" "$dest/chart.umd.min.js"
cp "$work/chart.js/package/LICENSE.md" "$dest/chart.js.LICENSE.md"
echo "vendor_js: third_party/js updated"
