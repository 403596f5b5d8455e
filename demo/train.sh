#!/usr/bin/env bash
# Retrains the demo model (demo/README.md): a synthetic training collection with partial
# captions (`precompute synth`), `precompute train` in two stages (from scratch, then on from
# the first stage's model at half the rate), then `precompute eval` on held-out scenes and
# on the demo collection. Rerun the same command after a kill: synth is skipped when its
# table exists and each stage resumes from its last checkpoint.
#
#   demo/train.sh [--device flex|wgpu|cuda] [--work DIR] [--bin PRECOMPUTE] [--targets own|shared]
#
# --targets own (the default) is the loss the committed model was trained with; shared counts a
# caption shared by several images of a batch as a positive of each (demo/README.md).
#
# The model lands in WORK/stage2 (config.json, model.safetensors); copy both to demo/model/.
set -euo pipefail

device=flex work=target/demo-train bin=target/release/precompute targets=own
while [ $# -gt 0 ]; do
    case "$1" in
        --device) device=$2; shift 2 ;;
        --work) work=$2; shift 2 ;;
        --bin) bin=$2; shift 2 ;;
        --targets) targets=$2; shift 2 ;;
        -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "demo/train.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
[ -x "$bin" ] || { echo "demo/train.sh: no $bin: cargo build --release -p precompute" >&2; exit 1; }

mkdir -p "$work"
if [ ! -f "$work/synth/captions.csv" ]; then
    "$bin" synth --out "$work/synth" --count 50000 --size 64 --seed 1 --partial-captions 2
fi
train() {
    "$bin" train --input "$work/synth/training.csv" --device "$device" --batch-size 256 \
        --checkpoint-every 100 --targets "$targets" "$@"
}
train --out "$work/stage1" --steps 2100 --warmup-steps 100 --learning-rate 0.001 --seed 1
train --out "$work/stage2" --init "$work/stage1" --steps 1800 --warmup-steps 50 \
    --learning-rate 0.0005 --seed 2
"$bin" eval --model "$work/stage2" >"$work/eval-heldout.json"
"$bin" eval --model "$work/stage2" --first 0 >"$work/eval-demo.json"
