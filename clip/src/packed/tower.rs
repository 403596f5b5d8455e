//! [`PackedTextTower`]: the causal text transformer on the packed kernels, in plain Rust.

use super::block::{Norm, PackedBlock, pack, read};
use super::{PackedLinear, PackedPrecision};
use crate::encoder::{EncoderError, read_values};
use crate::model::TextTransformer;
use crate::pooling::{EncodeError, TokenBatch};
use crate::tensors::{int8_scale, to_int8};

/// A [`TextTransformer`] with its weights read out and packed for the CPU kernels of
/// [`crate::packed`]: the same features (f32 within float rounding; int8 within its
/// quantisation error), without burn.
///
/// Besides stopping at the last end token (as [`TextTransformer::forward`] does), the last
/// block runs its attention output and MLP for the end tokens' rows only: no other row
/// reaches the pooled feature, and for a 77-token text that is most of a block.
#[derive(Debug, Clone)]
pub struct PackedTextTower {
    token_embedding: Embedding,
    /// `[context, width]`.
    positional_embedding: Vec<f32>,
    context: usize,
    width: usize,
    blocks: Vec<PackedBlock>,
    ln_final: Norm,
    /// `[width, projection_dim]`, no bias; always f32 (one row per text: not worth int8).
    projection: PackedLinear,
}

/// Token-embedding rows read back per step when quantising (4 MB at width 512).
const EMBEDDING_ROWS_PER_READ: usize = 2048;

#[derive(Debug, Clone)]
enum Embedding {
    /// `[vocab, width]`.
    F32(Vec<f32>),
    /// `[vocab, width]` as int8 with one scale per row (as the int8 export stores it).
    Int8 { values: Vec<i8>, scales: Vec<f32> },
}

impl PackedTextTower {
    /// Reads `tower`'s weights back (synchronously: natively from any device, in the browser
    /// from the CPU device only) and packs them in `precision`. `layer_norm_eps` is the
    /// config's (burn keeps it private in its `LayerNorm`).
    pub fn new(
        tower: &TextTransformer,
        layer_norm_eps: f64,
        precision: PackedPrecision,
    ) -> Result<Self, EncoderError> {
        let epsilon = layer_norm_eps as f32;
        let [vocab, width] = tower.token_embedding.shape().dims::<2>();
        let [context, _] = tower.positional_embedding.shape().dims::<2>();
        let token_embedding = match precision {
            PackedPrecision::F32 => Embedding::F32(read(&tower.token_embedding)?),
            PackedPrecision::Int8 => {
                // Read out and quantised a slice of rows at a time: an f32 copy of the
                // whole table (101 MB for CLIP's vocabulary at width 512) would be the
                // load's peak.
                let mut values = Vec::with_capacity(vocab * width);
                let mut scales = Vec::with_capacity(vocab);
                for start in (0..vocab).step_by(EMBEDDING_ROWS_PER_READ) {
                    let rows = EMBEDDING_ROWS_PER_READ.min(vocab - start);
                    let slice = read_values(tower.token_embedding.val().narrow(0, start, rows))?;
                    for row in slice.chunks(width.max(1)) {
                        let scale = int8_scale(row.iter().copied());
                        scales.push(scale);
                        values.extend(row.iter().map(|&v| to_int8(v, scale)));
                    }
                }
                Embedding::Int8 { values, scales }
            }
        };
        debug_assert_eq!(vocab * width, token_embedding.len());
        let blocks = tower
            .blocks
            .iter()
            .map(|block| PackedBlock::new(block, epsilon, precision))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            token_embedding,
            positional_embedding: read(&tower.positional_embedding)?,
            context,
            width,
            blocks,
            ln_final: Norm::new(&tower.ln_final, epsilon)?,
            projection: pack(&tower.projection, PackedPrecision::F32)?,
        })
    }

    /// Text features `[batch, projection_dim]`, row-major: the same numbers as
    /// [`TextTransformer::forward`].
    pub fn forward(&self, tokens: &TokenBatch) -> Result<Vec<f32>, EncodeError> {
        tokens.check_fits(self.vocab_size(), self.context)?;
        let width = self.width;
        let used = tokens.end_positions().iter().max().map_or(1, |p| p + 1);
        let ids = tokens.truncated(used);
        let mut x = vec![0.0; ids.len() * width];
        for (i, (&id, row)) in ids.iter().zip(x.chunks_exact_mut(width)).enumerate() {
            self.token_embedding.row(id as usize, width, row);
            let position = &self.positional_embedding[(i % used) * width..][..width];
            for (v, p) in row.iter_mut().zip(position) {
                *v += p;
            }
        }
        // The rows whose state is pooled: one per text, at its end token.
        let ends: Vec<usize> = tokens
            .end_positions()
            .iter()
            .enumerate()
            .map(|(b, &p)| b * used + p)
            .collect();
        let all: Vec<usize> = (0..ids.len()).collect();
        let last = self.blocks.len().saturating_sub(1);
        for (i, block) in self.blocks.iter().enumerate() {
            x = block.forward(&x, used, if i == last { &ends } else { &all }, true);
        }
        let pooled = if self.blocks.is_empty() {
            ends.iter()
                .flat_map(|&row| x[row * width..][..width].iter().copied())
                .collect()
        } else {
            x
        };
        Ok(self.projection.forward(&self.ln_final.rows(&pooled)))
    }

    fn vocab_size(&self) -> usize {
        self.token_embedding.len() / self.width.max(1)
    }
}

impl Embedding {
    fn len(&self) -> usize {
        match self {
            Self::F32(values) => values.len(),
            Self::Int8 { values, .. } => values.len(),
        }
    }

    /// Writes row `id` into `out`.
    fn row(&self, id: usize, width: usize, out: &mut [f32]) {
        match self {
            Self::F32(values) => out.copy_from_slice(&values[id * width..][..width]),
            Self::Int8 { values, scales } => {
                for (o, &q) in out.iter_mut().zip(&values[id * width..][..width]) {
                    *o = f32::from(q) * scales[id];
                }
            }
        }
    }
}
