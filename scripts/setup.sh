#!/usr/bin/env bash
# oto project set-up: Python venv with torch 2.11.0 (the exact partner of tch 0.24.0) and the
# Python-side tools (onnx, onnxruntime, torchvision, onnxscript), plus the libtorch link that
# cargo uses. Idempotent: a second run only checks versions (a few seconds).
#
#   scripts/setup.sh              torch for this machine (OTO_TORCH=auto):
#                                   no NVIDIA GPU  -> slim: libtorch without Python torch (1.4 GB
#                                                     venv, 23 s measured on a fresh clone): the
#                                                     PyPI torch wheel --no-deps + the CUDA runtime
#                                                     and CUPTI libraries libtorch links to. Rust
#                                                     training and the whole test suite work (the
#                                                     tests read committed exports); `import torch`
#                                                     does not: the PyTorch-side benchmarks and
#                                                     export scripts run scripts/need_torch.sh.
#                                   NVIDIA GPU     -> the PyPI wheel (CUDA; ~4.5 GB with its
#                                                     nvidia packages)
#   OTO_TORCH=cpu scripts/setup.sh   the CPU-only torch + torchvision wheels from
#                                 download.pytorch.org (Python torch importable, no nvidia packages)
#   OTO_TORCH=cuda|slim scripts/setup.sh   force one of the above (OTO_TORCH_SLIM=1 = slim)
#   PYTHON=python3.11 scripts/setup.sh   choose the interpreter that creates the venv
#
# Afterwards, `cargo build -p oto-train` / `cargo test -p oto-train` work with nothing exported:
# .cargo/config.toml sets LIBTORCH=.venv/libtorch (a symlink made here) and the crate's build.rs
# bakes an rpath to libtorch's lib/ into every binary.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="$ROOT/.venv"
REQ="$ROOT/requirements.txt"
PY="${PYTHON:-}"
KIND="${OTO_TORCH:-auto}"
[[ "${OTO_TORCH_SLIM:-0}" == "1" ]] && KIND=slim
if [[ "$KIND" == "auto" ]]; then
    if command -v nvidia-smi >/dev/null 2>&1 || [[ -e /proc/driver/nvidia/version ]]; then KIND=cuda; else KIND=slim; fi
fi
case "$KIND" in cpu|cuda|slim) ;; *) echo "[setup] error: OTO_TORCH must be auto, cpu, cuda or slim (got '$KIND')" >&2; exit 2;; esac
CPU_INDEX="https://download.pytorch.org/whl/cpu"
# On CI (CI=true) pip keeps no wheel cache: the torch wheels are ~4.5 GB that a one-off clean
# clone never reads again, on a disk the build also needs.
PIP=(--disable-pip-version-check)
[[ "${CI:-}" == "true" ]] && PIP+=(--no-cache-dir)
T0=$(date +%s)

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
die() { printf '\033[31m[setup] error:\033[0m %s\n' "$*" >&2; exit 1; }

# 1. venv ---------------------------------------------------------------------------------
if [[ -x "$VENV/bin/python" ]]; then
    say "venv: $VENV exists ($("$VENV/bin/python" --version 2>&1))"
else
    if [[ -z "$PY" ]]; then
        for c in python3.11 python3 python; do
            if command -v "$c" >/dev/null 2>&1; then PY="$c"; break; fi
        done
    fi
    [[ -n "$PY" ]] || die "no python3 found; install Python 3.11 (apt-get install python3 python3-venv)"
    say "venv: creating $VENV with $("$PY" --version 2>&1)"
    "$PY" -m venv "$VENV" || die "python -m venv failed (on Debian: apt-get install python3-venv)"
fi
VPY="$VENV/bin/python"

# 2. packages -----------------------------------------------------------------------------
# Prints the requirements that are not installed at exactly the pinned version.
missing() {
    "$VPY" - "$@" <<'PYEOF'
import sys
from importlib import metadata
for spec in sys.argv[1:]:
    name, ver = spec.split("==")
    try:
        have = metadata.version(name)
    except metadata.PackageNotFoundError:
        have = None
    if have is None or have.split("+")[0] != ver:
        print(spec)
PYEOF
}
mapfile -t ALL < <(grep -vE '^\s*(#|$)' "$REQ" | sed 's/\s*#.*//; s/\s//g')
torch_imports() { "$VPY" -c 'import torch' >/dev/null 2>&1; }
mapfile -t NEED < <(missing "${ALL[@]}")
if [[ "$KIND" == "cpu" ]] && ((${#NEED[@]})); then
    "$VPY" -c "import urllib.request as u; u.urlopen('$CPU_INDEX/torch/', timeout=10)" >/dev/null 2>&1 ||
        die "$CPU_INDEX cannot be reached for OTO_TORCH=cpu; use OTO_TORCH=slim (libtorch only, the default without a GPU) or OTO_TORCH=cuda (the PyPI wheel)"
fi
SLIM=0; [[ "$KIND" == "slim" ]] && SLIM=1
if [[ "$SLIM" == "1" ]] && ! ((${#NEED[@]})); then
    say "pip: all ${#ALL[@]} pinned packages present (Python torch installed; kept)"
elif [[ "$SLIM" == "1" ]]; then
    BASE=(); for r in "${ALL[@]}"; do case "$r" in torch==*|torchvision==*|onnxscript==*) ;; *) BASE+=("$r");; esac; done
    TORCH_SLIM=("torch==2.11.0" "nvidia-cuda-runtime==13.0.96" "nvidia-cuda-cupti==13.0.85")
    mapfile -t NEED < <(missing "${BASE[@]}")
    mapfile -t NEED_T < <(missing "${TORCH_SLIM[@]}")
    if ((${#NEED[@]})); then
        say "pip: installing ${NEED[*]}"
        "$VPY" -m pip install "${PIP[@]}" "${NEED[@]}"
    fi
    if ((${#NEED_T[@]})); then
        say "pip: installing libtorch alone (slim; --no-deps): ${NEED_T[*]} (~0.55 GB download; the venv takes 1.4 GB in all)"
        say "     Rust training and the tests need nothing more; Python torch stays unimportable (scripts/need_torch.sh, or OTO_TORCH=cpu|cuda, adds it)"
        "$VPY" -m pip install "${PIP[@]}" --no-deps "${TORCH_SLIM[@]}"
    fi
    ((${#NEED[@]} + ${#NEED_T[@]})) || say "pip: all pinned packages present (slim torch)"
else
    # a slim install has torch without its dependencies: the full install adds them
    if ! torch_imports && [[ " ${NEED[*]} " != *" torch=="* ]]; then NEED+=("torch==2.11.0"); fi
    if ((${#NEED[@]})); then
        if [[ "$KIND" == "cpu" ]]; then
            # the +cpu local versions, so that a slim install's torch 2.11.0 is replaced
            TORCHES=(); for r in "${NEED[@]}"; do case "$r" in torch==*|torchvision==*) TORCHES+=("$r+cpu");; esac; done
            if ((${#TORCHES[@]})); then
                say "pip: installing the CPU-only ${TORCHES[*]} from $CPU_INDEX"
                "$VPY" -m pip install "${PIP[@]}" --index-url "$CPU_INDEX" --extra-index-url https://pypi.org/simple "${TORCHES[@]}"
            fi
        fi
        mapfile -t NEED < <(missing "${ALL[@]}")
        torch_imports || [[ " ${NEED[*]} " == *" torch=="* ]] || NEED+=("torch==2.11.0")
        if ((${#NEED[@]})); then
            say "pip: installing ${NEED[*]}"
            if [[ " ${NEED[*]} " == *" torch=="* ]]; then
                say "pip: (torch 2.11.0 PyPI wheel pulls ~20 nvidia packages, ~4.5 GB; pip's cache is used, except on CI)"
                free_kb=$(df -Pk "$ROOT" | awk 'NR==2 {print $4}')
                ((free_kb > 6000000)) || say "warning: only $((free_kb / 1024)) MB free; the venv takes ~4.9 GB (README, Disk)"
            fi
            "$VPY" -m pip install "${PIP[@]}" -r "$REQ"
        fi
    else
        say "pip: all ${#ALL[@]} pinned packages present"
    fi
fi

# the CUDA headers that the NCCL binding (`--features cuda`, crates/oto-train/build.rs) compiles
# against and the wheels leave out: crt/ and CCCL (5 MB, headers only)
if [[ "$KIND" == "cuda" ]]; then
    mapfile -t NEED_H < <(missing "nvidia-cuda-crt==13.0.88" "nvidia-cuda-cccl==13.0.85")
    if ((${#NEED_H[@]})); then
        say "pip: CUDA headers for the NCCL binding: ${NEED_H[*]}"
        "$VPY" -m pip install "${PIP[@]}" --no-deps "${NEED_H[@]}"
    fi
fi

# 3. libtorch link for cargo ----------------------------------------------------------------
SITE=$("$VPY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
[[ -f "$SITE/torch/lib/libtorch_cpu.so" ]] || die "torch not found at $SITE/torch (pip install failed?)"
REL="${SITE#"$VENV"/}"
if [[ "$(readlink "$VENV/libtorch" 2>/dev/null)" != "$REL/torch" ]]; then
    ln -sfn "$REL/torch" "$VENV/libtorch"
    say "libtorch: linked .venv/libtorch -> $REL/torch"
else
    say "libtorch: .venv/libtorch -> $REL/torch (ok)"
fi
if [[ ! -f "$ROOT/.cargo/config.toml" ]] || ! grep -q 'LIBTORCH' "$ROOT/.cargo/config.toml"; then
    mkdir -p "$ROOT/.cargo"
    cat >> "$ROOT/.cargo/config.toml" <<'TOML'
[env]
LIBTORCH = { value = ".venv/libtorch", relative = true }
TOML
    say "cargo: wrote LIBTORCH to .cargo/config.toml"
fi

# 4. check ---------------------------------------------------------------------------------
if torch_imports; then
    "$VPY" -c 'import torch, onnx, onnxruntime
print("[setup] check: torch", torch.__version__, "| onnx", onnx.__version__, "| onnxruntime", onnxruntime.__version__)'
else
    "$VPY" -c 'import onnx, onnxruntime' || die "onnx / onnxruntime do not import"
    say "check: slim install (libtorch for cargo; Python torch not importable: scripts/need_torch.sh adds it)"
fi
say "done in $(( $(date +%s) - T0 )) s. Build with: cargo build -p oto-train (no environment needed)"
