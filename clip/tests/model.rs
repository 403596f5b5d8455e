//! Text and image features against the PyTorch references, both layouts, on the flex CPU
//! backend (max abs 1e-4), from the same pre-processed tensor and from raw RGB; the
//! early-stopping text tower against the full one; the tower on the packed CPU kernels; a
//! batch against its images one by one;
//! the paper's heads from a `.pt` file.

use burn::tensor::{Device, Tensor, TensorData};
use clip::export::{export_image_tower, export_text_tower};
use clip::packed::{PackedImageTower, PackedPrecision, PackedTextTower};
use clip::tensors::Precision;
use clip::{
    Activation, ClipConfig, Encoder, FeatureHead, HeadConfig, PreprocessConfig, RgbImage,
    TensorMap, TextTransformer, TokenBatch, VisionTransformer, load_clip, load_head,
    load_image_tower, load_text_tower,
};

use crate::common::{
    FEATURE_TOLERANCE, Fixture, fixture, hf_fixture, max_abs_diff, min_row_cosine,
    open_clip_fixture, reference_pixels, reference_tokens, rows, tensor,
};
use crate::{query_bytes, random_tower};

fn check_text(fixture: &Fixture, label: &str) {
    let tokens = reference_tokens(&fixture.reference);
    let ours = rows(fixture.model.encode_text(&tokens).unwrap());
    let diff = max_abs_diff(&ours, &tensor(&fixture.reference, "text_features").values);
    eprintln!("{label} text: max abs diff {diff}");
    assert!(
        diff <= FEATURE_TOLERANCE,
        "{label} text: max abs diff {diff}"
    );
}

fn check_image_from_pixels(fixture: &Fixture, device: &Device, label: &str) {
    let pixels = reference_pixels(&fixture.reference, device);
    let ours = rows(fixture.model.encode_image(pixels).unwrap());
    let diff = max_abs_diff(&ours, &tensor(&fixture.reference, "image_features").values);
    eprintln!("{label} image: max abs diff {diff}");
    assert!(
        diff <= FEATURE_TOLERANCE,
        "{label} image: max abs diff {diff}"
    );
}

/// Raw RGB -> preprocessing -> image tower, the whole path the CLI runs.
fn check_image_from_rgb(fixture: &Fixture, device: &Device, label: &str) {
    let reference = &fixture.reference;
    let count = tensor(reference, "image_pixels").shape[0];
    let config = PreprocessConfig {
        image_size: fixture.config.vision_config.image_size,
        ..Default::default()
    };
    let mut pixels = Vec::new();
    for i in 0..count {
        let rgb = tensor(reference, &format!("image_rgb.{i}"));
        let bytes: Vec<u8> = rgb.values.iter().map(|&v| v as u8).collect();
        pixels.extend(
            config
                .preprocess(&RgbImage::new(rgb.shape[1], rgb.shape[0], &bytes).unwrap())
                .unwrap(),
        );
    }
    let size = config.image_size;
    let pixels = Tensor::<4>::from_data(TensorData::new(pixels, [count, 3, size, size]), device);
    let ours = rows(fixture.model.encode_image(pixels).unwrap());
    let diff = max_abs_diff(&ours, &tensor(reference, "image_features").values);
    eprintln!("{label} image from RGB: max abs diff {diff}");
    assert!(
        diff <= FEATURE_TOLERANCE,
        "{label} image from RGB: max abs diff {diff}"
    );
}

#[test]
fn hugging_face_layout_matches_reference() {
    let device = Device::flex();
    let fixture = hf_fixture(&device);
    check_text(&fixture, "hf");
    check_image_from_pixels(&fixture, &device, "hf");
    check_image_from_rgb(&fixture, &device, "hf");
}

#[test]
fn open_clip_layout_matches_reference() {
    let device = Device::flex();
    let fixture = open_clip_fixture(&device);
    check_text(&fixture, "open_clip");
    check_image_from_pixels(&fixture, &device, "open_clip");
    check_image_from_rgb(&fixture, &device, "open_clip");
}

/// A batch's image features equal each image's own: with `rayon`, flex splits a batch
/// into parts run side by side (7 images make uneven parts), and no row may move or change.
#[test]
fn image_batch_rows_equal_single_image_runs() {
    let device = Device::flex();
    let fixture = hf_fixture(&device);
    let pixels = reference_pixels(&fixture.reference, &device);
    let count = pixels.dims()[0];
    let batch = Tensor::cat(vec![pixels; 7usize.div_ceil(count)], 0).narrow(0, 0, 7);
    let together = rows(fixture.model.encode_image(batch.clone()).unwrap());
    let image = |i| batch.clone().narrow(0, i, 1);
    let alone: Vec<f32> = (0..7)
        .flat_map(|i| rows(fixture.model.encode_image(image(i)).unwrap()))
        .collect();
    assert_eq!(together.len(), alone.len());
    let diff = max_abs_diff(&together, &alone);
    assert!(diff <= 1e-5, "batch vs single images: max abs diff {diff}");
}

/// The text tower on the CPU kernels of `clip::packed`: f32 within the reference tolerance;
/// int8 (from the f32 tower, and from the int8 export as the browser loads it) within 1e-2
/// cosine. The reference batch mixes text lengths, so the last block's end-rows-only pass
/// pools every text at its own end token.
#[test]
fn packed_text_tower_matches_reference() {
    let device = Device::flex();
    let fixture = hf_fixture(&device);
    let tokens = reference_tokens(&fixture.reference);
    let reference = &tensor(&fixture.reference, "text_features").values;
    let width = fixture.config.projection_dim;
    let epsilon = fixture.config.text_config.layer_norm_eps;
    let packed = |tower: &TextTransformer, precision| {
        PackedTextTower::new(tower, epsilon, precision)
            .unwrap()
            .forward(&tokens)
            .unwrap()
    };
    let f32_packed = packed(&fixture.model.text, PackedPrecision::F32);
    let diff = max_abs_diff(&f32_packed, reference);
    eprintln!("packed f32: max abs diff {diff}");
    assert!(diff <= FEATURE_TOLERANCE, "packed f32: max abs diff {diff}");

    let int8_packed = packed(&fixture.model.text, PackedPrecision::Int8);
    let cosine = min_row_cosine(&int8_packed, reference, width);
    eprintln!("packed int8: min cosine to the reference {cosine:.6}");
    assert!(cosine >= 0.99, "packed int8: min cosine {cosine}");
    let export = export_text_tower(&fixture.model.text, Precision::Int8).unwrap();
    let weights = TensorMap::from_safetensors(&export).unwrap();
    let tower = load_text_tower(&weights, &fixture.config.text_config, width, &device).unwrap();
    let cosine = min_row_cosine(&packed(&tower, PackedPrecision::Int8), reference, width);
    eprintln!("packed int8 from the int8 export: min cosine to the reference {cosine:.6}");
    assert!(
        cosine >= 0.99,
        "packed int8 from the export: min cosine {cosine}"
    );
}

/// The image tower on the CPU kernels of `clip::packed`, both layouts' fixtures: f32
/// within the reference tolerance; int8 (from the f32 tower, and from the int8 export as the
/// browser loads it) within 1e-2 cosine. The batch of 7 images checks that each image's
/// class token is pooled from its own patches.
#[test]
fn packed_image_tower_matches_reference() {
    let device = Device::flex();
    for (label, fixture) in [
        ("hf", hf_fixture(&device)),
        ("open_clip", open_clip_fixture(&device)),
    ] {
        let pixels = &tensor(&fixture.reference, "image_pixels").values;
        let reference = &tensor(&fixture.reference, "image_features").values;
        let width = fixture.config.projection_dim;
        let vision = &fixture.config.vision_config;
        let packed = |tower: &VisionTransformer, precision| {
            PackedImageTower::new(tower, vision.layer_norm_eps, precision)
                .unwrap()
                .forward(pixels)
                .unwrap()
        };
        let f32_packed = packed(&fixture.model.vision, PackedPrecision::F32);
        let diff = max_abs_diff(&f32_packed, reference);
        eprintln!("{label} packed image f32: max abs diff {diff}");
        assert!(
            diff <= FEATURE_TOLERANCE,
            "{label} packed f32: max abs diff {diff}"
        );

        let int8_packed = packed(&fixture.model.vision, PackedPrecision::Int8);
        let cosine = min_row_cosine(&int8_packed, reference, width);
        eprintln!("{label} packed image int8: min cosine to the reference {cosine:.6}");
        assert!(cosine >= 0.99, "{label} packed int8: min cosine {cosine}");
        let export = export_image_tower(&fixture.model.vision, Precision::Int8).unwrap();
        let weights = TensorMap::from_safetensors(&export).unwrap();
        let tower = load_image_tower(&weights, vision, width, &device).unwrap();
        let cosine = min_row_cosine(&packed(&tower, PackedPrecision::Int8), reference, width);
        eprintln!("{label} packed image int8 from the export: min cosine {cosine:.6}");
        assert!(cosine >= 0.99, "{label} int8 export: min cosine {cosine}");
        // burn's tower on the exported weights agrees with the packed one.
        let burn = rows(
            tower
                .forward(reference_pixels(&fixture.reference, &device))
                .unwrap(),
        );
        let cosine = min_row_cosine(&packed(&tower, PackedPrecision::F32), &burn, width);
        assert!(
            cosine >= 0.9999,
            "{label} export, packed f32 vs burn: {cosine}"
        );
    }
    let fixture = hf_fixture(&device);
    let packed = PackedImageTower::new(
        &fixture.model.vision,
        fixture.config.vision_config.layer_norm_eps,
        PackedPrecision::F32,
    )
    .unwrap();
    assert!(packed.forward(&[0.0; 5]).is_err(), "a cut image is refused");
}

/// The packed tower's exact (erf) GELU against burn's, on the fixture's weights with every
/// block switched to GELU (no fixture model uses it); and bad token ids get burn's error.
#[test]
fn packed_text_tower_gelu_and_errors_match_burn() {
    let device = Device::flex();
    let fixture = hf_fixture(&device);
    let tokens = reference_tokens(&fixture.reference);
    let mut tower = fixture.model.text.clone();
    for block in &mut tower.blocks {
        block.activation = Activation::Gelu;
    }
    let packed = PackedTextTower::new(
        &tower,
        fixture.config.text_config.layer_norm_eps,
        PackedPrecision::F32,
    )
    .unwrap();
    let ours = packed.forward(&tokens).unwrap();
    let burn = rows(tower.forward(&tokens).unwrap());
    let diff = max_abs_diff(&ours, &burn);
    assert!(diff <= 1e-5, "packed GELU vs burn: max abs diff {diff}");
    assert!(
        max_abs_diff(&burn, &rows(fixture.model.text.forward(&tokens).unwrap())) > 1e-3,
        "GELU must change the features, or this test compares nothing"
    );

    let vocab = fixture.config.text_config.vocab_size as u32;
    let bad = TokenBatch::new(vec![49406, vocab, 49407, 0], 4).unwrap();
    assert_eq!(
        packed.forward(&bad).unwrap_err().to_string(),
        tower.forward(&bad).unwrap_err().to_string()
    );
}

/// Stopping the text tower at the last end token gives the full run's features.
#[test]
fn early_stop_equals_full_context() {
    let device = Device::flex();
    for fixture in [hf_fixture(&device), open_clip_fixture(&device)] {
        let tokens = reference_tokens(&fixture.reference);
        let early = rows(fixture.model.text.forward(&tokens).unwrap());
        let full = rows(fixture.model.text.forward_full(&tokens).unwrap());
        let diff = max_abs_diff(&early, &full);
        eprintln!("early stop differs from the full run by {diff}");
        assert!(
            diff <= 1e-6,
            "early stop differs from the full run by {diff}"
        );
        // A short query alone really is cut short.
        let short =
            clip::TokenBatch::new(clip::Tokenizer::new().unwrap().tokenize("a cat", 77), 77)
                .unwrap();
        assert_eq!(short.end_positions(), &[3]);
        let early = rows(fixture.model.text.forward(&short).unwrap());
        let full = rows(fixture.model.text.forward_full(&short).unwrap());
        assert!(max_abs_diff(&early, &full) <= 1e-6);
    }
}

/// The paper's full model (open_clip backbone + both heads with BatchNorm statistics) from
/// a PyTorch `.pt` state dict.
#[test]
fn full_model_with_heads_from_pytorch_file() {
    let device = Device::flex();
    let weights = TensorMap::from_pytorch_file(&fixture("full.pt"), None).unwrap();
    let json = std::fs::read_to_string(fixture("full.json")).unwrap();
    let config = ClipConfig::from_open_clip_json(&json).unwrap();
    let head_sizes: serde_json::Value = serde_json::from_str(&json).unwrap();
    let head_config = HeadConfig {
        input: config.projection_dim,
        hidden: head_sizes["head"]["hidden"].as_u64().unwrap() as usize,
        output: head_sizes["head"]["output"].as_u64().unwrap() as usize,
    };
    let mut encoder = Encoder::new(
        load_clip(&weights, &config, &device).unwrap(),
        device.clone(),
    );
    encoder.image_head = Some(FeatureHead::Mlp(
        load_head(&weights, "image_head", &head_config, &device).unwrap(),
    ));
    encoder.text_head = Some(FeatureHead::Mlp(
        load_head(&weights, "text_head", &head_config, &device).unwrap(),
    ));
    let reference = crate::common::read_map("full.reference.safetensors");

    let text = rows(
        encoder
            .text_features(&reference_tokens(&reference))
            .unwrap(),
    );
    let diff = max_abs_diff(&text, &tensor(&reference, "text_features").values);
    eprintln!("text head: max abs diff {diff}");
    assert!(diff <= FEATURE_TOLERANCE, "text head: max abs diff {diff}");

    let count = tensor(&reference, "image_pixels").shape[0];
    let images: Vec<(usize, usize, Vec<u8>)> = (0..count)
        .map(|i| {
            let rgb = tensor(&reference, &format!("image_rgb.{i}"));
            (
                rgb.shape[1],
                rgb.shape[0],
                rgb.values.iter().map(|&v| v as u8).collect(),
            )
        })
        .collect();
    let images: Vec<RgbImage<'_>> = images
        .iter()
        .map(|(w, h, bytes)| RgbImage::new(*w, *h, bytes).unwrap())
        .collect();
    let image = rows(encoder.image_features(&images).unwrap());
    let diff = max_abs_diff(&image, &tensor(&reference, "image_features").values);
    eprintln!("image head: max abs diff {diff}");
    assert!(diff <= FEATURE_TOLERANCE, "image head: max abs diff {diff}");
}

/// A PCA projection is `normalise(normalise(x) W + b)` with `W = componentsᵀ`, `b = -mean W`.
#[test]
fn linear_projection_applies_pca() {
    let device = Device::flex();
    // Two components over three inputs.
    let components = [1.0, 0.0, 0.0, 0.0, 1.0, 1.0];
    let mean = [0.1, 0.0, 0.0];
    let head = clip::LinearProjection::from_pca(&components, &mean, 2, &device).unwrap();
    let x = Tensor::<2>::from_data(TensorData::new(vec![3.0f32, 0.0, 4.0], [1, 3]), &device);
    let y = rows(head.forward(x));
    // normalise([3, 0, 4]) = [0.6, 0, 0.8]; minus mean, projected: [0.5, 0.8]; normalised.
    let norm = (0.5f32 * 0.5 + 0.8 * 0.8).sqrt();
    assert!(max_abs_diff(&y, &[0.5 / norm, 0.8 / norm]) <= 1e-6, "{y:?}");
    assert!(clip::LinearProjection::from_pca(&components, &mean, 3, &device).is_err());
}

/// The packed tower against burn's on random towers of awkward shapes: head widths of 4 and
/// 10 (not a multiple of the 8-column blocks), no blocks at all, fewer keys than a block,
/// both activations, and a batch whose texts end at position 0, at the last position and in
/// between. f32 within 1e-4 of burn; int8 within 1e-2 cosine.
#[test]
fn packed_text_tower_matches_burn_on_odd_shapes() {
    use rand::{Rng, SeedableRng};
    let device = Device::flex();
    // (width, heads, layers, mlp, vocab, context, activation)
    let shapes = [
        (8, 1, 1, 12, 40, 9, Activation::QuickGelu),
        (12, 3, 2, 20, 64, 16, Activation::Gelu),
        (20, 2, 3, 36, 50, 21, Activation::QuickGelu),
        (8, 2, 0, 16, 30, 5, Activation::QuickGelu),
    ];
    for (seed, &(width, heads, layers, mlp, vocab, context, activation)) in
        shapes.iter().enumerate()
    {
        let mut config = ClipConfig::vit_b_32();
        config.projection_dim = 6;
        let c = &mut config.text_config;
        (c.hidden_size, c.num_attention_heads, c.num_hidden_layers) = (width, heads, layers);
        (c.intermediate_size, c.vocab_size, c.max_position_embeddings) = (mlp, vocab, context);
        c.hidden_act = activation;
        let weights = random_tower::text_tower(&config, seed as u64);
        let tower = load_text_tower(&weights, &config.text_config, 6, &device).unwrap();
        // Each text's end token is the largest id, at its end position.
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(100 + seed as u64);
        let ids: Vec<u32> = [0, context - 1, context / 2]
            .into_iter()
            .flat_map(|end| {
                let mut row: Vec<u32> = (0..context)
                    .map(|_| rng.random_range(0..vocab as u32 - 1))
                    .collect();
                row[end] = vocab as u32 - 1;
                row[end + 1..].fill(0);
                row
            })
            .collect();
        let tokens = TokenBatch::new(ids, context).unwrap();
        let burn = rows(tower.forward(&tokens).unwrap());
        let label = format!("width {width}, heads {heads}, layers {layers}");
        let epsilon = config.text_config.layer_norm_eps;
        let f32_packed = PackedTextTower::new(&tower, epsilon, PackedPrecision::F32)
            .unwrap()
            .forward(&tokens)
            .unwrap();
        let diff = max_abs_diff(&f32_packed, &burn);
        assert!(
            diff <= 1e-4,
            "{label}: packed f32 vs burn: max abs diff {diff}"
        );
        let int8_packed = PackedTextTower::new(&tower, epsilon, PackedPrecision::Int8)
            .unwrap()
            .forward(&tokens)
            .unwrap();
        let cosine = min_row_cosine(&int8_packed, &burn, 6);
        assert!(cosine >= 0.99, "{label}: packed int8 min cosine {cosine}");
    }
}

/// The packed image tower against burn's on random towers of awkward shapes: 1 to 17
/// tokens (patches and the class token: fewer than a block of keys, and more), head widths
/// not a multiple of the 8-column blocks, no blocks at all, both activations, a batch of
/// three images. f32 within 1e-4 of burn; int8 within 1e-2 cosine.
#[test]
fn packed_image_tower_matches_burn_on_odd_shapes() {
    let device = Device::flex();
    // (width, heads, layers, mlp, image size, patch, activation)
    let shapes = [
        (8, 1, 1, 12, 8, 4, Activation::QuickGelu),
        (12, 3, 2, 20, 16, 4, Activation::Gelu),
        (20, 2, 3, 36, 12, 6, Activation::QuickGelu),
        (8, 2, 0, 16, 4, 4, Activation::QuickGelu),
    ];
    for (seed, &(width, heads, layers, mlp, size, patch, activation)) in shapes.iter().enumerate() {
        let mut config = ClipConfig::vit_b_32();
        config.projection_dim = 6;
        let c = &mut config.vision_config;
        (c.hidden_size, c.num_attention_heads, c.num_hidden_layers) = (width, heads, layers);
        (c.intermediate_size, c.image_size, c.patch_size) = (mlp, size, patch);
        c.hidden_act = activation;
        let weights = random_tower::image_tower(&config, seed as u64);
        let tower = load_image_tower(&weights, &config.vision_config, 6, &device).unwrap();
        let pixels: Vec<f32> = (0..3 * 3 * size * size)
            .map(|i| ((i * 7919 + seed * 31) % 1000) as f32 / 500.0 - 1.0)
            .collect();
        let input =
            Tensor::<4>::from_data(TensorData::new(pixels.clone(), [3, 3, size, size]), &device);
        let burn = rows(tower.forward(input).unwrap());
        let label = format!("width {width}, heads {heads}, layers {layers}, {size} px");
        let epsilon = config.vision_config.layer_norm_eps;
        let packed = |precision| {
            PackedImageTower::new(&tower, epsilon, precision)
                .unwrap()
                .forward(&pixels)
                .unwrap()
        };
        let diff = max_abs_diff(&packed(PackedPrecision::F32), &burn);
        assert!(
            diff <= 1e-4,
            "{label}: packed f32 vs burn: max abs diff {diff}"
        );
        let cosine = min_row_cosine(&packed(PackedPrecision::Int8), &burn, 6);
        assert!(cosine >= 0.99, "{label}: packed int8 min cosine {cosine}");
    }
}

/// A typed text's query bytes natively, through burn's tower and the packed kernels alike:
/// the bytes `query_bytes.rs` writes down, which the wasm harness checks too.
#[test]
fn texts_give_the_query_bytes_written_down() {
    let device = Device::flex();
    let Fixture { model, config, .. } = hf_fixture(&device);
    let tokens = query_bytes::tokens(config.text_config.max_position_embeddings);
    let pca = query_bytes::shipped_pca(config.projection_dim);
    let burn = rows(model.text.forward(&tokens).unwrap());
    query_bytes::assert_expected(&pca, &burn, "burn");
    query_bytes::assert_packed_expected(&model.text, &config, &tokens);
}
