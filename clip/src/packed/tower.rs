//! [`PackedTextTower`]: the causal text transformer on the packed kernels, in plain Rust.

use burn::module::Param;
use burn::nn::{LayerNorm, Linear};
use burn::tensor::Tensor;

use super::kernels::{COLUMNS, Pointwise, ROWS, dot, pointwise, sum, tile_f32};
use super::linear::pack_f32;
use super::{PackedLinear, PackedPrecision};
use crate::config::Activation;
use crate::encoder::{EncoderError, read_values};
use crate::model::{ResidualAttentionBlock, TextTransformer};
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

#[derive(Debug, Clone)]
struct Norm {
    gamma: Vec<f32>,
    beta: Vec<f32>,
    epsilon: f32,
}

#[derive(Debug, Clone)]
struct PackedBlock {
    ln_1: Norm,
    attn_in: PackedLinear,
    attn_out: PackedLinear,
    ln_2: Norm,
    mlp_fc: PackedLinear,
    mlp_proj: PackedLinear,
    heads: usize,
    activation: Activation,
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
            x = block.forward(&x, used, if i == last { &ends } else { &all });
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

impl Norm {
    fn new(norm: &LayerNorm, epsilon: f32) -> Result<Self, EncoderError> {
        let gamma = read(&norm.gamma)?;
        let beta = match &norm.beta {
            Some(beta) => read(beta)?,
            None => vec![0.0; gamma.len()],
        };
        Ok(Self {
            gamma,
            beta,
            epsilon,
        })
    }

    /// LayerNorm of every row of `x`.
    fn rows(&self, x: &[f32]) -> Vec<f32> {
        let width = self.gamma.len();
        let mut out = vec![0.0; x.len()];
        for (row, out) in x.chunks_exact(width).zip(out.chunks_exact_mut(width)) {
            let mean = sum(row) / width as f32;
            for (o, &v) in out.iter_mut().zip(row) {
                *o = v - mean;
            }
            let variance = dot(out, out) / width as f32;
            let inverse = 1.0 / (variance + self.epsilon).sqrt();
            for ((o, g), b) in out.iter_mut().zip(&self.gamma).zip(&self.beta) {
                *o = *o * inverse * g + b;
            }
        }
        out
    }
}

impl PackedBlock {
    fn new(
        block: &ResidualAttentionBlock,
        epsilon: f32,
        precision: PackedPrecision,
    ) -> Result<Self, EncoderError> {
        Ok(Self {
            ln_1: Norm::new(&block.ln_1, epsilon)?,
            attn_in: pack(&block.attn_in, precision)?,
            attn_out: pack(&block.attn_out, precision)?,
            ln_2: Norm::new(&block.ln_2, epsilon)?,
            mlp_fc: pack(&block.mlp_fc, precision)?,
            mlp_proj: pack(&block.mlp_proj, precision)?,
            heads: block.heads,
            activation: block.activation,
        })
    }

    /// `x`: `[texts * used, width]` -> the block's output at `rows` (`[rows.len(), width]`).
    /// Causal: row `i` of a text attends to its rows `0..=i`.
    fn forward(&self, x: &[f32], used: usize, rows: &[usize]) -> Vec<f32> {
        let width = self.attn_out.outputs();
        let qkv = self.attn_in.forward(&self.ln_1.rows(x));
        let attended = self.attention(&qkv, used, rows, width);
        let mut x: Vec<f32> = rows
            .iter()
            .flat_map(|&row| x[row * width..][..width].iter().copied())
            .collect();
        add(&mut x, &self.attn_out.forward(&attended));
        let mut hidden = self.mlp_fc.forward(&self.ln_2.rows(&x));
        match self.activation {
            Activation::QuickGelu => pointwise(&mut hidden, Pointwise::SigmoidWeighted(1.702)),
            Activation::Gelu => {
                for v in &mut hidden {
                    *v = 0.5 * *v * (1.0 + libm::erff(*v * std::f32::consts::FRAC_1_SQRT_2));
                }
            }
        }
        add(&mut x, &self.mlp_proj.forward(&hidden));
        x
    }

    /// Multi-head causal attention for the query `rows` of `qkv` (`[texts * used,
    /// 3 * width]`, q, k, v; `rows` ascending): `[rows.len(), width]`. Per text and head,
    /// the scores and the mix of values run on the packed f32 tiles, with the keys and values
    /// packed straight from `qkv`, and each tile of queries stops at its last query's
    /// position: later keys are masked anyway.
    fn attention(&self, qkv: &[f32], used: usize, rows: &[usize], width: usize) -> Vec<f32> {
        let head_width = width / self.heads;
        let scale = 1.0 / (head_width as f32).sqrt();
        let stride = 3 * width;
        let zero = [0.0; COLUMNS];
        let mut out = vec![0.0; rows.len() * width];
        let mut done = 0;
        while done < rows.len() {
            let start = rows[done] - rows[done] % used;
            let count = rows[done..].partition_point(|&row| row < start + used);
            let positions: Vec<usize> = rows[done..done + count]
                .iter()
                .map(|row| row - start)
                .collect();
            let keys = positions[count - 1] + 1;
            let key_stride = keys.next_multiple_of(COLUMNS);
            let value_blocks = head_width.div_ceil(COLUMNS);
            let tiles = count.div_ceil(ROWS);
            // The last (largest) query position in a tile of `ROWS` queries.
            let last_in = |tile: usize| positions[(tile * ROWS + ROWS - 1).min(count - 1)];
            for head in 0..self.heads {
                let at = head * head_width;
                let part = |row: usize, part: usize| {
                    &qkv[(start + row) * stride + part * width + at..][..head_width]
                };
                // Keys as the scores' weights (`[dimension, key]`), values as the mix's
                // (`[key, dimension]`), in the tiles' layout; queries as padded rows.
                let packed_keys = pack_f32(head_width, keys, |d, j| part(j, 1)[d]);
                let packed_values = pack_f32(keys, head_width, |j, d| part(j, 2)[d]);
                let mut queries = vec![0.0; tiles * ROWS * head_width];
                for (i, &position) in positions.iter().enumerate() {
                    queries[i * head_width..][..head_width].copy_from_slice(part(position, 0));
                }
                let mut weights = vec![0.0; tiles * ROWS * key_stride];
                for tile in 0..tiles {
                    let x = &queries[tile * ROWS * head_width..];
                    for block in 0..=last_in(tile) / COLUMNS {
                        let w = &packed_keys[block * head_width * COLUMNS..];
                        let scores = tile_f32(x, head_width, head_width, w, &zero);
                        for (r, scores) in scores.iter().enumerate() {
                            weights[(tile * ROWS + r) * key_stride + block * COLUMNS..][..COLUMNS]
                                .copy_from_slice(scores);
                        }
                    }
                }
                for (weights, &position) in weights.chunks_exact_mut(key_stride).zip(&positions) {
                    let (visible, masked) = weights.split_at_mut(position + 1);
                    masked.fill(0.0);
                    let max = visible
                        .iter()
                        .fold(f32::NEG_INFINITY, |m, &w| if w > m { w } else { m });
                    for w in visible.iter_mut() {
                        *w = (*w - max) * scale;
                    }
                    pointwise(visible, Pointwise::Exp);
                    let inverse = 1.0 / sum(visible);
                    for w in visible.iter_mut() {
                        *w *= inverse;
                    }
                }
                for tile in 0..tiles {
                    let depth = last_in(tile) + 1;
                    let x = &weights[tile * ROWS * key_stride..];
                    for block in 0..value_blocks {
                        let w = &packed_values[block * keys * COLUMNS..];
                        let mixed = tile_f32(x, key_stride, depth, w, &zero);
                        let columns = COLUMNS.min(head_width - block * COLUMNS);
                        for (r, mixed) in mixed.iter().enumerate().take(count - tile * ROWS) {
                            out[(done + tile * ROWS + r) * width + at + block * COLUMNS..]
                                [..columns]
                                .copy_from_slice(&mixed[..columns]);
                        }
                    }
                }
            }
            done += count;
        }
        out
    }
}

fn add(x: &mut [f32], y: &[f32]) {
    for (x, y) in x.iter_mut().zip(y) {
        *x += y;
    }
}

fn read<const D: usize>(param: &Param<Tensor<D>>) -> Result<Vec<f32>, EncoderError> {
    read_values(param.val())
}

fn pack(linear: &Linear, precision: PackedPrecision) -> Result<PackedLinear, EncoderError> {
    let [inputs, outputs] = linear.weight.shape().dims();
    let bias = linear.bias.as_ref().map(read).transpose()?;
    Ok(PackedLinear::new(
        &read(&linear.weight)?,
        bias.as_deref(),
        inputs,
        outputs,
        precision,
    ))
}
