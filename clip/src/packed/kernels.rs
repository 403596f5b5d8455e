//! The inner loops: matmul tiles, reductions, activation quantisation and exp, in wasm
//! simd128 where it is enabled and as portable loops (the same operations in the same
//! order) elsewhere.
//!
//! Tile shape: [`ROWS`] rows by [`COLUMNS`] outputs, each input broadcast against the
//! block's packed columns, so every SIMD lane sums one output and the epilogue (scale, bias)
//! is vector code too. Measured in headless Chromium on a Zen 4 core (`clip/bench/wasm.sh`,
//! int8 matmul of a 77-token text, ViT-B/32): 4 x 8 with int8 held as i16 100 ms; 2 x 4
//! with horizontal sums 101 ms (114 ms widening i8 in the loop); 3 x 8 110 ms; 6 x 8 132 ms;
//! 4 x 8 with the input loop unrolled by two 126 ms (V8 spills). V8 notes: `f32x4.min/max`
//! and `i32x4.trunc_sat_f32x4_s` are instruction sequences, `pmin/pmax` are one each, and
//! Rust's `f32::round` is a libm call where `round_ties_even` is `f32.nearest`.

/// Outputs per packed block: two 4-lane vectors.
pub(super) const COLUMNS: usize = 8;
/// Rows per tile: `ROWS * 2` accumulators and two weight vectors stay in registers.
pub(super) const ROWS: usize = 4;

/// One tile of f32 outputs.
pub(super) type Tile = [[f32; COLUMNS]; ROWS];

/// `x W + bias` for [`ROWS`] rows of `x` (row stride `stride`, the first `depth` inputs)
/// and one block of packed f32 columns (`[depth][COLUMNS]`).
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub(super) fn tile_f32(
    x: &[f32],
    stride: usize,
    depth: usize,
    w: &[f32],
    bias: &[f32; COLUMNS],
) -> Tile {
    use core::arch::wasm32::{
        f32x4_add, f32x4_mul, f32x4_splat, v128, v128_load, v128_load32_splat,
    };
    assert!(
        depth <= stride && x.len() >= (ROWS - 1) * stride + depth && w.len() >= depth * COLUMNS
    );
    let mut acc = [[f32x4_splat(0.0); 2]; ROWS];
    for k in 0..depth {
        // SAFETY: the assert keeps every load inside `w` and `x`; wasm loads need no
        // alignment.
        let wv: [v128; 2] = core::array::from_fn(|v| unsafe {
            v128_load(w.as_ptr().add(k * COLUMNS + v * 4).cast())
        });
        for (r, acc) in acc.iter_mut().enumerate() {
            // SAFETY: as above.
            let xv = unsafe { v128_load32_splat(x.as_ptr().add(r * stride + k).cast()) };
            for (a, &w) in acc.iter_mut().zip(&wv) {
                *a = f32x4_add(*a, f32x4_mul(xv, w));
            }
        }
    }
    let bias = load_columns(bias);
    acc.map(|row| store_columns([0, 1].map(|v| f32x4_add(row[v], bias[v]))))
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
pub(super) fn tile_f32(
    x: &[f32],
    stride: usize,
    depth: usize,
    w: &[f32],
    bias: &[f32; COLUMNS],
) -> Tile {
    let mut acc = [[0.0f32; COLUMNS]; ROWS];
    for k in 0..depth {
        let wk = &w[k * COLUMNS..][..COLUMNS];
        for (r, acc) in acc.iter_mut().enumerate() {
            let xv = x[r * stride + k];
            for (a, &w) in acc.iter_mut().zip(wk) {
                *a += xv * w;
            }
        }
    }
    acc.map(|row| core::array::from_fn(|c| row[c] + bias[c]))
}

/// `(x W) * row_scale * scale + bias` for [`ROWS`] rows of i16 `x` (row stride `width`,
/// even) and one block of packed int8 columns held as i16 (`[width / 2][COLUMNS][2]`: no
/// widening in the loop). The integer sums are exact.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub(super) fn tile_i16(
    x: &[i16],
    width: usize,
    w: &[i16],
    row_scales: [f32; ROWS],
    scales: &[f32; COLUMNS],
    bias: &[f32; COLUMNS],
) -> Tile {
    use core::arch::wasm32::{
        f32x4_add, f32x4_convert_i32x4, f32x4_mul, f32x4_splat, i32x4_add, i32x4_dot_i16x8,
        i32x4_splat, v128, v128_load, v128_load32_splat,
    };
    assert!(width.is_multiple_of(2) && x.len() >= ROWS * width && w.len() >= width * COLUMNS);
    let mut acc = [[i32x4_splat(0); 2]; ROWS];
    for pair in 0..width / 2 {
        // SAFETY: the assert keeps every load inside `w` and `x`; wasm loads need no
        // alignment.
        let wv: [v128; 2] = core::array::from_fn(|v| unsafe {
            v128_load(w.as_ptr().add(pair * 2 * COLUMNS + v * 8).cast())
        });
        for (r, acc) in acc.iter_mut().enumerate() {
            // SAFETY: as above.
            let xv = unsafe { v128_load32_splat(x.as_ptr().add(r * width + pair * 2).cast()) };
            for (a, &w) in acc.iter_mut().zip(&wv) {
                *a = i32x4_add(*a, i32x4_dot_i16x8(xv, w));
            }
        }
    }
    let (scales, bias) = (load_columns(scales), load_columns(bias));
    core::array::from_fn(|r| {
        let row_scale = f32x4_splat(row_scales[r]);
        store_columns([0, 1].map(|v| {
            let scale = f32x4_mul(row_scale, scales[v]);
            f32x4_add(f32x4_mul(f32x4_convert_i32x4(acc[r][v]), scale), bias[v])
        }))
    })
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
pub(super) fn tile_i16(
    x: &[i16],
    width: usize,
    w: &[i16],
    row_scales: [f32; ROWS],
    scales: &[f32; COLUMNS],
    bias: &[f32; COLUMNS],
) -> Tile {
    let mut acc = [[0i32; COLUMNS]; ROWS];
    for k in 0..width {
        let (pair, half) = (k / 2, k % 2);
        for (r, acc) in acc.iter_mut().enumerate() {
            let xv = i32::from(x[r * width + k]);
            for (c, a) in acc.iter_mut().enumerate() {
                *a += xv * i32::from(w[(pair * COLUMNS + c) * 2 + half]);
            }
        }
    }
    core::array::from_fn(|r| {
        core::array::from_fn(|c| acc[r][c] as f32 * (row_scales[r] * scales[c]) + bias[c])
    })
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
fn load_columns(values: &[f32; COLUMNS]) -> [core::arch::wasm32::v128; 2] {
    // SAFETY: `values` holds two vectors; wasm loads need no alignment.
    [0, 4].map(|at| unsafe { core::arch::wasm32::v128_load(values.as_ptr().add(at).cast()) })
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
fn store_columns(vectors: [core::arch::wasm32::v128; 2]) -> [f32; COLUMNS] {
    let mut out = [0.0; COLUMNS];
    for (at, v) in [0, 4].into_iter().zip(vectors) {
        // SAFETY: `out` holds two vectors; wasm stores need no alignment.
        unsafe { core::arch::wasm32::v128_store(out.as_mut_ptr().add(at).cast(), v) };
    }
    out
}

/// Lanes of the reductions: four vectors, so four independent chains of adds.
const LANES: usize = 16;

/// `a . b` over the shorter length: each of [`LANES`] lanes sums every 16th product, then
/// the lanes (in order) and the tail.
pub(super) fn dot(a: &[f32], b: &[f32]) -> f32 {
    reduce::<true>(a, b)
}

/// The sum of `a`, in [`dot`]'s order.
pub(super) fn sum(a: &[f32]) -> f32 {
    reduce::<false>(a, a)
}

/// `a . b` with `PRODUCT`, else the sum of `a`.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
fn reduce<const PRODUCT: bool>(a: &[f32], b: &[f32]) -> f32 {
    use core::arch::wasm32::{f32x4_add, f32x4_mul, f32x4_splat, v128_load};
    let len = a.len().min(b.len());
    let whole = len / LANES * LANES;
    let mut acc = [f32x4_splat(0.0); LANES / 4];
    for chunk in (0..whole).step_by(LANES) {
        for (v, acc) in acc.iter_mut().enumerate() {
            // SAFETY: `chunk + LANES <= len`; wasm loads need no alignment.
            let av = unsafe { v128_load(a.as_ptr().add(chunk + v * 4).cast()) };
            let term = if PRODUCT {
                // SAFETY: as above.
                f32x4_mul(av, unsafe {
                    v128_load(b.as_ptr().add(chunk + v * 4).cast())
                })
            } else {
                av
            };
            *acc = f32x4_add(*acc, term);
        }
    }
    let mut lanes = [0.0f32; LANES];
    for (v, acc) in acc.iter().enumerate() {
        // SAFETY: `lanes` holds `LANES / 4` vectors; wasm stores need no alignment.
        unsafe { core::arch::wasm32::v128_store(lanes.as_mut_ptr().add(v * 4).cast(), *acc) };
    }
    finish::<PRODUCT>(lanes, &a[whole..len], &b[whole..len])
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
fn reduce<const PRODUCT: bool>(a: &[f32], b: &[f32]) -> f32 {
    let len = a.len().min(b.len());
    let whole = len / LANES * LANES;
    let mut lanes = [0.0f32; LANES];
    for (a, b) in a[..whole].chunks_exact(LANES).zip(b.chunks_exact(LANES)) {
        for ((lane, a), b) in lanes.iter_mut().zip(a).zip(b) {
            *lane += if PRODUCT { a * b } else { *a };
        }
    }
    finish::<PRODUCT>(lanes, &a[whole..len], &b[whole..len])
}

/// The lanes in order, then the tail.
fn finish<const PRODUCT: bool>(lanes: [f32; LANES], a: &[f32], b: &[f32]) -> f32 {
    let tail: f32 = a
        .iter()
        .zip(b)
        .map(|(a, b)| if PRODUCT { a * b } else { *a })
        .sum();
    lanes.iter().sum::<f32>() + tail
}

/// Quantises `row` to i16 in steps of its absmax / `limit` (1 for an all-zero row) into
/// `out`, rounding to nearest (ties to even), and returns the step.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub(super) fn quantise_row(row: &[f32], limit: f32, out: &mut [i16]) -> f32 {
    use core::arch::wasm32::{
        f32x4_abs, f32x4_extract_lane, f32x4_mul, f32x4_nearest, f32x4_pmax, f32x4_splat,
        i16x8_narrow_i32x4, i32x4_trunc_sat_f32x4, v128_load, v128_store,
    };
    assert!(out.len() >= row.len());
    let whole = row.len() / 8 * 8;
    let mut max = f32x4_splat(0.0);
    for chunk in row[..whole].chunks_exact(4) {
        // SAFETY: the chunk holds four floats; wasm loads need no alignment.
        // `pmax` is one `maxps`; wasm's NaN-propagating `max` is a sequence in V8.
        max = f32x4_pmax(max, f32x4_abs(unsafe { v128_load(chunk.as_ptr().cast()) }));
    }
    let absmax = row[whole..].iter().fold(
        f32x4_extract_lane::<0>(max)
            .max(f32x4_extract_lane::<1>(max))
            .max(f32x4_extract_lane::<2>(max))
            .max(f32x4_extract_lane::<3>(max)),
        |m, v| m.max(v.abs()),
    );
    let step = if absmax > 0.0 { absmax / limit } else { 1.0 };
    let inverse = f32x4_splat(1.0 / step);
    for at in (0..whole).step_by(8) {
        // SAFETY: `at + 8 <= whole <= row.len() <= out.len()`; wasm loads and stores need no
        // alignment.
        unsafe {
            let [low, high] = [at, at + 4].map(|i| {
                let v = v128_load(row.as_ptr().add(i).cast());
                i32x4_trunc_sat_f32x4(f32x4_nearest(f32x4_mul(v, inverse)))
            });
            v128_store(
                out.as_mut_ptr().add(at).cast(),
                i16x8_narrow_i32x4(low, high),
            );
        }
    }
    quantise_tail(&row[whole..], 1.0 / step, &mut out[whole..]);
    step
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
pub(super) fn quantise_row(row: &[f32], limit: f32, out: &mut [i16]) -> f32 {
    let absmax = row.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let step = if absmax > 0.0 { absmax / limit } else { 1.0 };
    quantise_tail(row, 1.0 / step, out);
    step
}

fn quantise_tail(row: &[f32], inverse: f32, out: &mut [i16]) {
    for (o, v) in out.iter_mut().zip(row) {
        *o = (v * inverse).round_ties_even() as i16;
    }
}

// e^x as Cephes' expf: x = n ln 2 + r with |r| <= ln 2 / 2 (ln 2 split in two for an exact
// product), a degree-6 polynomial for e^r (its last coefficient, 5.0000001201e-1, is 0.5 in
// f32), and 2^n put into the exponent bits. Within 2 ulp of the correctly rounded result
// over the clamped range; below it the result is the smallest normal float, not zero
// (harmless for softmax and sigmoid).
const EXP_MIN: f32 = -87.0;
const EXP_MAX: f32 = 88.0;
const LOG2_E: f32 = std::f32::consts::LOG2_E;
const LN2_HIGH: f32 = 0.693_359_4;
/// 1.5 * 2^23 + 127 (see the vector exp).
const EXPONENT_MAGIC: f32 = 12_583_039.0;
const LN2_LOW: f32 = -2.121_944_4e-4;
const EXP_POLYNOMIAL: [f32; 6] = [
    1.987_569_1e-4,
    1.398_199_9e-3,
    8.333_452e-3,
    4.166_579_6e-2,
    1.666_666_5e-1,
    0.5,
];

/// e^x for one value, in the same operations as the vector form.
fn exp_scalar(x: f32) -> f32 {
    let x = x.clamp(EXP_MIN, EXP_MAX);
    let n = (x * LOG2_E).round_ties_even();
    let r = x - n * LN2_HIGH - n * LN2_LOW;
    let p = EXP_POLYNOMIAL[1..]
        .iter()
        .fold(EXP_POLYNOMIAL[0], |p, &c| p * r + c);
    let y = p * r * r + r + 1.0;
    y * f32::from_bits((n + EXPONENT_MAGIC).to_bits() << 23)
}

/// Applies `f(x) = x / (1 + e^(-factor x))` (a sigmoid-weighted `x`; QuickGELU for factor
/// 1.702) or `e^x` (`Exp`) to every value.
#[derive(Clone, Copy)]
pub(super) enum Pointwise {
    Exp,
    SigmoidWeighted(f32),
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub(super) fn pointwise(values: &mut [f32], op: Pointwise) {
    use core::arch::wasm32::{
        f32x4_add, f32x4_div, f32x4_mul, f32x4_nearest, f32x4_pmax, f32x4_pmin, f32x4_splat,
        f32x4_sub, i32x4_shl, v128, v128_load, v128_store,
    };
    let exp = |x: v128| {
        // `pmin` / `pmax`: one instruction each (see `quantise_row`).
        let x = f32x4_pmin(f32x4_pmax(x, f32x4_splat(EXP_MIN)), f32x4_splat(EXP_MAX));
        let n = f32x4_nearest(f32x4_mul(x, f32x4_splat(LOG2_E)));
        let r = f32x4_sub(
            f32x4_sub(x, f32x4_mul(n, f32x4_splat(LN2_HIGH))),
            f32x4_mul(n, f32x4_splat(LN2_LOW)),
        );
        let p = EXP_POLYNOMIAL[1..]
            .iter()
            .fold(f32x4_splat(EXP_POLYNOMIAL[0]), |p, &c| {
                f32x4_add(f32x4_mul(p, r), f32x4_splat(c))
            });
        let y = f32x4_add(
            f32x4_add(f32x4_mul(f32x4_mul(p, r), r), r),
            f32x4_splat(1.0),
        );
        // 2^n: n + 127 lands in the low mantissa bits of n + 127 + 1.5 * 2^23, and the shift
        // moves it into the exponent (cheaper than V8's i32x4.trunc_sat_f32x4_s sequence).
        let bits = i32x4_shl(f32x4_add(n, f32x4_splat(EXPONENT_MAGIC)), 23);
        f32x4_mul(y, bits)
    };
    let whole = values.len() / 4 * 4;
    for chunk in values[..whole].chunks_exact_mut(4) {
        // SAFETY: the chunk holds four floats; wasm loads and stores need no alignment.
        let x = unsafe { v128_load(chunk.as_ptr().cast()) };
        let y = match op {
            Pointwise::Exp => exp(x),
            Pointwise::SigmoidWeighted(factor) => f32x4_div(
                x,
                f32x4_add(f32x4_splat(1.0), exp(f32x4_mul(x, f32x4_splat(-factor)))),
            ),
        };
        // SAFETY: as above.
        unsafe { v128_store(chunk.as_mut_ptr().cast(), y) };
    }
    pointwise_scalar(&mut values[whole..], op);
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
pub(super) fn pointwise(values: &mut [f32], op: Pointwise) {
    pointwise_scalar(values, op);
}

fn pointwise_scalar(values: &mut [f32], op: Pointwise) {
    for v in values {
        *v = match op {
            Pointwise::Exp => exp_scalar(*v),
            Pointwise::SigmoidWeighted(factor) => *v / (1.0 + exp_scalar(*v * -factor)),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_within_two_ulp_over_the_range() {
        let mut worst = 0.0f64;
        let steps = 200_000;
        for i in 0..=steps {
            let x = EXP_MIN + (EXP_MAX - EXP_MIN) * i as f32 / steps as f32;
            let mut ours = [x];
            pointwise(&mut ours, Pointwise::Exp);
            let exact = f64::from(x).exp();
            let ulp = f64::from(f32::EPSILON) * exact;
            worst = worst.max((f64::from(ours[0]) - exact).abs() / ulp);
        }
        assert!(worst <= 2.0, "worst error {worst} ulp");
    }

    #[test]
    fn sigmoid_weighted_saturates_without_nan() {
        let mut values = [-1e4f32, -100.0, -1.0, 0.0, 1.0, 100.0, 1e4];
        pointwise(&mut values, Pointwise::SigmoidWeighted(1.702));
        let expected = |x: f64| x / (1.0 + (-1.702 * x).exp());
        for (v, x) in values
            .iter()
            .zip([-1e4, -100.0, -1.0, 0.0, 1.0, 100.0, 1e4])
        {
            assert!(
                (f64::from(*v) - expected(x)).abs() <= 1e-6 * (1.0 + x.abs()),
                "{x}: {v}"
            );
        }
    }

    #[test]
    fn dot_and_sum_take_every_term() {
        let a: Vec<f32> = (0..11).map(|i| i as f32 * 0.5).collect();
        let b: Vec<f32> = (0..11).map(|i| 1.0 - i as f32 * 0.25).collect();
        let expected: f32 = a.iter().zip(&b).map(|(a, b)| a * b).sum();
        assert!((dot(&a, &b) - expected).abs() <= 1e-5);
        let long: Vec<f32> = (0..37).map(|i| i as f32).collect();
        assert_eq!(sum(&long), 666.0);
        assert_eq!(dot(&long, &[2.0; 40]), 1332.0);
        assert_eq!(dot(&a[..3], &b), a[0] * b[0] + a[1] * b[1] + a[2] * b[2]);
    }
}

#[cfg(test)]
mod quantise_tests {
    use super::quantise_row;

    #[test]
    fn quantise_row_scales_to_the_limit_and_rounds_to_even() {
        let row = [0.5f32, -2.0, 1.25, 0.0, 0.75, -0.25, 2.0, 1.0, -1.5];
        let mut out = [0i16; 9];
        let step = quantise_row(&row, 8.0, &mut out);
        assert_eq!(step, 0.25);
        assert_eq!(out, [2, -8, 5, 0, 3, -1, 8, 4, -6]);
        let mut zeros = [7i16; 3];
        assert_eq!(quantise_row(&[0.0; 3], 8.0, &mut zeros), 1.0);
        assert_eq!(zeros, [0; 3]);
    }
}
