#!/usr/bin/env bash
# Data-parallel training throughput: crystals/s of `xtaldiff train` on one
# process (1 thread, then every core as threads) and on one rank per core
# (`--nproc`, one thread each), with the same global batch, and the scaling
# efficiency: (rate on N ranks) / (N × rate of one single-threaded process).
# Peak resident memory per process from GNU time. Reads the rate of the last
# epoch of each run from OUT.log (the first includes warm-up).
#   bench/data_parallel.sh [DATASET [CONFIG [GLOBAL_BATCH [EPOCHS]]]]
# Defaults: MP-20's first 2573 training rows (mixed sizes, batched by size),
# the "small" network, global batch 64, 2 epochs.
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-data/datasets/mp_20_head/train_head.csv.gz}
config=${2:-small}
batch=${3:-64}
epochs=${4:-2}
cores=$(nproc)
bin=build/xtaldiff
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# A validation set of a few crystals: this measures training, not evaluation.
val=data/datasets/perov_5/val.csv.gz

run() {  # NAME NPROC THREADS -> prints "rate peak_mb"
  local name=$1 nproc=$2 threads=$3
  local per_rank=$((batch / nproc))
  /usr/bin/time -f "%M" -o "$work/$name.time" "$bin" train --task csp --config "$config" --data "$data" \
    --val "$val" --val-max 8 --batching size --batch "$per_rank" --epochs "$epochs" --threads "$threads" \
    --nproc "$nproc" -q --out "$work/$name.xtd" >"$work/$name.out" 2>&1 ||
    { cat "$work/$name.out" >&2; exit 1; }
  local rate
  rate=$(tail -n 1 "$work/$name.xtd.log" | python3 -c 'import json,sys; print(json.load(sys.stdin)["crystals_per_s"])')
  # GNU time reports the launcher with --nproc: its ranks are its children, so
  # the figure is the largest of them (KiB).
  echo "$rate $(($(tail -n 1 "$work/$name.time") / 1024))"
}

echo "data $data, network $config, global batch $batch, $epochs epochs, $cores cores"
read -r r1 m1 < <(run one_thread 1 1)
read -r rt mt < <(run one_process 1 "$cores")
read -r rn mn < <(run ranks "$cores" 1)
printf "%-34s %10s %10s %12s\n" "run" "crystals/s" "peak MiB" "efficiency"
printf "%-34s %10.1f %10d %12s\n" "1 process, 1 thread" "$r1" "$m1" "-"
printf "%-34s %10.1f %10d %11.0f%%\n" "1 process, $cores threads" "$rt" "$mt" "$(python3 -c "print(100*$rt/($cores*$r1))")"
printf "%-34s %10.1f %10d %11.0f%%\n" "$cores ranks (--nproc), 1 thread each" "$rn" "$mn" "$(python3 -c "print(100*$rn/($cores*$r1))")"
