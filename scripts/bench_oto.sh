#!/usr/bin/env bash
# Benchmark campaign (docs/benchmarks.md): every experiment trains the same network twice with
# identical settings (data, epochs, batch, optimizer, schedule, seed) — once dense, once with
# DHSPG to a target group sparsity (then compressed and verified) — and the two are compared:
# accuracy (or PSNR), FLOPs and params kept, tract latency, step time (DHSPG overhead). A third
# run, "scratch", re-initialises the compressed architecture (`--reinit`) and trains it dense with
# the same settings: the control that tells the smaller network's cost from the pruning's. A
# fourth, "hesso", prunes to the same target with HESSO (OTOv3; `--pruner hesso`, 10 periods) in
# DHSPG's pruning window — from epoch ⌊epochs/5⌋ to a quarter of the run later, or the experiment's
# window=S,D — so that only the optimizer differs.
#
#   scripts/bench_oto.sh [--only NAME[,NAME..]] [--out runs/bench] [--data ../shared/datasets]
#                        [--threads N] [--epochs N] [--fresh] [--publish] [--list] [--no-build]
#                        [--no-scratch] [--no-hesso] [--seed N]
#
# CPU scale: the epochs and steps per epoch below are sized for a 2-core machine (the whole
# campaign ≈ 1 h with the scratch runs); they are far from the paper's 300-epoch GPU recipes, so absolute accuracies
# are low — the comparison dense vs oto at equal budget is the point. Finished runs are kept and
# skipped (re-running continues the campaign); --fresh starts over. --publish copies the table and
# pictures into docs/benchmarks/. --epochs N overrides every experiment's epoch count (same steps
# per epoch; pruning starts at N/5 and must finish a quarter of the run later) — use its own --out.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${OTO_DATA:-../shared/datasets} OUT=runs/bench ONLY="" THREADS=$(nproc) FRESH=0 PUBLISH=0 LIST=0 BUILD=1 EPOCHS="" SCRATCH=1 HESSO=1 SEED=0
while [ $# -gt 0 ]; do
  case "$1" in
    --only) ONLY=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --data) DATA=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --epochs) EPOCHS=$2; shift 2 ;;
    --fresh) FRESH=1; shift ;;
    --publish) PUBLISH=1; shift ;;
    --list) LIST=1; shift ;;
    --no-build) BUILD=0; shift ;;
    --no-scratch) SCRATCH=0; shift ;;
    --no-hesso) HESSO=0; shift ;;
    --seed) SEED=$2; shift 2 ;;
    *) echo "unknown argument $1 (see the header of $0)" >&2; exit 2 ;;
  esac
done

MODELS="$OUT/models"
# name | target | oto train arguments (shared by the dense and the oto run) [| window=S,D]. The
# target is a group sparsity (--target-sparsity), or flops=F for a share of MACs kept
# (--target-flops). Models marked @NAME:ARGS are exported first with `oto zoo export NAME ARGS`
# (smaller widths for CPU). window=S,D: the pruning window as fractions of the run (start, deadline)
# for the oto and hesso runs, a published recipe's where it has one; without it oto uses oto train's
# default (epoch ⌊E/5⌋ to a quarter of the run later) and hesso the same window.
EXPERIMENTS=(
  "fmnist_vgg|0.5|zoo:fmnist_vgg --dataset fashion-mnist --data $DATA/fashion-mnist --epochs 6 --batch-size 64 --max-train-batches 200"
  "resnet20_cifar10|0.5|zoo:resnet20 --dataset cifar10 --data $DATA/cifar-10 --epochs 6 --batch-size 128 --max-train-batches 40"
  "vgg16_bn_w025_cifar10|flops=0.266|@vgg16_bn:--width 0.25 --dataset cifar10 --data $DATA/cifar-10 --epochs 6 --batch-size 128 --max-train-batches 40"
  "carn_x2_set5|flops=0.184|zoo:carn_x2 --dataset sr --data $DATA/super-resolution --sr-scale 2 --sr-patch 24 --sr-batches-per-epoch 20 --epochs 30 --batch-size 16 --optimizer adam --lr 5e-4 --adam-init standard --upper-group-sparsity 0.9|window=0.1,0.2"
  "densenet_bc_tinyimagenet10|0.5|zoo:densenet_bc --dataset imagefolder --data $DATA/tiny-imagenet-10 --image-size 32 --epochs 5 --batch-size 64 --max-train-batches 30"
  "resnet56_cifar10|0.5|zoo:resnet56 --dataset cifar10 --data $DATA/cifar-10 --epochs 6 --batch-size 128 --max-train-batches 40 --warmup-epochs 1"
)

if [ "$LIST" = 1 ]; then
  for e in "${EXPERIMENTS[@]}"; do
    IFS='|' read -r n s a w <<<"$e"
    [ -n "$EPOCHS" ] && a=$(sed -E "s/--epochs [0-9]+/--epochs $EPOCHS/" <<<"$a")
    echo "$n (target $s${w:+, $w}): oto train $a"
  done
  exit 0
fi
TARGET=${CARGO_TARGET_DIR:-target}
[ "$BUILD" = 1 ] && cargo build -q --release -p oto-cli -p oto-train --bin oto --bin oto-train --example bench_report
OTO=${OTO_BIN:-$TARGET/release/oto}  # OTO_BIN: a copied binary, for campaigns that outlive rebuilds
mkdir -p "$OUT"
selected() { [ -z "$ONLY" ] || [[ ",$ONLY," == *",$1,"* ]]; }
for e in "${EXPERIMENTS[@]}"; do
  IFS='|' read -r name target args window <<<"$e"
  selected "$name" || continue
  [ -n "$EPOCHS" ] && args=$(sed -E "s/--epochs [0-9]+/--epochs $EPOCHS/" <<<"$args")
  if [[ "$args" == @* ]]; then
    spec=${args%% --dataset*}; rest=${args#"$spec"}; zoo=${spec#@}; zname=${zoo%%:*}; zargs=${zoo#*:}
    model="$MODELS/$name.onnx"
    mkdir -p "$MODELS"
    # shellcheck disable=SC2086
    [ -f "$model" ] || "$OTO" zoo export "$zname" $zargs -o "$model" >/dev/null
    args="$model$rest"
  fi
  modes=(dense oto)
  [ "$SCRATCH" = 1 ] && modes+=(scratch)
  [ "$HESSO" = 1 ] && modes+=(hesso)
  for mode in "${modes[@]}"; do
    dir="$OUT/$name/$mode"
    if [ "$FRESH" = 1 ]; then rm -rf "$dir"; fi
    # a scratch run describes one compressed architecture: redo it when the oto run is newer
    if [ "$mode" = scratch ] && [ -f "$dir/summary.json" ] && [ "$OUT/$name/oto/compressed.onnx" -nt "$dir/summary.json" ]; then
      echo "[bench] $name/scratch: older than oto/compressed.onnx, redoing it"; rm -rf "$dir"
    fi
    if [ -f "$dir/summary.json" ]; then echo "[bench] $name/$mode: done (kept; --fresh to redo)"; continue; fi
    extra=() margs=$args
    if [ "$mode" = oto ] || [ "$mode" = hesso ]; then
      case "$target" in flops=*) extra=(--target-flops "${target#flops=}") ;; *) extra=(--target-sparsity "$target") ;; esac
    fi
    epochs=$(sed -E 's/.*--epochs ([0-9]+).*/\1/' <<<"$args")
    if [ -n "$window" ] && { [ "$mode" = oto ] || [ "$mode" = hesso ]; }; then
      IFS=, read -r ws wd <<<"${window#window=}"
      extra+=(--start-pruning-epoch "$(awk "BEGIN { print $epochs * $ws }")" --pruning-deadline-epoch "$(awk "BEGIN { print $epochs * $wd }")")
    elif [ "$mode" = hesso ]; then
      extra+=(--start-pruning-epoch $((epochs / 5)) --pruning-deadline-epoch "$(awk "BEGIN { print int($epochs / 5) + $epochs / 4 }")")
    fi
    [ "$mode" = hesso ] && extra+=(--pruner hesso)
    # scratch: the oto run's compressed architecture, re-initialised, trained dense
    [ "$mode" = scratch ] && margs="$OUT/$name/oto/compressed.onnx ${args#* }" && extra=(--reinit)
    echo "[bench] $name/$mode: oto train $margs ${extra[*]} --threads $THREADS --seed $SEED --out $dir"
    mkdir -p "$dir"
    t0=$(date +%s)
    # shellcheck disable=SC2086
    if ! "$OTO" train $margs "${extra[@]}" --threads "$THREADS" --seed "$SEED" --progress plain --out "$dir" > "$dir.log" 2>&1; then
      echo "[bench] $name/$mode FAILED (log: $dir.log):" >&2; tail -5 "$dir.log" >&2; exit 1
    fi
    echo "[bench] $name/$mode: $(( $(date +%s) - t0 )) s; $(tail -1 "$dir.log")"
  done
  # super-resolution: also PSNR on Set14 (the runs test on Set5)
  if [[ "$args" == *"--dataset sr"* ]]; then
    sets=(dense/full oto/full oto/compressed)
    [ "$SCRATCH" = 1 ] && sets+=(scratch/full)
    [ "$HESSO" = 1 ] && sets+=(hesso/compressed)
    for f in "${sets[@]}"; do
      j="$OUT/$name/${f%/*}/eval_Set14_${f#*/}.json"
      [ -f "$j" ] || "$OTO" eval "$OUT/$name/$f.onnx" --sr-test-set Set14 --json "$j" >/dev/null
    done
  fi
done
"$TARGET/release/examples/bench_report" "$OUT" "$OUT/report"
if [ "$PUBLISH" = 1 ]; then
  mkdir -p docs/benchmarks
  cp "$OUT"/report/*.png "$OUT/report/results.md" docs/benchmarks/
  echo "[bench] copied the table and pictures to docs/benchmarks/"
fi
