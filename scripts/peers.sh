#!/usr/bin/env bash
# The side-by-side benchmark of issue 24 (scripts/peers/bench.py; arguments pass through):
# installs the peers (only-train-once 3.0.1, torch-pruning 1.6.1) into the project venv, builds
# `oto` in release mode, and runs the cells missing from docs/peers/cells/.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/need_torch.sh
PY=.venv/bin/python
"$PY" -c 'import only_train_once, torch_pruning' 2>/dev/null || "$PY" -m pip install -q only-train-once==3.0.1 torch-pruning==1.6.1
cargo build -q --release -p oto-cli
exec "$PY" scripts/peers/bench.py "$@"
