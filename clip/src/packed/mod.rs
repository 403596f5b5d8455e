//! The towers on clip's own CPU kernels, for text and image queries in the browser.
//!
//! A query is a handful of rows (the tokens up to the end token), and a long text 77. For so
//! few rows burn's general matmul is bound by memory: it re-packs every weight matrix on each
//! call. Here ([`PackedLinear`]) the weights are laid out once, in the order the kernels
//! read them, and each call streams them exactly once: in f32, or in int8 with one scale
//! per output (as [`crate::tensors`] stores them) against activations quantised per row to
//! i16, with exact i32 sums. [`PackedTextTower`] runs the whole tower on them in plain Rust
//! (LayerNorm, causal attention on the same tiles, QuickGELU with a vectorised exp), without
//! burn's op-by-op dispatch, and skips the rows that cannot reach the pooled feature.
//!
//! ViT-B/32's text tower in headless Chromium, one thread (`clip/bench/wasm.sh`): a 7-token
//! query in 24 ms (f32) / 11 ms (int8), a 77-token text in 159 / 86 ms; burn's flex backend
//! takes 42 / 256 ms in f32, and onnxruntime-web 31 / 16 and 175 / 99 ms.
//!
//! [`PackedImageTower`] runs the ViT image tower the same way (full attention; the last
//! block for the class tokens only), for queries by image: ViT-B/32, one 224 px image, in
//! 247 ms (f32) / 137 ms (int8) against burn's flex 361 ms (f32), same bench.
//!
//! The kernels use wasm simd128 where it is enabled, and portable loops elsewhere in the
//! same summation order (f32 sums come out the same, bit for bit). The portable loops are
//! for tests and other targets, not for speed: natively, burn's gemm with AVX is faster.

mod block;
mod image_tower;
mod kernels;
mod linear;
mod tower;

pub use image_tower::PackedImageTower;
pub use linear::PackedLinear;
pub use tower::PackedTextTower;

/// The number format of packed weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PackedPrecision {
    /// The weights as they are.
    F32,
    /// Symmetric int8 per output (absmax / 127), activations as i16 per row.
    Int8,
}
