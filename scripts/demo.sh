#!/usr/bin/env bash
# The main job on built-in defaults: installs what is needed (idempotent), builds oto in release
# mode and runs `oto` with no arguments (see README).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh
cargo build --release -p oto-cli
exec "$ROOT/target/release/oto" "$@"
