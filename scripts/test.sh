#!/usr/bin/env bash
# Installs what the tests need (idempotent) and runs every test of the workspace.
#   bash scripts/test.sh
# Needs: Rust (cargo) and Python 3 with venv. Datasets are read from ../shared/datasets
# (override with OTO_DATASETS=DIR).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh
echo "[test] cargo test --workspace (debug build; first build compiles libtorch bindings, ~5 min)"
cargo test --workspace --no-fail-fast 2>&1
