#!/usr/bin/env bash
# The text tower on WebGPU in headless Chromium (the SwiftShader adapter: flags in
# clip/webdriver.json) against the reference features, within 1e-4. Kept out of
# scripts/test-all because it compiles burn's wgpu runtime for wasm in the test profile
# (about 26 min of CPU cold); the frontend's e2e test covers WebGPU in the app itself.
# Needs what scripts/install-tools installs.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CHROMEDRIVER=${CHROMEDRIVER:-/usr/bin/chromedriver}
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner
export WASM_BINDGEN_TEST_TIMEOUT=${WASM_BINDGEN_TEST_TIMEOUT:-600}
cargo test --locked --target wasm32-unknown-unknown -p clip --test wasm --features wgpu,simd \
    -- webgpu_text_tower_matches_reference
