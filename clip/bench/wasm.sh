#!/usr/bin/env bash
# ViT-B/32's text tower (seeded random weights) in headless Chromium, wasm, one thread:
# median latency of a 7-token query (early stop at the end token) and of a 77-token text,
# f32 weights and the int8 export, on burn's flex CPU backend and on WebGPU (Chromium's
# SwiftShader adapter, a CPU stand-in: its figures are for the record, not for speed).
# The peer is onnxruntime-web on the same tower here: 31 / 16 ms (query, fp32 / int8),
# 175 / 99 ms (77 tokens). Timings on a shared machine are noisy.
#
#   clip/bench/wasm.sh                               # flex and WebGPU
#   CLIP_WASM_FEATURES=flex clip/bench/wasm.sh       # flex only (a separate build)
#
# SwiftShader is slow: about 66 s per 7-token query, so the WebGPU half takes hours; the
# flex lines print first (about 3 min).
#   CLIP_WASM_FEATURES=wgpu,simd clip/bench/wasm.sh  # flex with its wasm SIMD kernels
#
# The dev profile builds dependencies (burn, gemm) at opt-level 3 and reuses the wasm test
# build (`cargo test --target wasm32-unknown-unknown -p clip --test wasm --features wgpu`);
# CLIP_WASM_PROFILE=release rebuilds everything with the release profile.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CHROMEDRIVER=${CHROMEDRIVER:-/usr/bin/chromedriver}
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner
export WASM_BINDGEN_TEST_TIMEOUT=1800
cargo test --profile "${CLIP_WASM_PROFILE:-dev}" --locked --target wasm32-unknown-unknown -p clip --test wasm \
    --features "${CLIP_WASM_FEATURES:-wgpu}" \
    -- --include-ignored vit_b32_text_tower_latency --nocapture
