#!/usr/bin/env bash
# Analysis benchmark (issue 2's speed targets):
#  1. per zoo model and two synthetic 10,000+-node graphs: parse vs analysis time, in process
#     (target: analysis <= parse) — the bench_analyze example;
#  2. the whole command as a fresh process: `oto analyze densenet121.onnx --json r.json` on the
#     full 224-px DenseNet-121 (32 MB of weights), median wall time over --runs runs
#     (target: < 100 ms on a 2-core machine).
#
#   scripts/bench_analyze.sh [--quick] [--runs 15] [--only NAME]
# --quick: fewer rounds in part 1; --only NAME: part 1 for one graph only.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=15 EX_ARGS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) EX_ARGS+=(--quick); shift ;;
    --runs) RUNS=$2; shift 2 ;;
    --only) EX_ARGS+=("--only=$2"); shift 2 ;;
    *) echo "unknown argument $1 (see the header of $0)" >&2; exit 2 ;;
  esac
done
cargo build -q --release -p oto-cli --bin oto
cargo build -q --release -p oto-graph --example bench_analyze
target/release/examples/bench_analyze "${EX_ARGS[@]}"

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
target/release/oto zoo export densenet121 -o "$TMP/densenet121.onnx" > /dev/null
target/release/oto analyze "$TMP/densenet121.onnx" --json "$TMP/r.json" > /dev/null # warm the page cache
TIMES=()
for _ in $(seq "$RUNS"); do
  t0=$(date +%s%N)
  target/release/oto analyze "$TMP/densenet121.onnx" --json "$TMP/r.json" > /dev/null
  t1=$(date +%s%N)
  TIMES+=($(( (t1 - t0) / 1000 )))
done
python3 - "${TIMES[@]}" <<'PYEOF'
import statistics, sys
t = sorted(int(x) / 1000 for x in sys.argv[1:])
m = statistics.median(t)
print(f"\nwhole `oto analyze densenet121.onnx --json r.json` (fresh process, {len(t)} runs): "
      f"median {m:.1f} ms, min {t[0]:.1f}, max {t[-1]:.1f} (target < 100 ms) {'OK' if m < 100 else 'SLOWER'}")
PYEOF
