//! The text tower compiled for wasm32 in headless Chromium: the embedded Hugging Face
//! fixture's text features on the flex CPU backend (and, with the `webgpu` feature, on the
//! browser's WebGPU adapter) within 1e-4 of the reference that the native tests also meet.
//!
//! Run: `CHROMEDRIVER=/usr/bin/chromedriver
//! CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner cargo test
//! --target wasm32-unknown-unknown -p clip --test wasm`

#![cfg(target_family = "wasm")]

use burn::tensor::Device;
use clip::{ClipConfig, TensorMap, TokenBatch, load_text_tower, read_rows_async};
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

const CONFIG: &str = include_str!("../fixtures/hf/config.json");
const WEIGHTS: &[u8] = include_bytes!("../fixtures/hf/model.safetensors");
const REFERENCE: &[u8] = include_bytes!("../fixtures/hf.reference.safetensors");

async fn text_features_match_reference(device: Device) -> f32 {
    let config = ClipConfig::from_hf_json(CONFIG).unwrap();
    let weights = TensorMap::from_safetensors(WEIGHTS).unwrap();
    let tower = load_text_tower(
        &weights,
        &config.text_config,
        config.projection_dim,
        &device,
    )
    .unwrap();
    let reference = TensorMap::from_safetensors(REFERENCE).unwrap();
    let ids = reference.get("text_ids").unwrap();
    let tokens =
        TokenBatch::new(ids.values.iter().map(|&v| v as u32).collect(), ids.shape[1]).unwrap();
    let ours = read_rows_async(tower.forward(&tokens).unwrap())
        .await
        .unwrap();
    let theirs = &reference.get("text_features").unwrap().values;
    ours.iter()
        .zip(theirs)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max)
}

#[wasm_bindgen_test]
async fn flex_text_tower_matches_reference() {
    let diff = text_features_match_reference(Device::flex()).await;
    assert!(diff <= 1e-4, "max abs diff {diff}");
}

/// Needs the SwiftShader WebGPU adapter (flags in `clip/webdriver.json`): without an
/// adapter the test fails rather than passing silently.
#[cfg(feature = "wgpu")]
#[wasm_bindgen_test]
async fn webgpu_text_tower_matches_reference() {
    let device = Device::wgpu_options()
        .init_async()
        .await
        .expect("a WebGPU adapter (run Chromium with --enable-unsafe-webgpu --use-webgpu-adapter=swiftshader)");
    let diff = text_features_match_reference(device).await;
    assert!(diff <= 1e-4, "max abs diff {diff}");
}
