#!/usr/bin/env bash
# Run HERE (the CPU box) before a device session: builds the CUDA-enabled binaries that
# scripts/gpu_check.sh runs on the lent GPU machine (which has PyTorch 2.11 + CUDA but no Rust
# and no network), strips them into .gpu/ (ignored by git; pass `carry: [".gpu"]` to the device
# run) and prints their size (the working tree that travels is limited to 64 MiB).
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >> .git/info/exclude
cargo build -q --release -p oto-cli --features cuda
cargo build -q --release -p oto-train --features cuda --example bench_train --example bench_dhspg
# the NCCL test (issue 26): its binary, found through cargo's JSON messages
NCCL_TEST=$(cargo test -q --release -p oto-train --features cuda --test dist_nccl --no-run --message-format=json 2>/dev/null |
    python3 -c 'import json, sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m.get("target", {}).get("name") == "dist_nccl" and m.get("executable"):
        print(m["executable"])')
mkdir -p .gpu
cp target/release/oto target/release/oto-train target/release/examples/bench_train target/release/examples/bench_dhspg .gpu/
cp "$NCCL_TEST" .gpu/dist_nccl
strip .gpu/* 2>/dev/null || true
du -ch .gpu/* | tail -1
echo "then: device run  'bash scripts/gpu_check.sh'  with carry [\".gpu\"], timeout_s 540"
