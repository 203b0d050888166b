#!/usr/bin/env bash
# Makes Python torch and torchvision importable in the project venv, for the PyTorch-side
# benchmarks and export scripts (the tests do not need them). After the slim set-up (libtorch
# only, the default on a machine without an NVIDIA GPU that cannot reach the CPU-wheel index)
# this installs the full torch: the CPU-only wheels where download.pytorch.org answers, else the
# PyPI wheel with its nvidia packages (~4.5 GB). Idempotent: a no-op once torch imports.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh >/dev/null
.venv/bin/python -c 'import torch, torchvision' 2>/dev/null && exit 0
if .venv/bin/python -c "import urllib.request as u; u.urlopen('https://download.pytorch.org/whl/cpu/torch/', timeout=10)" >/dev/null 2>&1; then
    kind=cpu
else
    kind=cuda
fi
echo "[need_torch] Python torch is not importable (slim set-up): installing torch for Python (OTO_TORCH=$kind)" >&2
OTO_TORCH=$kind bash scripts/setup.sh
