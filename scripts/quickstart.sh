#!/usr/bin/env bash
# Quick start: install what is missing, build, and run the main job on the
# shipped data: describe the Perov-5 test split and convert it to CIFs.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh
scripts/build.sh
out=${1:-out/quickstart}
mkdir -p "$out"
echo "== xtaldiff info data/datasets/perov_5/test.csv.gz"
build/xtaldiff info data/datasets/perov_5/test.csv.gz
echo "== xtaldiff convert data/datasets/perov_5/test.csv.gz $out/perov_5_test_cifs/"
build/xtaldiff convert data/datasets/perov_5/test.csv.gz "$out/perov_5_test_cifs/"
build/xtaldiff convert --symmetrize data/datasets/perov_5/test.csv.gz "$out/perov_5_test_symmetrized/"
echo "CIFs (P1) in $out/perov_5_test_cifs/, symmetrised CIFs in $out/perov_5_test_symmetrized/"
