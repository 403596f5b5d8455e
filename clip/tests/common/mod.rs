//! Fixture access and float comparisons shared by the test modules.

use std::path::PathBuf;

use burn::tensor::{Device, Tensor, TensorData};
use clip::{ClipConfig, ClipModel, RawTensor, TensorMap, TokenBatch, load_clip, read_rows};

/// Largest absolute difference features may have from the PyTorch reference.
pub const FEATURE_TOLERANCE: f32 = 1e-4;

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

pub fn read_map(name: &str) -> TensorMap {
    TensorMap::from_safetensors(&std::fs::read(fixture(name)).unwrap()).unwrap()
}

pub fn tensor<'a>(map: &'a TensorMap, name: &str) -> &'a RawTensor {
    map.get(name)
        .unwrap_or_else(|| panic!("fixture tensor {name}"))
}

pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "lengths differ");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// The smallest cosine similarity between corresponding rows.
pub fn min_row_cosine(a: &[f32], b: &[f32], width: usize) -> f32 {
    a.chunks(width)
        .zip(b.chunks(width))
        .map(|(x, y)| {
            let dot: f32 = x.iter().zip(y).map(|(p, q)| p * q).sum();
            let nx: f32 = x.iter().map(|p| p * p).sum::<f32>().sqrt();
            let ny: f32 = y.iter().map(|q| q * q).sum::<f32>().sqrt();
            dot / (nx * ny)
        })
        .fold(1.0, f32::min)
}

pub struct Fixture {
    pub model: ClipModel,
    pub config: ClipConfig,
    pub reference: TensorMap,
}

pub fn hf_fixture(device: &Device) -> Fixture {
    let config =
        ClipConfig::from_hf_json(&std::fs::read_to_string(fixture("hf/config.json")).unwrap())
            .unwrap();
    let weights = read_map("hf/model.safetensors");
    Fixture {
        model: load_clip(&weights, &config, device).unwrap(),
        config,
        reference: read_map("hf.reference.safetensors"),
    }
}

pub fn open_clip_fixture(device: &Device) -> Fixture {
    let config = ClipConfig::from_open_clip_json(
        &std::fs::read_to_string(fixture("open_clip.json")).unwrap(),
    )
    .unwrap();
    let weights = read_map("open_clip.safetensors");
    Fixture {
        model: load_clip(&weights, &config, device).unwrap(),
        config,
        reference: read_map("open_clip.reference.safetensors"),
    }
}

pub fn reference_tokens(reference: &TensorMap) -> TokenBatch {
    let ids = tensor(reference, "text_ids");
    TokenBatch::new(ids.values.iter().map(|&v| v as u32).collect(), ids.shape[1]).unwrap()
}

pub fn reference_pixels(reference: &TensorMap, device: &Device) -> Tensor<4> {
    let pixels = tensor(reference, "image_pixels");
    let shape: [usize; 4] = pixels.shape.clone().try_into().unwrap();
    Tensor::from_data(TensorData::new(pixels.values.clone(), shape), device)
}

pub fn rows(features: Tensor<2>) -> Vec<f32> {
    read_rows(features).unwrap()
}
