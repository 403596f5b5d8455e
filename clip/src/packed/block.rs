//! The pieces both packed towers share: a pre-LN residual attention block ([`PackedBlock`],
//! causal for text, full for images) and its LayerNorm ([`Norm`]).

use burn::module::Param;
use burn::nn::{LayerNorm, Linear};
use burn::tensor::Tensor;

use super::kernels::{COLUMNS, Pointwise, ROWS, dot, pointwise, sum, tile_f32};
use super::linear::pack_f32;
use super::{PackedLinear, PackedPrecision};
use crate::config::Activation;
use crate::encoder::{EncoderError, read_values};
use crate::model::ResidualAttentionBlock;

#[derive(Debug, Clone)]
pub(super) struct Norm {
    gamma: Vec<f32>,
    beta: Vec<f32>,
    epsilon: f32,
}

#[derive(Debug, Clone)]
pub(super) struct PackedBlock {
    ln_1: Norm,
    attn_in: PackedLinear,
    attn_out: PackedLinear,
    ln_2: Norm,
    mlp_fc: PackedLinear,
    mlp_proj: PackedLinear,
    heads: usize,
    activation: Activation,
}

impl Norm {
    pub(super) fn new(norm: &LayerNorm, epsilon: f32) -> Result<Self, EncoderError> {
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
    pub(super) fn rows(&self, x: &[f32]) -> Vec<f32> {
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
    pub(super) fn new(
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

    /// `x`: `[sequences * used, width]` -> the block's output at `rows` (`[rows.len(),
    /// width]`). With `causal` (text), row `i` of a sequence attends to its rows `0..=i`;
    /// without (images), to all of them.
    pub(super) fn forward(&self, x: &[f32], used: usize, rows: &[usize], causal: bool) -> Vec<f32> {
        let width = self.attn_out.outputs();
        let qkv = self.attn_in.forward(&self.ln_1.rows(x));
        let attended = self.attention(&qkv, used, rows, width, causal);
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

    /// Multi-head attention for the query `rows` of `qkv` (`[sequences * used, 3 * width]`,
    /// q, k, v; `rows` ascending): `[rows.len(), width]`. Per sequence and head, the scores
    /// and the mix of values run on the packed f32 tiles, with the keys and values packed
    /// straight from `qkv`; when `causal`, each tile of queries stops at its last query's
    /// position: later keys are masked anyway.
    fn attention(
        &self,
        qkv: &[f32],
        used: usize,
        rows: &[usize],
        width: usize,
        causal: bool,
    ) -> Vec<f32> {
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
            // The last key a query at `position` sees.
            let reach = |position: usize| if causal { position } else { used - 1 };
            let keys = reach(positions[count - 1]) + 1;
            let key_stride = keys.next_multiple_of(COLUMNS);
            let value_blocks = head_width.div_ceil(COLUMNS);
            let tiles = count.div_ceil(ROWS);
            // The last (largest) query position in a tile of `ROWS` queries.
            let last_in = |tile: usize| reach(positions[(tile * ROWS + ROWS - 1).min(count - 1)]);
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
                    let (visible, masked) = weights.split_at_mut(reach(position) + 1);
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

pub(super) fn add(x: &mut [f32], y: &[f32]) {
    for (x, y) in x.iter_mut().zip(y) {
        *x += y;
    }
}

pub(super) fn read<const D: usize>(param: &Param<Tensor<D>>) -> Result<Vec<f32>, EncoderError> {
    read_values(param.val())
}

pub(super) fn pack(
    linear: &Linear,
    precision: PackedPrecision,
) -> Result<PackedLinear, EncoderError> {
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
