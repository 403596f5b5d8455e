#!/usr/bin/env bash
# ViT-B/32 image throughput (batch 32) and one-query text latency on the CPU: PyTorch
# open_clip and this crate's burn model, side by side on the same weights and inputs,
# plus the browser text-tower export sizes (f16, int8) and int8's cosine to f32.
#
#   clip/bench/run.sh [DIR]      # DIR defaults to /tmp/clip-bench
#
# Needs the venv of clip/fixtures/generate.py. Timings on a shared machine are noisy.
# Other CPU backends: NdArray on the system OpenBLAS (apt-get install libopenblas-dev) with
#   CLIP_BENCH_FEATURES=simd,rayon,openblas-system CLIP_BENCH_DEVICES=flex,ndarray clip/bench/run.sh
# (burn's cubecl `cpu` backend cannot build offline: its build script downloads LLVM.)
set -euo pipefail
dir=${1:-/tmp/clip-bench}
py=${PYTHON:-/work/venv-clip/bin/python}
root=$(cd "$(dirname "$0")/../.." && pwd)
[ -f "$dir/vit_b32.safetensors" ] || "$py" "$root/clip/bench/torch_bench.py" make "$dir"
echo "== PyTorch"
uptime
"$py" "$root/clip/bench/torch_bench.py" time "$dir"
echo "== burn"
# The release profile, as `cargo build --release -p precompute` ships. The dev profile
# (CLIP_BENCH_PROFILE=dev reuses the test build) keeps debug assertions on in burn and gemm:
# it measured half the release profile's image throughput.
cd "$root" && uptime && CLIP_BENCH_DIR="$dir" cargo bench -p clip --bench encode \
    --profile "${CLIP_BENCH_PROFILE:-release}" --features "${CLIP_BENCH_FEATURES:-simd,rayon}"
