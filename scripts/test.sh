#!/usr/bin/env bash
# Installs what the tests need (idempotent) and runs every test of the workspace.
#   bash scripts/test.sh
# Needs: Rust (cargo) and Python 3 with venv. Datasets are read from ../shared/datasets
# (override with OTO_DATASETS=DIR).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh
# A one-off CI clone never rebuilds incrementally: skip the incremental cache (~0.8 GB of disk).
[[ "${CI:-}" == "true" ]] && export CARGO_INCREMENTAL=0
# The test build takes ~2.4 GB under target/ (README "Disk"); say so before a linker dies of it.
free_kb=$(df -Pk . | awk 'NR==2 {print $4}')
if [[ ! -d target/debug && "$free_kb" -lt 3000000 ]]; then
    echo "[test] warning: only $((free_kb / 1024)) MB free here; the first test build needs ~2.5 GB under target/" >&2
fi
echo "[test] cargo test --workspace (debug build; first build compiles libtorch bindings, ~5 min)"
status=0
cargo test --workspace --no-fail-fast 2>&1 || status=$?
echo "[test] disk used: target/ $(du -sh target 2>/dev/null | cut -f1), .venv/ $(du -sh .venv 2>/dev/null | cut -f1); free: $(df -h . | awk 'NR==2 {print $4}')"
exit "$status"
