//! A text gives the same query bytes natively and in wasm: the fixture's text tower, then
//! the dataset's projection as the browser applies it to a typed text (`reduce::Pca::apply`
//! of the shipped PCA, then `index_shards::quantize_row`: the two calls of
//! `frontend::projection::QueryProjection::project`). The native harness (`tests.rs`) and
//! the wasm one (`wasm.rs`, headless Chromium) both check the bytes written down here, so a
//! difference between the two platforms anywhere on the path fails one of them.

use clip::packed::{PackedPrecision, PackedTextTower};
use clip::{ClipConfig, TextTransformer, TokenBatch, Tokenizer};
use index_shards::quantize::quantize_row;
use reduce::Pca;

/// Typed queries, short and long, ASCII and not.
pub const TEXTS: [&str; 5] = [
    "a photo of a cat",
    "green hearts",
    "two dogs playing in the snow at night, seen from far away",
    "Zürich Hauptbahnhof",
    "東京の夜景 🌃",
];

/// Compact dims of the projection (the demo's index has 4 too).
const DIMS_OUT: usize = 4;

/// Their query bytes, natively and in wasm alike.
pub const EXPECTED: [[u8; DIMS_OUT]; TEXTS.len()] = [
    [173, 246, 137, 126],
    [195, 164, 210, 187],
    [49, 125, 172, 218],
    [216, 133, 216, 151],
    [131, 157, 125, 251],
];

/// The texts tokenized for a tower of `context` positions.
pub fn tokens(context: usize) -> TokenBatch {
    let tokenizer = Tokenizer::new().unwrap();
    let ids = TEXTS
        .iter()
        .flat_map(|text| tokenizer.tokenize(text, context))
        .collect();
    TokenBatch::new(ids, context).unwrap()
}

/// Checks the query bytes of `features` (one row per text) against [`EXPECTED`].
pub fn assert_expected(pca: &Pca, features: &[f32], path: &str) {
    let got = query_bytes(pca, features);
    assert_eq!(got, EXPECTED, "{path}: query bytes of {TEXTS:?}");
}

/// A PCA as `precompute build` ships it: fitted on a deterministic stand-in for the image
/// features (`dims_in` wide), turned to independent axes, and read back from its file.
pub fn shipped_pca(dims_in: usize) -> Pca {
    // A fixed integer hash, so the rows are the same bits on every platform.
    let rows: Vec<f32> = (0..600 * dims_in)
        .map(|i| {
            let h = (i as u32).wrapping_mul(2_654_435_761).rotate_left(13) ^ 0x9e37_79b9;
            let uniform = (h >> 8) as f32 / (1u32 << 24) as f32;
            // Uneven spreads per dim, so the components are well separated.
            (uniform - 0.5) * (1.0 + (i % dims_in) as f32 * 0.3)
        })
        .collect();
    let pca = Pca::fit(&rows, dims_in, DIMS_OUT)
        .unwrap()
        .rotated_independent(&rows)
        .unwrap();
    Pca::from_safetensors(&pca.to_safetensors()).unwrap()
}

/// The query bytes of each row of `features` (one per text).
pub fn query_bytes(pca: &Pca, features: &[f32]) -> Vec<Vec<u8>> {
    features
        .chunks_exact(pca.dims_in())
        .map(|feature| quantize_row(&pca.apply(feature).unwrap()))
        .collect()
}

/// Checks the packed f32 kernels' query bytes (the app's CPU path) of `tower`'s tokens.
pub fn assert_packed_expected(tower: &TextTransformer, config: &ClipConfig, tokens: &TokenBatch) {
    let packed = PackedTextTower::new(
        tower,
        config.text_config.layer_norm_eps,
        PackedPrecision::F32,
    )
    .unwrap()
    .forward(tokens)
    .unwrap();
    assert_expected(&shipped_pca(config.projection_dim), &packed, "packed f32");
}
