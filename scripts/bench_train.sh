#!/usr/bin/env bash
# Training-step benchmark: oto (tch executor) vs PyTorch eager on the same network (CIFAR
# ResNet-20, option-B shortcuts), batch, optimizer and thread count. Prints both results and the
# step-time ratio oto / PyTorch (target <= 1.05) and the peak RSS of each.
#
#   scripts/bench_train.sh [--batch 128] [--steps 20] [--threads N] [--rounds 3] [--cifar DIR]
# The two sides run alternately --rounds times (oto, PyTorch, oto, ...) so that a change in the
# machine's load hits both; each side's step time is the median over its rounds.
# Real CIFAR-10 is used when ../shared/datasets/cifar-10 exists (pass --random to force random data).
set -euo pipefail
cd "$(dirname "$0")/.."
BATCH=128 STEPS=20 THREADS=$(nproc) CIFAR="" RANDOM_DATA=0 ROUNDS=3
while [ $# -gt 0 ]; do
  case "$1" in
    --batch) BATCH=$2; shift 2 ;;
    --steps) STEPS=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --cifar) CIFAR=$2; shift 2 ;;
    --random) RANDOM_DATA=1; shift ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
if [ -z "$CIFAR" ] && [ "$RANDOM_DATA" = 0 ] && [ -f ../shared/datasets/cifar-10/data_batch_1.bin ]; then
  CIFAR=../shared/datasets/cifar-10
fi
DATA_ARGS=()
[ -n "$CIFAR" ] && DATA_ARGS=(--cifar "$CIFAR")
bash scripts/need_torch.sh
PY=.venv/bin/python
cargo build -q -p oto-train --release --example bench_train
OTO_RUNS=() PT_RUNS=()
for _ in $(seq "$ROUNDS"); do
  OTO_RUNS+=("$(target/release/examples/bench_train --model resnet20 --batch "$BATCH" --steps "$STEPS" --threads "$THREADS" "${DATA_ARGS[@]}")")
  PT_RUNS+=("$("$PY" scripts/bench_train_pytorch.py --batch "$BATCH" --steps "$STEPS" --threads "$THREADS" "${DATA_ARGS[@]}")")
  echo "${OTO_RUNS[-1]}"
  echo "${PT_RUNS[-1]}"
done
"$PY" - "${#OTO_RUNS[@]}" "${OTO_RUNS[@]}" "${PT_RUNS[@]}" <<'PYEOF'
import json, statistics, sys
n = int(sys.argv[1])
o = [json.loads(a) for a in sys.argv[2:2 + n]]
p = [json.loads(a) for a in sys.argv[2 + n:]]
om = statistics.median(x["step_ms"] for x in o)
pm = statistics.median(x["step_ms"] for x in p)
r = om / pm
print(f"resnet20 batch {o[0]['batch']}, {o[0]['threads']} threads, {n} alternating rounds: oto {om:.1f} ms/step, "
      f"PyTorch {pm:.1f} ms/step, ratio {r:.3f} (target <= 1.05) {'OK' if r <= 1.05 else 'SLOWER'}; "
      f"peak RSS oto {max(x['peak_rss_mib'] for x in o):.0f} MiB, PyTorch {max(x['peak_rss_mib'] for x in p):.0f} MiB")
PYEOF
