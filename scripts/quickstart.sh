#!/usr/bin/env bash
# Quick start: install what is missing, build, and run the main job on the
# shipped model and data: crystal structure prediction for the first 100
# Perov-5 test compositions (default sampler: probability-flow ODE, 20 steps) with the shipped Perov-5 model, scored against
# the known structures; plus a description of the test split and its CIFs,
# and 20 new Ba-Ti-O crystals from the shipped generation model.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh
scripts/build.sh
out=${1:-out/quickstart}
mkdir -p "$out"
data=data/datasets/perov_5/test.csv.gz
model=models/perov5-csp.xtd
echo "== xtaldiff info $data"
build/xtaldiff info "$data"
echo "== xtaldiff convert $data $out/perov_5_test_cifs/"
build/xtaldiff convert "$data" "$out/perov_5_test_cifs/"
if [ -f "$model" ]; then
  echo "== xtaldiff sample --model $model --from $data --limit 100 --out $out/csp"
  build/xtaldiff sample --model "$model" --from "$data" --limit 100 --out "$out/csp"
  echo "== xtaldiff eval csp --pred $out/csp/samples.csv --gt $data --only-predicted"
  build/xtaldiff eval csp --pred "$out/csp/samples.csv" --gt "$data" --only-predicted
  echo "(100 crystals only: docs/RESULTS.md gives the full-test-set numbers and how to reproduce them)"
fi
gen=models/perov5-gen.xtd
if [ -f "$gen" ]; then
  echo "== xtaldiff sample --model $gen -n 20 --prompt \"Ba Ti O\" --out $out/gen"
  build/xtaldiff sample --model "$gen" -n 20 --prompt "Ba Ti O" --out "$out/gen"
  echo "== xtaldiff validate $out/gen/samples.csv"
  build/xtaldiff validate "$out/gen/samples.csv"
fi
echo "CIFs in $out/perov_5_test_cifs/, CSP samples in $out/csp/, new Ba-Ti-O crystals in $out/gen/"
echo "open $out/csp/report.html and $out/gen/report.html in a browser for a summary of each"
