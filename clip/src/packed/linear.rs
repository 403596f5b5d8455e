//! [`PackedLinear`]: a linear layer with its weights laid out once for the kernels.

use super::PackedPrecision;
use super::kernels::{COLUMNS, ROWS, Tile, quantise_row, tile_f32, tile_i16};
use crate::tensors::{int8_scale, to_int8};

#[derive(Debug, Clone)]
enum Weights {
    /// `[block][input][column]`.
    F32(Vec<f32>),
    /// `[block][input / 2][column][2]`, int8 values held as i16, and each output's scale.
    Int8 { values: Vec<i16>, scales: Vec<f32> },
}

/// `y = x W + b` with `W` packed once for [`PackedLinear::forward`].
#[derive(Debug, Clone)]
pub struct PackedLinear {
    inputs: usize,
    outputs: usize,
    /// `inputs` rounded up to what the kernel reads at a time; the padding weights are zero.
    padded_inputs: usize,
    weights: Weights,
    /// The bias, padded to whole blocks with zeros.
    bias: Vec<f32>,
}

impl PackedLinear {
    /// Packs `weight` (`[inputs, outputs]`, row-major, burn's `Linear` orientation) and
    /// `bias` (`[outputs]`, or none).
    ///
    /// # Panics
    /// If `weight` does not hold `inputs * outputs` values or `bias` not `outputs`.
    pub fn new(
        weight: &[f32],
        bias: Option<&[f32]>,
        inputs: usize,
        outputs: usize,
        precision: PackedPrecision,
    ) -> Self {
        assert_eq!(
            weight.len(),
            inputs * outputs,
            "weight is not [inputs, outputs]"
        );
        let blocks = outputs.div_ceil(COLUMNS);
        let mut padded_bias = bias.map_or_else(|| vec![0.0; outputs], <[f32]>::to_vec);
        assert_eq!(padded_bias.len(), outputs, "bias is not [outputs]");
        padded_bias.resize(blocks * COLUMNS, 0.0);
        let padded_inputs = match precision {
            PackedPrecision::F32 => inputs,
            PackedPrecision::Int8 => inputs.next_multiple_of(2),
        };
        // The weight of input `k` for output `n`, zero in the padding.
        let at = |k: usize, n: usize| {
            if k < inputs && n < outputs {
                weight[k * outputs + n]
            } else {
                0.0
            }
        };
        let weights = match precision {
            PackedPrecision::F32 => Weights::F32(pack_f32(padded_inputs, outputs, at)),
            PackedPrecision::Int8 => {
                let scales: Vec<f32> = (0..blocks * COLUMNS)
                    .map(|n| int8_scale((0..inputs).map(|k| at(k, n))))
                    .collect();
                let mut values = Vec::with_capacity(blocks * padded_inputs * COLUMNS);
                for block in 0..blocks {
                    for pair in (0..padded_inputs).step_by(2) {
                        for column in 0..COLUMNS {
                            let n = block * COLUMNS + column;
                            values.extend(
                                (pair..pair + 2).map(|k| i16::from(to_int8(at(k, n), scales[n]))),
                            );
                        }
                    }
                }
                Weights::Int8 { values, scales }
            }
        };
        Self {
            inputs,
            outputs,
            padded_inputs,
            weights,
            bias: padded_bias,
        }
    }

    /// Output width.
    pub fn outputs(&self) -> usize {
        self.outputs
    }

    /// `x` (`[rows, inputs]`, row-major) -> `[rows, outputs]`.
    ///
    /// # Panics
    /// If `x` is not a whole number of rows.
    pub fn forward(&self, x: &[f32]) -> Vec<f32> {
        let rows = x.len().checked_div(self.inputs).unwrap_or(0);
        assert_eq!(rows * self.inputs, x.len(), "x is not [rows, inputs]");
        let width = self.padded_inputs;
        let mut out = vec![0.0; rows * self.outputs];
        let bias = |block: usize| -> &[f32; COLUMNS] {
            self.bias[block * COLUMNS..][..COLUMNS]
                .try_into()
                .expect("the bias is padded to whole blocks")
        };
        match &self.weights {
            Weights::F32(packed) => {
                let x = pad(x, rows, self.inputs, width);
                for (block, w) in packed.chunks_exact(width * COLUMNS).enumerate() {
                    for first in (0..rows).step_by(ROWS) {
                        let tile = tile_f32(&x[first * width..], width, width, w, bias(block));
                        self.store(&mut out, block, first, &tile);
                    }
                }
            }
            Weights::Int8 { values, scales } => {
                // The largest |x| that keeps every i32 sum exact: width * 127 * limit < 2^31.
                let limit = (i32::MAX as f32 / (width.max(1) as f32 * 127.0)).min(16383.0);
                let padded_rows = rows.next_multiple_of(ROWS);
                let mut row_scales = vec![1.0; padded_rows];
                let mut quantised = vec![0; padded_rows * width];
                for ((scale, row), out) in row_scales
                    .iter_mut()
                    .zip(x.chunks_exact(self.inputs.max(1)))
                    .zip(quantised.chunks_exact_mut(width))
                {
                    *scale = quantise_row(row, limit, out);
                }
                let x = quantised;
                for (block, w) in values.chunks_exact(width * COLUMNS).enumerate() {
                    let scales = scales[block * COLUMNS..][..COLUMNS]
                        .try_into()
                        .expect("scales cover whole blocks");
                    for first in (0..rows).step_by(ROWS) {
                        let row_scales = row_scales[first..][..ROWS]
                            .try_into()
                            .expect("row scales cover whole tiles");
                        let tile = tile_i16(
                            &x[first * width..],
                            width,
                            w,
                            row_scales,
                            scales,
                            bias(block),
                        );
                        self.store(&mut out, block, first, &tile);
                    }
                }
            }
        }
        out
    }

    /// Copies one tile (rows `first..`, the block's outputs) into `out`, leaving out padding
    /// rows and columns.
    fn store(&self, out: &mut [f32], block: usize, first: usize, tile: &Tile) {
        let rows = out.len() / self.outputs.max(1);
        let start = block * COLUMNS;
        let columns = COLUMNS.min(self.outputs - start);
        for (row, values) in (first..rows).zip(tile) {
            out[row * self.outputs + start..][..columns].copy_from_slice(&values[..columns]);
        }
    }
}

/// The f32 layout the tiles read, `[output block][input][COLUMNS]`, of the weight
/// `at(input, output)`; outputs past `outputs` are zero.
pub(super) fn pack_f32(
    inputs: usize,
    outputs: usize,
    at: impl Fn(usize, usize) -> f32,
) -> Vec<f32> {
    let blocks = outputs.div_ceil(COLUMNS);
    let mut packed = Vec::with_capacity(blocks * inputs * COLUMNS);
    for block in 0..blocks {
        for k in 0..inputs {
            packed.extend(
                (block * COLUMNS..(block + 1) * COLUMNS)
                    .map(|n| if n < outputs { at(k, n) } else { 0.0 }),
            );
        }
    }
    packed
}

/// `x` (`[rows, inputs]`) with each row padded to `width` and the rows to a multiple of
/// [`ROWS`] with zeros: the kernels read whole tiles.
fn pad(x: &[f32], rows: usize, inputs: usize, width: usize) -> Vec<f32> {
    let mut padded = vec![0.0; rows.next_multiple_of(ROWS) * width];
    for (row, values) in x.chunks(inputs.max(1)).enumerate().take(rows) {
        padded[row * width..][..values.len()].copy_from_slice(values);
    }
    padded
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Seeded values in [-1, 1) (an LCG: the test needs variety, not quality).
    fn values(count: usize, seed: u64) -> Vec<f32> {
        let mut state = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (0..count)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (state >> 40) as f32 / (1u64 << 23) as f32 - 1.0
            })
            .collect()
    }

    fn reference(x: &[f32], weight: &[f32], bias: &[f32], inputs: usize) -> Vec<f32> {
        let outputs = bias.len();
        x.chunks(inputs)
            .flat_map(|row| {
                (0..outputs).map(move |n| {
                    let dot: f64 = (0..inputs)
                        .map(|k| f64::from(row[k]) * f64::from(weight[k * outputs + n]))
                        .sum();
                    (dot + f64::from(bias[n])) as f32
                })
            })
            .collect()
    }

    /// Sizes that leave partial chunks, blocks and row tiles, and the ones the text tower uses.
    const SHAPES: [(usize, usize, usize); 6] = [
        (1, 1, 1),
        (3, 5, 7),
        (7, 13, 6),
        (2, 8, 4),
        (7, 512, 36),
        (5, 70, 2048),
    ];

    #[test]
    fn f32_matches_the_matmul() {
        for (i, &(rows, inputs, outputs)) in SHAPES.iter().enumerate() {
            let (x, weight, bias) = (
                values(rows * inputs, i as u64),
                values(inputs * outputs, 100 + i as u64),
                values(outputs, 200 + i as u64),
            );
            let packed =
                PackedLinear::new(&weight, Some(&bias), inputs, outputs, PackedPrecision::F32);
            let ours = packed.forward(&x);
            let theirs = reference(&x, &weight, &bias, inputs);
            assert_eq!(ours.len(), rows * outputs);
            for (a, b) in ours.iter().zip(&theirs) {
                assert!(
                    (a - b).abs() <= 1e-5 * (1.0 + b.abs()) * (inputs as f32).sqrt(),
                    "{rows}x{inputs}x{outputs}: {a} vs {b}"
                );
            }
        }
    }

    #[test]
    fn int8_is_within_quantisation_error() {
        for (i, &(rows, inputs, outputs)) in SHAPES.iter().enumerate() {
            let (x, weight) = (
                values(rows * inputs, i as u64),
                values(inputs * outputs, 300 + i as u64),
            );
            let packed = PackedLinear::new(&weight, None, inputs, outputs, PackedPrecision::Int8);
            let ours = packed.forward(&x);
            let theirs = reference(&x, &weight, &vec![0.0; outputs], inputs);
            // Each weight is off by at most half a step (absmax / 254 <= 1 / 254); the i16
            // activations add far less. Summed over `inputs` terms of |x| <= 1, the error
            // stays within a few steps times sqrt(inputs) for random signs.
            let bound = 4.0 / 254.0 * (inputs as f32).sqrt();
            for (a, b) in ours.iter().zip(&theirs) {
                assert!(
                    (a - b).abs() <= bound,
                    "{rows}x{inputs}x{outputs}: {a} vs {b}"
                );
            }
        }
    }

    #[test]
    fn zero_rows_and_zero_activations() {
        let weight = values(16 * 8, 7);
        for precision in [PackedPrecision::F32, PackedPrecision::Int8] {
            let packed = PackedLinear::new(&weight, Some(&[0.5; 8]), 16, 8, precision);
            assert!(packed.forward(&[]).is_empty());
            assert_eq!(packed.forward(&[0.0; 32]), vec![0.5; 16], "{precision:?}");
        }
    }
}
