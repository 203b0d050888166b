#!/usr/bin/env bash
# Training-step benchmark: oto (tch executor) vs PyTorch eager on the same network (CIFAR
# ResNet-20, option-B shortcuts), batch, optimizer and thread count. Prints both results and the
# step-time ratio oto / PyTorch (target <= 1.05) and the peak RSS of each.
#
#   scripts/bench_train.sh [--batch 128] [--steps 20] [--threads N] [--cifar DIR]
# Real CIFAR-10 is used when ../shared/datasets/cifar-10 exists (pass --random to force random data).
set -euo pipefail
cd "$(dirname "$0")/.."
BATCH=128 STEPS=20 THREADS=$(nproc) CIFAR="" RANDOM_DATA=0
while [ $# -gt 0 ]; do
  case "$1" in
    --batch) BATCH=$2; shift 2 ;;
    --steps) STEPS=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
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
PY=.venv/bin/python
[ -x "$PY" ] || PY=python3
cargo build -q -p oto-train --release --example bench_train
OTO_JSON=$(target/release/examples/bench_train --model resnet20 --batch "$BATCH" --steps "$STEPS" --threads "$THREADS" "${DATA_ARGS[@]}")
PT_JSON=$("$PY" scripts/bench_train_pytorch.py --batch "$BATCH" --steps "$STEPS" --threads "$THREADS" "${DATA_ARGS[@]}")
echo "$OTO_JSON"
echo "$PT_JSON"
"$PY" - "$OTO_JSON" "$PT_JSON" <<'PYEOF'
import json, sys
o, p = json.loads(sys.argv[1]), json.loads(sys.argv[2])
r = o["step_ms"] / p["step_ms"]
print(f"resnet20 batch {o['batch']}, {o['threads']} threads: oto {o['step_ms']:.1f} ms/step, "
      f"PyTorch {p['step_ms']:.1f} ms/step, ratio {r:.3f} (target <= 1.05) {'OK' if r <= 1.05 else 'SLOWER'}; "
      f"peak RSS oto {o['peak_rss_mib']:.0f} MiB, PyTorch {p['peak_rss_mib']:.0f} MiB")
PYEOF
