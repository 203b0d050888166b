#!/usr/bin/env bash
# The real-export corpus (issue 22): export real PyTorch models as users do, then run oto over
# them (analysis, prune + compress with the proof, ONNX checker and onnxruntime), one line per
# model and a total. Exports are cached in CORPUS_DIR; results in docs/corpus/results.json.
#
#   bash scripts/corpus.sh [CORPUS_DIR] [--exporters ts,dynamo] [--batch 1,dyn] [--only a,b]
# Default: .cache/corpus, TorchScript exporter, batch 1. Needs the venv with torch (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=.cache/corpus
if [[ $# -gt 0 && "$1" != --* ]]; then DIR=$1; shift; fi
bash scripts/need_torch.sh
# timm and Hugging Face transformers are only needed here (not by the tests)
.venv/bin/python -c "import timm, transformers" 2>/dev/null || .venv/bin/pip install -q timm transformers
cargo build -q --release -p oto-cli --bin oto --no-default-features
.venv/bin/python scripts/corpus/export.py "$DIR" "$@"
.venv/bin/python scripts/corpus/run.py "$DIR" --oto target/release/oto
