#!/usr/bin/env bash
# The prepared GPU check (issue 24): run ON the lent CUDA machine, from the repo root, after
# scripts/gpu_prepare.sh built .gpu/ here and the device run carried it. In under 8 minutes:
#   1. the demo pipeline on --device cuda (zoo VGG on the bundled Fashion-MNIST subset: DHSPG to
#      group sparsity 0.5, construction, proof);
#   2. the training step of oto vs PyTorch eager on the same GPU (CIFAR ResNet-20, batch 128,
#      random data: CIFAR does not travel), median of 3 alternating rounds;
#   3. DHSPG's step overhead on the GPU (per-tensor and multi-tensor forms);
#   4. the memory check on the GPU (issue 25): a batch that cannot fit is refused up front;
#   5. NCCL (issue 26): collectives, c10d's gradient reducer and the differentiable sum on CUDA
#      tensors, one rank per GPU (two at most); with 2+ GPUs, `oto train --nproc 2 --device cuda`;
# and prints one table. Everything it prints is also written to $OUT/gpu_check.log when $OUT is set.
set -uo pipefail
cd "$(dirname "$0")/.."
LOG=${OUT:-/tmp}/gpu_check.log
exec > >(tee "$LOG") 2>&1
PY=$(command -v python3)
TORCH_LIB=$("$PY" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
export LD_LIBRARY_PATH="$TORCH_LIB:${LD_LIBRARY_PATH:-}"
[ -x .gpu/oto-train ] || { echo "no .gpu/oto-train: run scripts/gpu_prepare.sh here and carry .gpu"; exit 2; }
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
"$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name(0))'
T0=$(date +%s)
echo "== 1. demo pipeline on cuda"
DEMO=$( { time -p .gpu/oto-train train --model zoo:fmnist_vgg --device cuda --epochs 3 --target-sparsity 0.5 \
          --progress plain --out /tmp/gpu-demo; } 2>&1 )
echo "$DEMO" | tail -6
DEMO_S=$(echo "$DEMO" | awk '/^real/ {print $2}')
DEMO_OK=$(echo "$DEMO" | grep -q "verified" && echo yes || echo NO)
echo "== 2. training step: oto vs PyTorch on cuda"
O=() P=()
for r in 1 2 3; do
  O+=("$(.gpu/bench_train --model resnet20 --batch 128 --steps 50 --warmup 10 --device cuda | tail -1)")
  P+=("$("$PY" scripts/bench_train_pytorch.py --batch 128 --steps 50 --warmup 10 --device cuda | tail -1)")
  echo "${O[-1]}"; echo "${P[-1]}"
done
echo "== 3. DHSPG step overhead on cuda"
DH=$(.gpu/bench_dhspg 128 50 2>&1); echo "$DH"
echo "== 4. memory check on cuda (expect: refused, 'the run needs about ... available')"
.gpu/oto-train train --model zoo:fmnist_vgg --device cuda --batch-size 2000000 --epochs 1 --out /tmp/gpu-mem 2>&1 | grep -E "needs about|error" | head -2
echo "== 5. NCCL: c10d collectives, reducer, autograd sum on cuda; --nproc on 2+ GPUs"
NCCL=$(.gpu/dist_nccl --nocapture 2>&1); echo "$NCCL" | grep -E "^test |test result|skipping|panicked"
NCCL_OK=$(echo "$NCCL" | grep -q "test result: ok" && echo yes || echo NO)
NGPU=$(nvidia-smi -L | wc -l)
if [ "$NGPU" -ge 2 ]; then
  .gpu/oto train --model zoo:fmnist_vgg --device cuda --nproc 2 --sync-bn --epochs 2 --target-sparsity 0.5 \
      --progress plain --out /tmp/gpu-ddp 2>&1 | tail -4
fi
echo "| NCCL test (ranks: min(GPUs, 2) = $(( NGPU < 2 ? NGPU : 2 ))) | passed: $NCCL_OK |"
"$PY" - "$DEMO_S" "$DEMO_OK" "${O[@]}" "${P[@]}" <<'PYEOF'
import json, statistics, sys
demo_s, demo_ok, runs = sys.argv[1], sys.argv[2], sys.argv[3:]
o = [json.loads(r)["step_ms"] for r in runs[:len(runs)//2]]
p = [json.loads(r)["step_ms"] for r in runs[len(runs)//2:]]
mo, mp = statistics.median(o), statistics.median(p)
print("\n| check | result |\n|---|---|")
print(f"| demo on cuda (3 epochs, DHSPG, compress, proof) | {demo_s} s, verified: {demo_ok} |")
print(f"| step, ResNet-20 batch 128: oto / PyTorch eager | {mo:.2f} ms / {mp:.2f} ms = {mo/mp:.3f} x (target <= 1.05) |")
print("| DHSPG step overhead | see section 3 above (target <= 5 % of the dense step) |")
PYEOF
echo "total $(( $(date +%s) - T0 )) s"
