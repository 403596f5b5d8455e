#!/usr/bin/env bash
# ViT-B/32's text tower (seeded random weights) in headless Chromium, wasm, one thread:
# median latency of a 7-token query (early stop at the end token) and of a 77-token text,
# on burn's flex CPU backend: f32 weights through burn's matmul (gemm's simd128 kernels),
# and packed for clip's own simd128 kernels (`clip::packed`, what the app runs) in f32 and
# from the int8 export. The peer is onnxruntime-web on the same tower here: 31 / 16 ms
# (query, fp32 / int8), 175 / 99 ms (77 tokens).
# Timings on a shared machine are noisy.
#
#   clip/bench/wasm.sh           # flex (about 3 min)
#   clip/bench/wasm.sh webgpu    # WebGPU on Chromium's SwiftShader adapter: a CPU stand-in,
#                                # about a minute per query, so it takes hours
#
# The build is the wasm test's (`scripts/test-all` builds it with these features); the dev
# profile builds dependencies (burn, gemm) at opt-level 3. CLIP_WASM_PROFILE=release
# rebuilds everything with the release profile.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CHROMEDRIVER=${CHROMEDRIVER:-/usr/bin/chromedriver}
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner
export WASM_BINDGEN_TEST_TIMEOUT=1800
backend=${1:-flex}
features=simd
[ "$backend" = webgpu ] && features=wgpu,simd
cargo test --profile "${CLIP_WASM_PROFILE:-dev}" --locked --target wasm32-unknown-unknown -p clip --test wasm \
    --features "$features" -- --include-ignored "vit_b32_text_tower_latency_$backend" --nocapture
