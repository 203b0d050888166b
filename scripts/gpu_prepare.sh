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
mkdir -p .gpu
cp target/release/oto target/release/oto-train target/release/examples/bench_train target/release/examples/bench_dhspg .gpu/
strip .gpu/* 2>/dev/null || true
du -ch .gpu/* | tail -1
echo "then: device run  'bash scripts/gpu_check.sh'  with carry [\".gpu\"], timeout_s 540"
