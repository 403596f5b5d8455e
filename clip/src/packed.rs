//! Linear layers packed for the CPU, for text queries in the browser.
//!
//! A query is a handful of rows (the tokens up to the end token). For so few rows a
//! general matmul is bound by memory, and it re-packs the whole weight matrix on every call,
//! so each weight is read and written several times per query. Here the weights are laid out
//! once, in the order the kernel reads them, and each call streams them exactly once: in f32,
//! or in int8 with one scale per output (as [`crate::export`] stores them), multiplied
//! against activations quantised per row to i16 with exact i32 sums. The kernels use wasm
//! simd128 where it is enabled and a portable loop elsewhere, in the same summation order.
//! The portable loop is for tests and other targets, not for speed: natively, burn's gemm
//! with AVX was faster (ViT-B/32 query: 31 ms, against 50 ms packed f32 and 139 ms int8).

use crate::export::{int8_scale, to_int8};

/// Output columns per packed block: one SIMD accumulator per column and row.
const COLUMNS: usize = 4;
/// Rows per kernel call: `ROWS * COLUMNS` accumulators stay in registers.
const ROWS: usize = 2;
/// Inputs are padded to a multiple of this (the int8 kernel reads 8 at a time).
const INPUT_STEP: usize = 8;

/// The number format of a [`PackedLinear`]'s weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PackedPrecision {
    /// The weights as they are.
    F32,
    /// Symmetric int8 per output (absmax / 127), activations as i16 per row.
    Int8,
}

#[derive(Debug, Clone)]
enum Weights {
    /// `[block][input / 4][column][4]`.
    F32(Vec<f32>),
    /// `[block][input / 8][column][8]`, with each output's scale.
    Int8 { values: Vec<i8>, scales: Vec<f32> },
}

/// `y = x W + b` with `W` packed once for [`PackedLinear::forward`].
#[derive(Debug, Clone)]
pub struct PackedLinear {
    inputs: usize,
    outputs: usize,
    /// `inputs` rounded up to [`INPUT_STEP`]; the padding weights are zero.
    padded_inputs: usize,
    weights: Weights,
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
        let bias = bias.map_or_else(|| vec![0.0; outputs], <[f32]>::to_vec);
        assert_eq!(bias.len(), outputs, "bias is not [outputs]");
        let padded_inputs = inputs.div_ceil(INPUT_STEP) * INPUT_STEP;
        let blocks = outputs.div_ceil(COLUMNS);
        // The weight of input `k` for output `n`, zero in the padding.
        let at = |k: usize, n: usize| {
            if k < inputs && n < outputs {
                weight[k * outputs + n]
            } else {
                0.0
            }
        };
        let weights = match precision {
            PackedPrecision::F32 => {
                let mut packed = Vec::with_capacity(blocks * padded_inputs * COLUMNS);
                for block in 0..blocks {
                    for chunk in (0..padded_inputs).step_by(4) {
                        for column in 0..COLUMNS {
                            packed.extend(
                                (chunk..chunk + 4).map(|k| at(k, block * COLUMNS + column)),
                            );
                        }
                    }
                }
                Weights::F32(packed)
            }
            PackedPrecision::Int8 => {
                let scales: Vec<f32> = (0..blocks * COLUMNS)
                    .map(|n| int8_scale((0..inputs).map(|k| at(k, n))))
                    .collect();
                let mut values = Vec::with_capacity(blocks * padded_inputs * COLUMNS);
                for block in 0..blocks {
                    for chunk in (0..padded_inputs).step_by(8) {
                        for column in 0..COLUMNS {
                            let n = block * COLUMNS + column;
                            values.extend((chunk..chunk + 8).map(|k| to_int8(at(k, n), scales[n])));
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
            bias,
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
        match &self.weights {
            Weights::F32(packed) => {
                let x = pad(x, rows, self.inputs, width, 0.0, |_, v| v);
                for (block, w) in packed.chunks_exact(width * COLUMNS).enumerate() {
                    for first in (0..rows).step_by(ROWS) {
                        let sums = dot_f32(&x[first * width..], width, w);
                        self.store(&mut out, block, first, sums, |_, _, sum| sum);
                    }
                }
            }
            Weights::Int8 { values, scales } => {
                // The largest |x| that keeps every i32 sum exact: width * 127 * limit < 2^31.
                let limit = (i32::MAX as f32 / (width.max(1) as f32 * 127.0)).min(16383.0);
                let row_scales: Vec<f32> = x
                    .chunks(self.inputs.max(1))
                    .map(|row| {
                        let absmax = row.iter().fold(0.0f32, |m, v| m.max(v.abs()));
                        if absmax > 0.0 { absmax / limit } else { 1.0 }
                    })
                    .collect();
                let x = pad(x, rows, self.inputs, width, 0, |row, v| {
                    (v / row_scales[row]).round() as i16
                });
                for (block, w) in values.chunks_exact(width * COLUMNS).enumerate() {
                    for first in (0..rows).step_by(ROWS) {
                        let sums = dot_i8(&x[first * width..], width, w);
                        self.store(&mut out, block, first, sums, |row, n, sum| {
                            sum as f32 * (row_scales[row] * scales[n])
                        });
                    }
                }
            }
        }
        out
    }

    /// Writes one tile of sums (rows `first..`, the block's outputs) plus the bias into `out`,
    /// skipping padding rows and columns; `value(row, output, sum)` scales a sum.
    fn store<S: Copy>(
        &self,
        out: &mut [f32],
        block: usize,
        first: usize,
        sums: [[S; COLUMNS]; ROWS],
        value: impl Fn(usize, usize, S) -> f32,
    ) {
        let rows = out.len() / self.outputs.max(1);
        for (row, sums) in (first..rows).zip(sums) {
            for (n, sum) in (block * COLUMNS..self.outputs).zip(sums) {
                out[row * self.outputs + n] = value(row, n, sum) + self.bias[n];
            }
        }
    }
}

/// `x` (`[rows, inputs]`) converted by `convert(row, value)`, with each row padded to
/// `width` and the rows to a multiple of [`ROWS`] with `zero`: the kernels read whole
/// chunks and tiles.
fn pad<T: Copy>(
    x: &[f32],
    rows: usize,
    inputs: usize,
    width: usize,
    zero: T,
    convert: impl Fn(usize, f32) -> T,
) -> Vec<T> {
    let mut padded = vec![zero; rows.div_ceil(ROWS) * ROWS * width];
    for (row, values) in x.chunks(inputs.max(1)).enumerate().take(rows) {
        for (slot, &v) in padded[row * width..].iter_mut().zip(values) {
            *slot = convert(row, v);
        }
    }
    padded
}

/// The sums of [`ROWS`] rows of `x` (row stride `width`) against one block of [`COLUMNS`]
/// packed f32 columns. Each lane sums every fourth input, then the lanes are added: the
/// portable loop keeps the same order, so both give the same bits.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
fn dot_f32(x: &[f32], width: usize, w: &[f32]) -> [[f32; COLUMNS]; ROWS] {
    use core::arch::wasm32::{
        f32x4_add, f32x4_extract_lane, f32x4_mul, f32x4_splat, v128, v128_load,
    };
    assert!(width.is_multiple_of(4) && x.len() >= ROWS * width && w.len() >= width * COLUMNS);
    let mut acc = [[f32x4_splat(0.0); COLUMNS]; ROWS];
    for chunk in 0..width / 4 {
        // SAFETY: the assert keeps each 4-lane load inside `w` and `x`; wasm loads need no
        // alignment.
        let wv: [v128; COLUMNS] = core::array::from_fn(|c| unsafe {
            v128_load(w.as_ptr().add((chunk * COLUMNS + c) * 4).cast())
        });
        for (r, acc) in acc.iter_mut().enumerate() {
            // SAFETY: as above.
            let xv = unsafe { v128_load(x.as_ptr().add(r * width + chunk * 4).cast()) };
            for (a, &w) in acc.iter_mut().zip(&wv) {
                *a = f32x4_add(*a, f32x4_mul(xv, w));
            }
        }
    }
    acc.map(|row| {
        row.map(|v| {
            f32x4_extract_lane::<0>(v)
                + f32x4_extract_lane::<1>(v)
                + f32x4_extract_lane::<2>(v)
                + f32x4_extract_lane::<3>(v)
        })
    })
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
fn dot_f32(x: &[f32], width: usize, w: &[f32]) -> [[f32; COLUMNS]; ROWS] {
    let mut acc = [[[0.0f32; 4]; COLUMNS]; ROWS];
    for chunk in 0..width / 4 {
        for (r, acc) in acc.iter_mut().enumerate() {
            let xv = &x[r * width + chunk * 4..][..4];
            for (c, lanes) in acc.iter_mut().enumerate() {
                let wv = &w[(chunk * COLUMNS + c) * 4..][..4];
                for ((lane, &a), &b) in lanes.iter_mut().zip(xv).zip(wv) {
                    *lane += a * b;
                }
            }
        }
    }
    acc.map(|row| row.map(|lanes| lanes[0] + lanes[1] + lanes[2] + lanes[3]))
}

/// The exact integer sums of [`ROWS`] rows of `x` (i16, row stride `width`) against one
/// block of [`COLUMNS`] packed int8 columns.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
fn dot_i8(x: &[i16], width: usize, w: &[i8]) -> [[i32; COLUMNS]; ROWS] {
    use core::arch::wasm32::{
        i16x8_load_extend_i8x8, i32x4_add, i32x4_dot_i16x8, i32x4_extract_lane, i32x4_splat, v128,
        v128_load,
    };
    assert!(width.is_multiple_of(8) && x.len() >= ROWS * width && w.len() >= width * COLUMNS);
    let mut acc = [[i32x4_splat(0); COLUMNS]; ROWS];
    for chunk in 0..width / 8 {
        // SAFETY: the assert keeps each 8-value load inside `w` and `x`; wasm loads need no
        // alignment.
        let wv: [v128; COLUMNS] = core::array::from_fn(|c| unsafe {
            i16x8_load_extend_i8x8(w.as_ptr().add((chunk * COLUMNS + c) * 8))
        });
        for (r, acc) in acc.iter_mut().enumerate() {
            // SAFETY: as above.
            let xv = unsafe { v128_load(x.as_ptr().add(r * width + chunk * 8).cast()) };
            for (a, &w) in acc.iter_mut().zip(&wv) {
                *a = i32x4_add(*a, i32x4_dot_i16x8(xv, w));
            }
        }
    }
    acc.map(|row| {
        row.map(|v| {
            i32x4_extract_lane::<0>(v)
                + i32x4_extract_lane::<1>(v)
                + i32x4_extract_lane::<2>(v)
                + i32x4_extract_lane::<3>(v)
        })
    })
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
fn dot_i8(x: &[i16], width: usize, w: &[i8]) -> [[i32; COLUMNS]; ROWS] {
    let mut acc = [[0i32; COLUMNS]; ROWS];
    for chunk in 0..width / 8 {
        for (r, acc) in acc.iter_mut().enumerate() {
            let xv = &x[r * width + chunk * 8..][..8];
            for (c, sum) in acc.iter_mut().enumerate() {
                let wv = &w[(chunk * COLUMNS + c) * 8..][..8];
                *sum += xv
                    .iter()
                    .zip(wv)
                    .map(|(&a, &b)| i32::from(a) * i32::from(b))
                    .sum::<i32>();
            }
        }
    }
    acc
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
