//! ViT-B/32 (random weights from `clip/bench/torch_bench.py make`) on burn's CPU backends:
//! image throughput at batch 32, one-query text latency (early stop and full context; on
//! flex also clip's packed text tower in f32 and int8, on its portable loops natively),
//! parity with PyTorch on the same weights, and the browser text-tower export sizes.
//!
//! Run through `clip/bench/run.sh` (which also times PyTorch), or directly:
//! `CLIP_BENCH_DIR=/tmp/clip-bench cargo bench -p clip --bench encode --features simd,rayon`.
//! `CLIP_BENCH_DEVICES` picks devices (default `flex`; also `ndarray` (feature `ndarray`, or
//! `openblas-system` for its BLAS matmul), `cpu`, `cuda`, `wgpu`, each needing its feature)
//! and `CLIP_BENCH_BATCHES` the image batch sizes (default `32`; larger batches repeat the
//! 32 stored images). Prints figures; timings on a shared machine
//! are noisy.

use std::time::Instant;

use burn::tensor::{Device, Tensor, TensorData};
use clip::export::export_text_tower;
use clip::packed::{PackedPrecision, PackedTextTower};
use clip::tensors::Precision;
use clip::{ClipConfig, TensorMap, TokenBatch, Tokenizer, load_clip, load_text_tower, read_rows};

const BATCH: usize = 32;
const QUERIES: [&str; 4] = [
    "a photo of a dog playing in the snow",
    "red car",
    "an aerial view of a city at night with many lights",
    "cat",
];

fn best_and_mean(repeats: usize, mut run: impl FnMut()) -> (f64, f64) {
    let mut times = Vec::with_capacity(repeats);
    for _ in 0..repeats {
        let start = Instant::now();
        run();
        times.push(start.elapsed().as_secs_f64());
    }
    let best = times.iter().copied().fold(f64::INFINITY, f64::min);
    (best, times.iter().sum::<f64>() / repeats as f64)
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn min_cosine(a: &[f32], b: &[f32], width: usize) -> f32 {
    a.chunks(width)
        .zip(b.chunks(width))
        .map(|(x, y)| {
            let dot: f32 = x.iter().zip(y).map(|(p, q)| p * q).sum();
            dot / (x.iter().map(|p| p * p).sum::<f32>().sqrt()
                * y.iter().map(|q| q * q).sum::<f32>().sqrt())
        })
        .fold(1.0, f32::min)
}

/// The device a `CLIP_BENCH_DEVICES` name stands for, if this build has its feature.
fn device_named(name: &str) -> Option<Device> {
    match name {
        "flex" => Some(Device::flex()),
        #[cfg(feature = "ndarray")]
        #[allow(deprecated)] // measured against flex, its replacement
        "ndarray" => Some(Device::ndarray()),
        #[cfg(feature = "cpu")]
        "cpu" => Some(Device::cpu()),
        #[cfg(feature = "cuda")]
        "cuda" => Some(Device::cuda(0)),
        #[cfg(feature = "wgpu")]
        "wgpu" => Some(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice)),
        _ => None,
    }
}

fn bench_device(
    name: &str,
    device: &Device,
    batches: &[usize],
    weights: &TensorMap,
    inputs: &TensorMap,
    reference: &TensorMap,
) {
    let config = ClipConfig::vit_b_32();
    let model = load_clip(weights, &config, device).expect("ViT-B/32 weights load");
    let pixels = inputs.get("pixels").expect("pixels");
    let batch = Tensor::<4>::from_data(
        TensorData::new(pixels.values.clone(), [BATCH, 3, 224, 224]),
        device,
    );

    let first4 = batch.clone().narrow(0, 0, 4);
    let ours = read_rows(model.encode_image(first4).unwrap()).unwrap();
    let image_diff = max_abs_diff(&ours, &reference.get("image_features").unwrap().values);
    let ids = inputs.get("ids").unwrap();
    let tokens = TokenBatch::new(ids.values.iter().map(|&v| v as u32).collect(), 77).unwrap();
    let ours = read_rows(model.encode_text(&tokens).unwrap()).unwrap();
    let text_diff = max_abs_diff(&ours, &reference.get("text_features").unwrap().values);

    println!(
        "{name}: parity vs PyTorch max abs diff: image {image_diff:.2e}, text {text_diff:.2e}"
    );
    for &size in batches {
        let images = Tensor::cat(vec![batch.clone(); size.div_ceil(BATCH)], 0).narrow(0, 0, size);
        let run_images = || {
            read_rows(model.encode_image(images.clone()).unwrap()).unwrap();
        };
        run_images();
        let (best, mean) = best_and_mean(5, run_images);
        println!(
            "{name}: image batch {size}: best {best:.3} s ({:.1} img/s), mean {mean:.3} s",
            size as f64 / best
        );
    }
    let (early, early_mean) = best_and_mean(20, || {
        read_rows(model.text.forward(&tokens).unwrap()).unwrap();
    });
    let (full, full_mean) = best_and_mean(20, || {
        read_rows(model.text.forward_full(&tokens).unwrap()).unwrap();
    });
    println!(
        "{name}: text query: early stop best {:.2} ms (mean {:.2}), full 77 best {:.2} ms (mean {:.2})",
        early * 1e3,
        early_mean * 1e3,
        full * 1e3,
        full_mean * 1e3
    );
    if *device == Device::flex() {
        for precision in [PackedPrecision::F32, PackedPrecision::Int8] {
            let tower =
                PackedTextTower::new(&model.text, config.text_config.layer_norm_eps, precision)
                    .expect("the tower packs");
            let packed = tower.forward(&tokens).unwrap();
            let cosine = min_cosine(
                &packed,
                &reference.get("text_features").unwrap().values,
                config.projection_dim,
            );
            let (best, mean) = best_and_mean(20, || {
                tower.forward(&tokens).unwrap();
            });
            println!(
                "{name}: text query, packed {precision:?} tower: early stop best {:.2} ms (mean {:.2}), min cosine to PyTorch {cosine:.5}",
                best * 1e3,
                mean * 1e3
            );
        }
    }
}

fn main() {
    let dir = std::env::var("CLIP_BENCH_DIR").unwrap_or_else(|_| "/tmp/clip-bench".into());
    let read = |name: &str| {
        let bytes = std::fs::read(format!("{dir}/{name}")).unwrap_or_else(|e| {
            panic!("{dir}/{name}: {e} (run clip/bench/torch_bench.py make {dir} first)")
        });
        TensorMap::from_safetensors(&bytes).expect("safetensors")
    };
    let weights = read("vit_b32.safetensors");
    let inputs = read("pixels.safetensors");
    let reference = read("reference.safetensors");

    let list = |var: &str, default: &str| {
        std::env::var(var)
            .unwrap_or_else(|_| default.into())
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect::<Vec<_>>()
    };
    let batches: Vec<usize> = list("CLIP_BENCH_BATCHES", "32")
        .iter()
        .map(|b| {
            b.parse()
                .expect("CLIP_BENCH_BATCHES: comma-separated batch sizes")
        })
        .collect();
    for name in list("CLIP_BENCH_DEVICES", "flex") {
        match device_named(&name) {
            Some(device) => {
                bench_device(&name, &device, &batches, &weights, &inputs, &reference);
            }
            None => println!("{name}: not in this build (turn on its feature)"),
        }
    }
    let model = load_clip(&weights, &ClipConfig::vit_b_32(), &Device::flex()).expect("weights");

    let tokenizer = Tokenizer::new().unwrap();
    let tokens = TokenBatch::new(tokenizer.tokenize_batch(&QUERIES, 77), 77).unwrap();
    let f32_features = read_rows(model.text.forward(&tokens).unwrap()).unwrap();
    let config = ClipConfig::vit_b_32();
    for precision in [Precision::F16, Precision::Int8] {
        let bytes = export_text_tower(&model.text, precision).unwrap();
        let map = TensorMap::from_safetensors(&bytes).unwrap();
        let tower = load_text_tower(
            &map,
            &config.text_config,
            config.projection_dim,
            &Device::flex(),
        )
        .unwrap();
        let features = read_rows(tower.forward(&tokens).unwrap()).unwrap();
        println!(
            "text tower export {precision:?}: {:.1} MB, min cosine to f32 over {} queries {:.5}",
            bytes.len() as f64 / 1e6,
            QUERIES.len(),
            min_cosine(&features, &f32_features, config.projection_dim)
        );
    }
}
