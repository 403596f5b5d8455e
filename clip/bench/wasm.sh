#!/usr/bin/env bash
# ViT-B/32's text tower (seeded random weights) in headless Chromium, wasm, one thread:
# median latency of a 7-token query (early stop at the end token) and of a 77-token text,
# and of its image tower on one 224 px image (a query by image),
# on burn's flex CPU backend (f32, gemm's simd128 kernels) and on clip's packed tower
# (`clip::packed`, what the app runs on the CPU) in f32 and from the int8 export; then the
# packed matmul alone on a 77-token text's shapes (GMAC/s), and the heap the app's text
# worker holds while it loads the int8 export. The peer is onnxruntime-web on
# the same tower here: 31 / 16 ms (query, fp32 / int8), 175 / 99 ms (77 tokens).
# Timings on a shared machine are noisy.
#
#   clip/bench/wasm.sh           # flex (about 3 min)
#   clip/bench/wasm.sh webgpu    # WebGPU on Chromium's SwiftShader adapter: a CPU stand-in,
#                                # about a minute per query, so it takes hours
#
# The release profile by default: the dev profile builds clip itself at opt-level 1, which
# slows the packed kernels. CLIP_WASM_PROFILE=wasm-release measures the app's profile
# (LTO; clip at opt-level 3, the rest at "s").
set -euo pipefail
cd "$(dirname "$0")/../.."
export CHROMEDRIVER=${CHROMEDRIVER:-/usr/bin/chromedriver}
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner
export WASM_BINDGEN_TEST_TIMEOUT=1800
backend=${1:-flex}
features=simd
[ "$backend" = webgpu ] && features=wgpu,simd
run() {
    cargo test --profile "${CLIP_WASM_PROFILE:-release}" --locked --target wasm32-unknown-unknown \
        -p clip --test wasm --features "$features" -- --include-ignored "$1" --nocapture
}
run "vit_b32_text_tower_latency_$backend"
run "vit_b32_image_tower_latency_$backend"
if [ "$backend" != webgpu ]; then
    run packed_kernel_throughput
    run text_worker_load_memory
fi
