#!/usr/bin/env bash
# One GPU session in one command, on a CUDA machine that has PyTorch (its
# LibTorch) but no Debian packages and no network: build xtaldiff against
# PyTorch's LibTorch and the prefix that scripts/gpu_deps.sh made (.devdeps),
# check every network and sampler op on CUDA against the CPU (backend_ops),
# then train three models side by side on the one GPU (each launch-bound
# process leaves the GPU idle between its kernels, so they interleave), and
# sample the test sets with the results. Everything it keeps lands in OUT_DIR.
#
#   scripts/gpu_session.sh OUT_DIR [BUDGET_SECONDS]
#
# BUDGET_SECONDS (default 540) is the wall time the whole script may take:
# the trainings get what the build leaves, minus a reserve for sampling.
# What it needs of the tree: src/, cmake/, tests/*.cpp, data/reference,
# data/datasets/{mp_20,mpts_52}, models/{mp20-csp,mp20-gen,perov5-csp-flow}.xtd
# and .devdeps (about 40 MB); where the copy to the GPU machine has a size
# limit, leave the rest (fuzz corpora, test fixtures, other models) behind.
# Session 15 ran its first version: docs/RESULTS.md, "GPU training".
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: gpu_session.sh OUT_DIR [BUDGET_SECONDS]}
budget=${2:-540}
mkdir -p "$out"
t0=$(date +%s)
elapsed() { echo $(( $(date +%s) - t0 )); }
say() { echo "[$(elapsed) s] $*"; }
work=/tmp/xtaldiff-gpu
mkdir -p "$work"

say "machine"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
nproc
g++ --version | head -1
cmake --version | head -1
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "cxx11abi", torch._C._GLIBCXX_USE_CXX11_ABI)'

# --- build -----------------------------------------------------------------
torch_prefix=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
deps=$PWD/.devdeps/usr
say "configure"
cmake -S . -B build-cuda -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$torch_prefix;$deps" -DCMAKE_POLICY_VERSION_MINIMUM=3.5 \
  -DXTALDIFF_BUILD_BENCH=OFF -DXTALDIFF_TCMALLOC=OFF \
  -DTORCH_CUDA_ARCH_LIST=9.0 -DCMAKE_CUDA_ARCHITECTURES=90 > "$work/configure.log" 2>&1 \
  || { tail -60 "$work/configure.log"; cp "$work/configure.log" "$out/"; exit 1; }
say "build"
ninja -C build-cuda -j "$(nproc)" xtaldiff backend_ops > "$work/build.log" 2>&1 \
  || { grep -B2 -A12 'error' "$work/build.log" | head -150; cp "$work/build.log" "$out/"; exit 1; }
x=build-cuda/xtaldiff
say "built: $($x --version 2>&1 | head -1)"

# --- CUDA consistency check and speed, beside the trainings ---------------
ops=build-cuda/tests/backend_ops
( timeout 240 $ops test > "$work/backend_ops_test.log" 2>&1; echo "exit $?" >> "$work/backend_ops_test.log"
  timeout 60 $ops perf --device cuda --seconds 4 --sizes small,base > "$work/backend_ops_perf.log" 2>&1
  echo "exit $?" >> "$work/backend_ops_perf.log" ) &
checks=$!

# --- trainings ------------------------------------------------------------------
# Each gets a wall-clock deadline (loading the data counts: space-group labels
# of MP-20 take a while). At the deadline `timeout` sends SIGTERM, on which
# `xtaldiff train` finishes its step and writes its checkpoint and model file.
sample_reserve=150
train_secs=$(( budget - sample_reserve - $(elapsed) ))
[ "$train_secs" -lt 60 ] && train_secs=60
say "training for ${train_secs} s of wall time"
common=(--device cuda --threads 5 --seed 42 --checkpoint-minutes 1 --config small --objective flow --epochs 100000)
train() {  # name, then train's own arguments
  local name=$1; shift
  timeout -s TERM -k 60 "$train_secs" "$x" train "${common[@]}" --out "$work/$name.xtd" "$@" \
    > "$work/$name.train.log" 2>&1
  echo "exit $?" >> "$work/$name.train.log"
}
train mp20-csp --task csp --data data/datasets/mp_20/train.csv.gz --init models/mp20-csp.xtd --batch 256 --lr 0.001 &
p1=$!
train mp20-gen --task gen --data data/datasets/mp_20/train.csv.gz --init models/mp20-gen.xtd \
  --condition spacegroup,formation_energy_per_atom,band_gap --type-diffusion d3pm --batch 256 --lr 0.001 &
p2=$!
train mpts52-csp --task csp --data data/datasets/mpts_52/train.csv.gz --init models/mp20-csp.xtd --batch 128 --lr 0.001 &
p3=$!
wait $p1 $p2 $p3
say "trainings done"
for n in mp20-csp mp20-gen mpts52-csp; do tail -3 "$work/$n.train.log"; done

# --- sampling with the new models: first test rows, de novo ----------------------
sample_secs=$(( budget - 30 - $(elapsed) ))
[ "$sample_secs" -lt 30 ] && sample_secs=30
sample() {  # name, model, then sample's own arguments
  local name=$1 model=$2; shift 2
  [ -f "$model" ] || { echo "$name: no model $model"; return; }
  timeout "$sample_secs" "$x" sample --model "$model" --device cuda --threads 5 --seed 0 --batch-atoms 32768 -q \
    --out "$work/$name" "$@" > "$work/$name.sample.log" 2>&1
  echo "exit $?" >> "$work/$name.sample.log"
}
say "sampling for at most ${sample_secs} s"
sample mp20-csp-test "$work/mp20-csp.xtd" --from data/datasets/mp_20/test.csv.gz --limit 2000 \
  --sampler ode --steps 100 --anneal 10 &
sample mpts52-csp-test "$work/mpts52-csp.xtd" --from data/datasets/mpts_52/test.csv.gz --limit 1000 \
  --sampler ode --steps 100 --anneal 10 --lattice-clip 67 &
sample mp20-gen-1k "$work/mp20-gen.xtd" -n 1000 &
wait
kill $checks 2>/dev/null
say "sampling done"

# --- what comes back (at most 8 files) ----------------------------------------
for n in mp20-csp mp20-gen mpts52-csp; do [ -f "$work/$n.xtd" ] && cp "$work/$n.xtd" "$out/"; done
(cd "$work" && tar czf "$out/results.tar.gz" --ignore-failed-read *.log *.xtd.log \
  */samples.csv */manifest.json 2>/dev/null)
ls -la "$out"
cat "$work/backend_ops_test.log" | tail -40
cat "$work/backend_ops_perf.log" | tail -20
say "done"
