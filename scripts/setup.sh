#!/usr/bin/env bash
# oto project set-up: Python venv with torch 2.11.0 (the exact partner of tch 0.24.0) and the
# Python-side tools (onnx, onnxruntime, torchvision, onnxscript), plus the libtorch link that
# cargo uses. Idempotent: a second run only checks versions (a few seconds).
#
#   scripts/setup.sh              torch for this machine (OTO_TORCH=auto):
#                                   no NVIDIA GPU  -> the CPU-only wheels from download.pytorch.org
#                                                     (about 0.2 GB download); if that index cannot
#                                                     be reached, the slim libtorch below instead
#                                                     (the choice is kept in .venv/oto-torch-kind)
#                                   NVIDIA GPU     -> the PyPI wheel (CUDA; ~4.5 GB with its
#                                                     nvidia packages)
#   OTO_TORCH=cpu|cuda scripts/setup.sh
#                                 force one of the two
#   OTO_TORCH=slim scripts/setup.sh   (or OTO_TORCH_SLIM=1)
#                                 CPU-only libtorch without Python torch (1.4 GB venv, 23 s measured):
#                                 torch --no-deps + CUDA runtime and CUPTI only. Rust training and
#                                 the whole test suite work (the tests read committed exports);
#                                 `import torch` does NOT: the PyTorch-side benchmarks and export
#                                 scripts run `scripts/need_torch.sh`, which adds the full wheel.
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
    if command -v nvidia-smi >/dev/null 2>&1 || [[ -e /proc/driver/nvidia/version ]]; then KIND=cuda; else KIND=cpu; fi
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
KIND_FILE="$VENV/oto-torch-kind"   # what an earlier run of auto mode chose (cpu or slim)
mapfile -t NEED < <(missing "${ALL[@]}")
if [[ "$KIND" == "cpu" && "${OTO_TORCH:-auto}" == "auto" && -f "$KIND_FILE" ]]; then
    KIND=$(cat "$KIND_FILE")
elif [[ "$KIND" == "cpu" ]] && ((${#NEED[@]})); then
    if "$VPY" -c "import urllib.request as u; u.urlopen('$CPU_INDEX/torch/', timeout=10)" >/dev/null 2>&1; then
        [[ "${OTO_TORCH:-auto}" == "auto" ]] && echo cpu > "$KIND_FILE"
    elif [[ "${OTO_TORCH:-auto}" == "auto" ]]; then
        say "pip: $CPU_INDEX cannot be reached; installing libtorch alone (slim, ~1.2 GB): Rust training and every test work, Python torch does not (OTO_TORCH=cuda scripts/setup.sh installs the full PyPI wheel, ~4.5 GB)"
        KIND=slim
        echo slim > "$KIND_FILE"
    else
        die "$CPU_INDEX cannot be reached for OTO_TORCH=cpu; use OTO_TORCH=slim (libtorch only) or OTO_TORCH=cuda (the PyPI wheel)"
    fi
fi
SLIM=0; [[ "$KIND" == "slim" ]] && SLIM=1
if [[ "$SLIM" == "1" ]] && ! ((${#NEED[@]})); then
    say "pip: all ${#ALL[@]} pinned packages present (full torch; nothing to slim)"
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
        say "pip: installing slim CPU libtorch (--no-deps): ${NEED_T[*]} (~1.2 GB)"
        "$VPY" -m pip install "${PIP[@]}" --no-deps "${TORCH_SLIM[@]}"
    fi
    ((${#NEED[@]} + ${#NEED_T[@]})) || say "pip: all pinned packages present (slim torch)"
else
    # a slim install has torch without its dependencies: the full install adds them
    if ! torch_imports && [[ " ${NEED[*]} " != *" torch=="* ]]; then NEED+=("torch==2.11.0"); fi
    if ((${#NEED[@]})); then
        if [[ "$KIND" == "cpu" ]]; then
            TORCHES=(); for r in "${NEED[@]}"; do case "$r" in torch==*|torchvision==*) TORCHES+=("$r");; esac; done
            if ((${#TORCHES[@]})); then
                say "pip: installing the CPU-only ${TORCHES[*]} from $CPU_INDEX (no GPU found)"
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
        rm -f "$KIND_FILE"   # full torch now: later auto runs keep it
    else
        say "pip: all ${#ALL[@]} pinned packages present"
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
if [[ "$SLIM" == "1" ]]; then
    say "check: slim install, skipping 'import torch' (not importable without the CUDA deps)"
else
    "$VPY" -c 'import torch, torchvision, onnx, onnxruntime, onnxscript
print("[setup] check: torch", torch.__version__, "| torchvision", torchvision.__version__,
      "| onnx", onnx.__version__, "| onnxruntime", onnxruntime.__version__, "| onnxscript", onnxscript.__version__)'
fi
say "done in $(( $(date +%s) - T0 )) s. Build with: cargo build -p oto-train (no environment needed)"
