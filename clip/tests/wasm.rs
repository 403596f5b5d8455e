//! The text tower compiled for wasm32 in headless Chromium: the embedded Hugging Face
//! fixture's text features on the flex CPU backend (and, with the `wgpu` feature, on the
//! browser's WebGPU adapter) within 1e-4 of the reference that the native tests also meet.
//!
//! Run: `CHROMEDRIVER=/usr/bin/chromedriver
//! CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner cargo test
//! --target wasm32-unknown-unknown -p clip --test wasm --features simd`; the WebGPU test
//! with `clip/tests/wasm-webgpu.sh`.

#![cfg(target_family = "wasm")]

use burn::tensor::Device;
use clip::export::{export_image_tower, export_text_tower};
use clip::packed::{PackedImageTower, PackedPrecision, PackedTextTower};
use clip::tensors::Precision;
use clip::{
    ClipConfig, PreprocessConfig, RgbImage, TensorMap, TokenBatch, Tokenizer, load_clip,
    load_image_tower, load_text_tower, read_rows_async,
};
use wasm_bindgen_test::{console_log, wasm_bindgen_test, wasm_bindgen_test_configure};

mod query_bytes;
mod random_tower;

wasm_bindgen_test_configure!(run_in_browser);

/// The heap in use and its high-water mark, for the load-memory benchmark.
mod heap {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::sync::atomic::{AtomicUsize, Ordering};

    static IN_USE: AtomicUsize = AtomicUsize::new(0);
    static PEAK: AtomicUsize = AtomicUsize::new(0);

    struct Counting;

    fn grew(bytes: usize) {
        let now = IN_USE.fetch_add(bytes, Ordering::Relaxed) + bytes;
        PEAK.fetch_max(now, Ordering::Relaxed);
    }

    // SAFETY: every call goes to `System` unchanged; the counters only observe sizes.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            // SAFETY: the caller's contract, passed on.
            let ptr = unsafe { System.alloc(layout) };
            if !ptr.is_null() {
                grew(layout.size());
            }
            ptr
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: the caller's contract, passed on.
            unsafe { System.dealloc(ptr, layout) };
            IN_USE.fetch_sub(layout.size(), Ordering::Relaxed);
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            // SAFETY: the caller's contract, passed on.
            let new = unsafe { System.realloc(ptr, layout, new_size) };
            if !new.is_null() {
                IN_USE.fetch_sub(layout.size(), Ordering::Relaxed);
                grew(new_size);
            }
            new
        }
    }

    #[global_allocator]
    static COUNTING: Counting = Counting;

    /// Bytes in use now.
    pub fn in_use() -> usize {
        IN_USE.load(Ordering::Relaxed)
    }

    /// Starts a new high-water mark from the bytes in use now.
    pub fn reset_peak() {
        PEAK.store(in_use(), Ordering::Relaxed);
    }

    /// The high-water mark since [`reset_peak`].
    pub fn peak() -> usize {
        PEAK.load(Ordering::Relaxed)
    }
}

const CONFIG: &str = include_str!("../fixtures/hf/config.json");
const WEIGHTS: &[u8] = include_bytes!("../fixtures/hf/model.safetensors");
const REFERENCE: &[u8] = include_bytes!("../fixtures/hf.reference.safetensors");

/// The fixture's text features on `device` (or on the packed CPU kernels in `packed`) with
/// the reference's.
async fn text_features(device: Device, packed: Option<PackedPrecision>) -> (Vec<f32>, Vec<f32>) {
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
    let ours = match packed {
        Some(precision) => {
            PackedTextTower::new(&tower, config.text_config.layer_norm_eps, precision)
                .unwrap()
                .forward(&tokens)
                .unwrap()
        }
        None => read_rows_async(tower.forward(&tokens).unwrap())
            .await
            .unwrap(),
    };
    (ours, reference.get("text_features").unwrap().values.clone())
}

async fn text_features_match_reference(device: Device) -> f32 {
    let (ours, theirs) = text_features(device, None).await;
    max_abs_diff(&ours, &theirs)
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[wasm_bindgen_test]
async fn flex_text_tower_matches_reference() {
    let diff = text_features_match_reference(Device::flex()).await;
    assert!(diff <= 1e-4, "max abs diff {diff}");
}

/// The simd128 kernels of `clip::packed`: f32 within the same 1e-4, int8 within 1e-2 cosine.
#[wasm_bindgen_test]
async fn packed_text_tower_matches_reference() {
    let (ours, theirs) = text_features(Device::flex(), Some(PackedPrecision::F32)).await;
    let diff = max_abs_diff(&ours, &theirs);
    assert!(diff <= 1e-4, "packed f32: max abs diff {diff}");
    let (ours, theirs) = text_features(Device::flex(), Some(PackedPrecision::Int8)).await;
    let width = ClipConfig::from_hf_json(CONFIG).unwrap().projection_dim;
    let cosine = min_cosine(&ours, &theirs, width);
    assert!(cosine >= 0.99, "packed int8: min cosine {cosine}");
}

/// The smallest cosine between rows of `width` of `a` and `b`.
fn min_cosine(a: &[f32], b: &[f32], width: usize) -> f32 {
    a.chunks(width)
        .zip(b.chunks(width))
        .map(|(a, b)| {
            let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
            let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
            dot / (norm(a) * norm(b))
        })
        .fold(1.0, f32::min)
}

/// An image query's path in the browser, from raw RGB: clip's preprocessing, then the image
/// tower on the simd128 packed kernels, in f32 and from the int8 export as a dataset ships
/// it, against the PyTorch features the native tests check the same path against (f32
/// within 1e-4, int8 within 1e-2 cosine).
#[wasm_bindgen_test]
fn packed_image_tower_from_rgb_matches_reference() {
    let config = ClipConfig::from_hf_json(CONFIG).unwrap();
    let weights = TensorMap::from_safetensors(WEIGHTS).unwrap();
    let model = load_clip(&weights, &config, &Device::flex()).unwrap();
    let reference = TensorMap::from_safetensors(REFERENCE).unwrap();
    let preprocess = PreprocessConfig {
        image_size: config.vision_config.image_size,
        ..Default::default()
    };
    let count = reference.get("image_pixels").unwrap().shape[0];
    let pixels: Vec<f32> = (0..count)
        .flat_map(|i| {
            let rgb = reference.get(&format!("image_rgb.{i}")).unwrap();
            let bytes: Vec<u8> = rgb.values.iter().map(|&v| v as u8).collect();
            let image = RgbImage::new(rgb.shape[1], rgb.shape[0], &bytes).unwrap();
            preprocess.preprocess(&image).unwrap()
        })
        .collect();
    let theirs = &reference.get("image_features").unwrap().values;
    let epsilon = config.vision_config.layer_norm_eps;
    let f32_packed = PackedImageTower::new(&model.vision, epsilon, PackedPrecision::F32)
        .unwrap()
        .forward(&pixels)
        .unwrap();
    let diff = max_abs_diff(&f32_packed, theirs);
    assert!(diff <= 1e-4, "packed image f32: max abs diff {diff}");
    let export = export_image_tower(&model.vision, Precision::Int8).unwrap();
    let shipped = load_image_tower(
        &TensorMap::from_safetensors(&export).unwrap(),
        &config.vision_config,
        config.projection_dim,
        &Device::flex(),
    )
    .unwrap();
    let int8_packed = PackedImageTower::new(&shipped, epsilon, PackedPrecision::Int8)
        .unwrap()
        .forward(&pixels)
        .unwrap();
    let cosine = min_cosine(&int8_packed, theirs, config.projection_dim);
    assert!(cosine >= 0.99, "packed image int8: min cosine {cosine}");
}

/// A typed text's query bytes in the browser, through burn's flex tower and the simd128
/// packed kernels (the app's CPU path): the bytes the native harness checks too.
#[wasm_bindgen_test]
async fn texts_give_the_query_bytes_written_down() {
    let config = ClipConfig::from_hf_json(CONFIG).unwrap();
    let weights = TensorMap::from_safetensors(WEIGHTS).unwrap();
    let tower = load_text_tower(
        &weights,
        &config.text_config,
        config.projection_dim,
        &Device::flex(),
    )
    .unwrap();
    let tokens = query_bytes::tokens(config.text_config.max_position_embeddings);
    let pca = query_bytes::shipped_pca(config.projection_dim);
    let burn = read_rows_async(tower.forward(&tokens).unwrap())
        .await
        .unwrap();
    query_bytes::assert_expected(&pca, &burn, "burn");
    query_bytes::assert_packed_expected(&tower, &config, &tokens);
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

/// Runs before timing, so shader compilation and first allocations are not measured.
const WARMUP_RUNS: usize = 3;
/// Warm-up time at least: V8 first runs wasm on its baseline compiler and swaps in the
/// optimised code only for later calls (a few warm-up calls left the packed f32 matmul on
/// the baseline code in some runs: 237 instead of 153 ms).
const WARMUP_MS: f64 = 500.0;
/// Timed runs; the median is reported.
const TIMED_RUNS: usize = 11;

fn now_ms() -> f64 {
    web_sys::window()
        .expect("a window")
        .performance()
        .expect("performance")
        .now()
}

/// Median milliseconds of one `encode` (features read back, so WebGPU work is finished).
async fn median_ms<F: std::future::Future<Output = ()>>(mut encode: impl FnMut() -> F) -> f64 {
    let start = now_ms();
    let mut runs = 0;
    while runs < WARMUP_RUNS || now_ms() - start < WARMUP_MS {
        encode().await;
        runs += 1;
    }
    let mut times = Vec::with_capacity(TIMED_RUNS);
    for _ in 0..TIMED_RUNS {
        let start = now_ms();
        encode().await;
        times.push(now_ms() - start);
    }
    times.sort_by(f64::total_cmp);
    times[TIMED_RUNS / 2]
}

/// Prints one line per (tower, text) on `device`, as `clip/bench/wasm.sh` shows them; a
/// tower is its weights, packed for the CPU kernels or not.
async fn bench_device(
    device_name: &str,
    device: &Device,
    towers: &[(&str, &TensorMap, Option<PackedPrecision>)],
    config: &ClipConfig,
) {
    let tokenizer = Tokenizer::new().unwrap();
    let context = config.text_config.max_position_embeddings;
    let query = TokenBatch::new(tokenizer.tokenize("a photo of a cat", context), context).unwrap();
    let long = TokenBatch::new(
        tokenizer.tokenize(&"a dog on a beach ".repeat(30), context),
        context,
    )
    .unwrap();
    assert_eq!(query.end_positions(), [6], "the query is 7 tokens long");
    assert_eq!(
        long.end_positions(),
        [context - 1],
        "the text fills the context"
    );
    for &(precision, weights, packed) in towers {
        let tower =
            load_text_tower(weights, &config.text_config, config.projection_dim, device).unwrap();
        let packed = packed.map(|packed| {
            PackedTextTower::new(&tower, config.text_config.layer_norm_eps, packed).unwrap()
        });
        for (name, tokens) in [("7-token query", &query), ("77-token text", &long)] {
            let ms = match &packed {
                Some(packed) => {
                    median_ms(|| async {
                        packed.forward(tokens).unwrap();
                    })
                    .await
                }
                None => {
                    median_ms(|| async {
                        read_rows_async(tower.forward(tokens).unwrap())
                            .await
                            .unwrap();
                    })
                    .await
                }
            };
            console_log!(
                "text tower {device_name} {precision} {name}: median {ms:.1} ms of {TIMED_RUNS}"
            );
        }
    }
}

/// The int8 export (safetensors bytes) of a text tower given by its weights.
fn int8_export(weights: &TensorMap, config: &ClipConfig) -> Vec<u8> {
    let tower = load_text_tower(
        weights,
        &config.text_config,
        config.projection_dim,
        &Device::flex(),
    )
    .unwrap();
    export_text_tower(&tower, Precision::Int8).unwrap()
}

/// ViT-B/32-size text towers with the same random weights, f32 and the int8 export.
fn vit_b32_towers() -> (TensorMap, TensorMap, ClipConfig) {
    let config = ClipConfig::vit_b_32();
    let f32_weights = random_tower::text_tower(&config, 7);
    let int8 = int8_export(&f32_weights, &config);
    console_log!("int8 export: {} bytes", int8.len());
    let int8_weights = TensorMap::from_safetensors(&int8).unwrap();
    (f32_weights, int8_weights, config)
}

/// ViT-B/32's text tower in the browser, one thread, on flex: a 7-token query (early stop
/// at the end token) and a 77-token text: f32 weights through burn, and the packed tower
/// (`clip::packed`'s simd128 kernels) in f32 and from the int8 export. The peer is
/// onnxruntime-web; see `clip/bench/wasm.sh`.
#[wasm_bindgen_test]
#[ignore = "the ViT-B/32 text-tower benchmark: run by clip/bench/wasm.sh"]
async fn vit_b32_text_tower_latency_flex() {
    let (f32_weights, int8_weights, config) = vit_b32_towers();
    let towers = [
        ("f32", &f32_weights, None),
        ("f32 packed", &f32_weights, Some(PackedPrecision::F32)),
        ("int8 packed", &int8_weights, Some(PackedPrecision::Int8)),
    ];
    bench_device("flex", &Device::flex(), &towers, &config).await;
}

/// The same on the browser's WebGPU adapter (SwiftShader in headless Chromium: a CPU
/// stand-in, minutes per query; for the record, not for speed).
#[cfg(feature = "wgpu")]
#[wasm_bindgen_test]
#[ignore = "the ViT-B/32 text-tower benchmark on WebGPU: run by clip/bench/wasm.sh webgpu"]
async fn vit_b32_text_tower_latency_webgpu() {
    let (f32_weights, int8_weights, config) = vit_b32_towers();
    let towers = [("f32", &f32_weights, None), ("int8", &int8_weights, None)];
    let webgpu = Device::wgpu_options().init_async().await.unwrap();
    bench_device("webgpu", &webgpu, &towers, &config).await;
}

/// Prints the median time of one 224 px image through each of `towers` on `device`: burn's
/// tower, or clip's packed one in the given precision.
async fn bench_image_device(
    device_name: &str,
    device: &Device,
    towers: &[(&str, &TensorMap, Option<PackedPrecision>)],
    config: &ClipConfig,
) {
    let size = config.vision_config.image_size;
    let pixels: Vec<f32> = (0..3 * size * size)
        .map(|i| ((i * 7919 % 1000) as f32 / 500.0 - 1.0) * 1.5)
        .collect();
    for &(precision, weights, packed) in towers {
        let tower = load_image_tower(
            weights,
            &config.vision_config,
            config.projection_dim,
            device,
        )
        .unwrap();
        let ms = match packed {
            Some(packed) => {
                let packed =
                    PackedImageTower::new(&tower, config.vision_config.layer_norm_eps, packed)
                        .unwrap();
                median_ms(|| async {
                    packed.forward(&pixels).unwrap();
                })
                .await
            }
            None => {
                median_ms(|| async {
                    let input = burn::tensor::Tensor::<4>::from_data(
                        burn::tensor::TensorData::new(pixels.clone(), [1, 3, size, size]),
                        device,
                    );
                    read_rows_async(tower.forward(input).unwrap())
                        .await
                        .unwrap();
                })
                .await
            }
        };
        console_log!(
            "image tower {device_name} {precision} one {size} px image: median {ms:.1} ms of {TIMED_RUNS}"
        );
    }
}

/// ViT-B/32-size image towers with the same random weights, f32 and the int8 export.
fn vit_b32_image_towers() -> (TensorMap, TensorMap, ClipConfig) {
    let config = ClipConfig::vit_b_32();
    let f32_weights = random_tower::image_tower(&config, 8);
    let tower = load_image_tower(
        &f32_weights,
        &config.vision_config,
        config.projection_dim,
        &Device::flex(),
    )
    .unwrap();
    let int8 = export_image_tower(&tower, Precision::Int8).unwrap();
    console_log!("image tower int8 export: {} bytes", int8.len());
    let int8_weights = TensorMap::from_safetensors(&int8).unwrap();
    (f32_weights, int8_weights, config)
}

/// ViT-B/32's image tower in the browser, one thread, on flex: one 224 px image through
/// burn's tower (f32) and the packed tower in f32 and from the int8 export (what the app
/// runs on the CPU for a query by image).
#[wasm_bindgen_test]
#[ignore = "the ViT-B/32 image-tower benchmark: run by clip/bench/wasm.sh"]
async fn vit_b32_image_tower_latency_flex() {
    let (f32_weights, int8_weights, config) = vit_b32_image_towers();
    let towers = [
        ("f32", &f32_weights, None),
        ("f32 packed", &f32_weights, Some(PackedPrecision::F32)),
        ("int8 packed", &int8_weights, Some(PackedPrecision::Int8)),
    ];
    bench_image_device("flex", &Device::flex(), &towers, &config).await;
}

/// The same on the browser's WebGPU adapter (SwiftShader in headless Chromium: a CPU
/// stand-in; for the record, not for speed).
#[cfg(feature = "wgpu")]
#[wasm_bindgen_test]
#[ignore = "the ViT-B/32 image-tower benchmark on WebGPU: run by clip/bench/wasm.sh webgpu"]
async fn vit_b32_image_tower_latency_webgpu() {
    let (f32_weights, int8_weights, config) = vit_b32_image_towers();
    let towers = [("f32", &f32_weights, None), ("int8", &int8_weights, None)];
    let webgpu = Device::wgpu_options().init_async().await.unwrap();
    bench_image_device("webgpu", &webgpu, &towers, &config).await;
}

/// The packed matmul alone on a 77-token text's shapes (ViT-B/32's four linear layers), in
/// GMAC/s: how much of a text's time is matmul.
#[wasm_bindgen_test]
#[ignore = "the packed-kernel benchmark: run by clip/bench/wasm.sh"]
fn packed_kernel_throughput() {
    use clip::packed::PackedLinear;
    let rows = 77;
    for precision in [PackedPrecision::F32, PackedPrecision::Int8] {
        let mut total_ms = 0.0;
        for (inputs, outputs) in [(512, 1536), (512, 512), (512, 2048), (2048, 512)] {
            let weight: Vec<f32> = (0..inputs * outputs)
                .map(|i| ((i * 7919 % 1000) as f32 / 500.0 - 1.0) * 0.05)
                .collect();
            let x: Vec<f32> = (0..rows * inputs)
                .map(|i| (i * 104729 % 1000) as f32 / 500.0 - 1.0)
                .collect();
            let layer = PackedLinear::new(&weight, None, inputs, outputs, precision);
            let start = now_ms();
            while now_ms() - start < WARMUP_MS {
                std::hint::black_box(layer.forward(&x));
            }
            let mut times: Vec<f64> = (0..TIMED_RUNS)
                .map(|_| {
                    let start = now_ms();
                    std::hint::black_box(layer.forward(&x));
                    now_ms() - start
                })
                .collect();
            times.sort_by(f64::total_cmp);
            let ms = times[TIMED_RUNS / 2];
            total_ms += ms;
            let gmacs = (rows * inputs * outputs) as f64 / ms / 1e6;
            console_log!(
                "packed {precision:?} {rows}x{inputs}x{outputs}: median {ms:.2} ms, {gmacs:.1} GMAC/s"
            );
        }
        console_log!(
            "packed {precision:?}: one block's linear layers {total_ms:.2} ms, 12 blocks {:.1} ms",
            total_ms * 12.0
        );
    }
}

/// Heap held while the text worker loads ViT-B/32's int8 export on the CPU, and after: as the
/// app does it (file dropped once parsed, tensors moved into burn's tower, burn's tower
/// dropped once packed), and as it did before (every copy kept to the end).
#[wasm_bindgen_test]
#[ignore = "the text-worker load-memory benchmark: run by clip/bench/wasm.sh"]
fn text_worker_load_memory() {
    let config = ClipConfig::vit_b_32();
    let bytes = int8_export(&random_tower::text_tower(&config, 7), &config);
    let (text, dim, epsilon) = (
        &config.text_config,
        config.projection_dim,
        config.text_config.layer_norm_eps,
    );
    let megabytes = |bytes: usize| bytes as f64 / 1e6;
    for app in [true, false] {
        let base = heap::in_use();
        heap::reset_peak();
        let file = bytes.clone();
        let packed = if app {
            let tensors = TensorMap::from_safetensors(&file).unwrap();
            drop(file);
            let tower = tensors.into_text_tower(text, dim, &Device::flex()).unwrap();
            PackedTextTower::new(&tower, epsilon, PackedPrecision::Int8).unwrap()
        } else {
            let tensors = TensorMap::from_safetensors(&file).unwrap();
            let tower = load_text_tower(&tensors, text, dim, &Device::flex()).unwrap();
            let packed = PackedTextTower::new(&tower, epsilon, PackedPrecision::Int8).unwrap();
            drop(file);
            packed
        };
        let sequence = if app {
            "the app's load"
        } else {
            "every copy kept"
        };
        console_log!(
            "text worker load, int8 export of {:.1} MB, {sequence}: peak heap {:.0} MB (the file included), {:.0} MB held after (the packed tower)",
            megabytes(bytes.len()),
            megabytes(heap::peak() - base),
            megabytes(heap::in_use() - base),
        );
        drop(packed);
    }
}
