#!/usr/bin/env bash
# The fuzzing benchmark of issue 25: a mutation fuzzer over loading, analysis and construction
# (crates/oto-graph/examples/fuzz.rs), seeded with the zoo and the committed real PyTorch
# exports; prints executions, crashes (must be 0), slow inputs and the slowest one. A crash's
# input is saved under target/fuzz-crashes/ to become a regression test
# (crates/oto-graph/tests/fuzz_regressions/).
#
#   bash scripts/fuzz.sh [--execs N] [--seed S]      (default 1,000,000 executions, ~15 min)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q --release -p oto-graph --example fuzz
mapfile -t exports < <(find crates/oto-cli/tests/fixtures -name '*.onnx' -size -2M | sort)
exec target/release/examples/fuzz "$@" "${exports[@]}"
