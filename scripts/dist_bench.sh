#!/usr/bin/env bash
# Data-parallel throughput (issue 26): the same run on 1 process and on N local ranks
# (`oto train --nproc N`, c10d/Gloo), same global batch; prints samples/s of the last epoch,
# the ratio, and the time per step spent in collectives. On a CPU machine the ranks share the
# cores (libtorch's threads are divided among them), so this measures the overhead of the
# collectives rather than a speed-up; on a multi-GPU machine pass --device cuda (NCCL; a build
# with --features cuda).
#   bash scripts/dist_bench.sh [N] [extra oto train flags...]
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-2}"; shift || true
cargo build -q --release -p oto-cli --features train
OTO=target/release/oto
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
ARGS=(train --model zoo:fmnist_vgg --epochs 3 --batch-size 64 --max-train-batches 30 --progress plain --no-augment "$@")
cores=$(nproc)
rate() { grep -E "^epoch 3/3" "$1" | sed -E 's/.*, ([0-9]+) samples\/s.*/\1/'; }
"$OTO" "${ARGS[@]}" --threads "$cores" --out "$OUT/one" > "$OUT/one.log" 2>&1
"$OTO" "${ARGS[@]}" --nproc "$N" --out "$OUT/many" > "$OUT/many.log" 2>&1
"$OTO" "${ARGS[@]}" --nproc "$N" --no-overlap --out "$OUT/after" > "$OUT/after.log" 2>&1
one=$(rate "$OUT/one.log"); many=$(rate "$OUT/many.log"); after=$(rate "$OUT/after.log")
comm() { grep -E "ms per step in blocking collectives" "$1" | sed -E 's/data-parallel: ([0-9.]+) ms per step[^(]*\(([0-9]+)% .*/\1 ms per step (\2 % of training)/'; }
echo "model zoo:fmnist_vgg, global batch 64, $cores cores"
echo "1 process ($cores threads):      $one samples/s"
t=$((cores / N > 0 ? cores / N : 1))
echo "$N ranks ($t thread(s) each), gradients averaged during backward (overlap, default): $many samples/s  (ratio $(python3 -c "print(f'{$many/$one:.2f}')")); blocking collectives $(comm "$OUT/many.log")"
echo "$N ranks ($t thread(s) each), gradients averaged after backward (--no-overlap):      $after samples/s  (ratio $(python3 -c "print(f'{$after/$one:.2f}')")); blocking collectives $(comm "$OUT/after.log")"
