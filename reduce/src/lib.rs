//! PCA from CLIP's feature space to the index's compact space (spec section 2: "reduce
//! 512-d CLIP features to a small dimension with a projection fitted at precompute time,
//! applied identically to images and text").
//!
//! Rows are L2-normalised before both fitting and applying, so text and image features,
//! whose norms differ, land in the same space. The fit is deterministic: the covariance is
//! accumulated in f64 over an evenly strided sample, diagonalised by cyclic Jacobi
//! rotations, and each component's sign fixed so that its largest entry is positive.
//! No I/O: the fitted map travels as safetensors bytes (`mean`, `components`).

use std::collections::HashMap;
use std::iter::StepBy;
use std::slice::ChunksExact;

use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};

/// Why a PCA could not be fitted or read.
#[derive(Debug, thiserror::Error, PartialEq)]
#[non_exhaustive]
pub enum ReduceError {
    /// The input is not whole rows of the stated width.
    #[error("{len} values are not whole rows of {dims} dims")]
    Ragged { len: usize, dims: usize },
    /// Fewer rows than output dims, or no dims at all.
    #[error("cannot fit {dims_out} components from {rows} rows of {dims_in} dims")]
    TooFew {
        rows: usize,
        dims_in: usize,
        dims_out: usize,
    },
    /// The safetensors bytes lack a tensor or hold one of the wrong type or shape.
    #[error("PCA file: {0}")]
    File(String),
}

/// A fitted PCA: `y = (x / |x| - mean) @ components^T`.
#[derive(Clone, Debug, PartialEq)]
pub struct Pca {
    mean: Vec<f32>,
    /// `dims_out` rows of `dims_in`, by decreasing explained variance.
    components: Vec<f32>,
    /// The variance along each component (eigenvalues), decreasing.
    variances: Vec<f32>,
}

/// Rows of the fit sample: enough for a stable 512x512 covariance, cheap on 1M rows.
pub const MAX_FIT_ROWS: usize = 200_000;

/// The rows of `rows` (each `width > 0` values) that a fit uses: every one up to
/// [`MAX_FIT_ROWS`], beyond that an even stride through them ([`fit_stride`]).
pub fn fit_sample(rows: &[f32], width: usize) -> StepBy<ChunksExact<'_, f32>> {
    rows.chunks_exact(width)
        .step_by(fit_stride(rows.len() / width))
}

/// The stride through `count` rows of [`fit_sample`]: a reader that does not hold every
/// row (a build reading its feature cache) picks the rows `0, stride, 2 * stride...`, and
/// a fit on them alone uses every one of them.
pub fn fit_stride(count: usize) -> usize {
    count.div_ceil(MAX_FIT_ROWS).max(1)
}

impl Pca {
    /// Fits `dims_out` components on rows of `dims_in` values (at most [`MAX_FIT_ROWS`],
    /// evenly strided, are used).
    pub fn fit(rows: &[f32], dims_in: usize, dims_out: usize) -> Result<Self, ReduceError> {
        if dims_in == 0 || !rows.len().is_multiple_of(dims_in) {
            return Err(ReduceError::Ragged {
                len: rows.len(),
                dims: dims_in,
            });
        }
        let n = rows.len() / dims_in;
        if dims_out == 0 || dims_out > dims_in || n < 2 {
            return Err(ReduceError::TooFew {
                rows: n,
                dims_in,
                dims_out,
            });
        }
        let sample: Vec<Vec<f64>> = fit_sample(rows, dims_in).map(normalised_f64).collect();
        let count = sample.len() as f64;
        let mut mean = vec![0.0f64; dims_in];
        for row in &sample {
            mean.iter_mut().zip(row).for_each(|(m, x)| *m += x);
        }
        mean.iter_mut().for_each(|m| *m /= count);
        // Upper triangle of the covariance, mirrored after.
        let mut cov = vec![0.0f64; dims_in * dims_in];
        let mut centred = vec![0.0f64; dims_in];
        for row in &sample {
            centred
                .iter_mut()
                .zip(row.iter().zip(&mean))
                .for_each(|(c, (x, m))| *c = x - m);
            for i in 0..dims_in {
                let ci = centred[i];
                let out = &mut cov[i * dims_in + i..(i + 1) * dims_in];
                out.iter_mut()
                    .zip(&centred[i..])
                    .for_each(|(o, cj)| *o += ci * cj);
            }
        }
        for i in 0..dims_in {
            for j in i..dims_in {
                let v = cov[i * dims_in + j] / (count - 1.0);
                cov[i * dims_in + j] = v;
                cov[j * dims_in + i] = v;
            }
        }
        let (values, vectors) = jacobi_eigen(cov, dims_in);
        let mut order: Vec<usize> = (0..dims_in).collect();
        order.sort_by(|&a, &b| values[b].total_cmp(&values[a]).then(a.cmp(&b)));
        let mut components = Vec::with_capacity(dims_out * dims_in);
        let mut variances = Vec::with_capacity(dims_out);
        for &k in order.iter().take(dims_out) {
            let column: Vec<f64> = (0..dims_in).map(|i| vectors[i * dims_in + k]).collect();
            let largest =
                column.iter().copied().fold(
                    0.0f64,
                    |best, x| if x.abs() > best.abs() { x } else { best },
                );
            let sign = if largest < 0.0 { -1.0 } else { 1.0 };
            components.extend(column.iter().map(|x| (x * sign) as f32));
            variances.push(values[k].max(0.0) as f32);
        }
        Ok(Self {
            mean: mean.iter().map(|&m| m as f32).collect(),
            components,
            variances,
        })
    }

    /// Input width.
    pub fn dims_in(&self) -> usize {
        self.mean.len()
    }

    /// Output width.
    pub fn dims_out(&self) -> usize {
        self.components.len() / self.mean.len().max(1)
    }

    /// Variance along each component, decreasing.
    pub fn variances(&self) -> &[f32] {
        &self.variances
    }

    /// The compact row of one CLIP feature row (`dims_in` values).
    pub fn apply(&self, row: &[f32]) -> Result<Vec<f32>, ReduceError> {
        if row.len() != self.dims_in() {
            return Err(ReduceError::Ragged {
                len: row.len(),
                dims: self.dims_in(),
            });
        }
        let x = normalised_f64(row);
        let centred: Vec<f64> = x
            .iter()
            .zip(&self.mean)
            .map(|(a, &m)| a - f64::from(m))
            .collect();
        Ok(self
            .components
            .chunks_exact(self.dims_in())
            .map(|c| {
                c.iter()
                    .zip(&centred)
                    .map(|(&w, &v)| f64::from(w) * v)
                    .sum::<f64>() as f32
            })
            .collect())
    }

    /// [`Pca::apply`] on consecutive rows.
    pub fn apply_rows(&self, rows: &[f32]) -> Result<Vec<f32>, ReduceError> {
        if !rows.len().is_multiple_of(self.dims_in()) {
            return Err(ReduceError::Ragged {
                len: rows.len(),
                dims: self.dims_in(),
            });
        }
        let mut out = Vec::with_capacity(rows.len() / self.dims_in() * self.dims_out());
        for row in rows.chunks_exact(self.dims_in()) {
            out.extend(self.apply(row)?);
        }
        Ok(out)
    }

    /// safetensors bytes with f32 `mean` (dims_in), `components` (dims_out, dims_in) and
    /// `variances` (dims_out).
    pub fn to_safetensors(&self) -> Vec<u8> {
        let bytes = |values: &[f32]| {
            values
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect::<Vec<u8>>()
        };
        let (mean, components, variances) = (
            bytes(&self.mean),
            bytes(&self.components),
            bytes(&self.variances),
        );
        fn view(shape: Vec<usize>, data: &[u8]) -> TensorView<'_> {
            TensorView::new(Dtype::F32, shape, data).expect("shape matches the data")
        }
        let tensors = [
            (
                "components",
                view(vec![self.dims_out(), self.dims_in()], &components),
            ),
            ("mean", view(vec![self.dims_in()], &mean)),
            ("variances", view(vec![self.dims_out()], &variances)),
        ];
        let metadata = HashMap::from([("format".to_owned(), "clip-branches-pca".to_owned())]);
        safetensors::serialize(tensors, Some(metadata)).expect("in-memory serialisation")
    }

    /// Reads what [`Pca::to_safetensors`] wrote.
    pub fn from_safetensors(bytes: &[u8]) -> Result<Self, ReduceError> {
        let file = SafeTensors::deserialize(bytes).map_err(|e| ReduceError::File(e.to_string()))?;
        let read = |name: &str| -> Result<(Vec<usize>, Vec<f32>), ReduceError> {
            let tensor = file
                .tensor(name)
                .map_err(|_| ReduceError::File(format!("tensor '{name}' is missing")))?;
            if tensor.dtype() != Dtype::F32 {
                return Err(ReduceError::File(format!(
                    "tensor '{name}' is {:?}, expected F32",
                    tensor.dtype()
                )));
            }
            let values = tensor
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            Ok((tensor.shape().to_vec(), values))
        };
        let (mean_shape, mean) = read("mean")?;
        let (components_shape, components) = read("components")?;
        let (variances_shape, variances) = read("variances")?;
        let dims_in = mean.len();
        let dims_out = variances.len();
        if mean_shape != [dims_in]
            || components_shape != [dims_out, dims_in]
            || variances_shape != [dims_out]
            || dims_in == 0
        {
            return Err(ReduceError::File(format!(
                "shapes mean {mean_shape:?}, components {components_shape:?}, variances \
                 {variances_shape:?} do not agree"
            )));
        }
        Ok(Self {
            mean,
            components,
            variances,
        })
    }
}

impl Pca {
    /// The same space turned to [`independent_axes`] fitted on the projected `rows`: the
    /// result is a map of the same form, stored and applied as a PCA is, with the
    /// variances along the new axes.
    pub fn rotated_independent(&self, rows: &[f32]) -> Result<Self, ReduceError> {
        let (k, dims_in) = (self.dims_out(), self.dims_in());
        if !rows.len().is_multiple_of(dims_in) {
            return Err(ReduceError::Ragged {
                len: rows.len(),
                dims: dims_in,
            });
        }
        // Only the rows the fit uses are projected: independent_axes would stride through
        // a projection of all of them to the same ones.
        let mut projected = Vec::with_capacity(MAX_FIT_ROWS.min(rows.len() / dims_in) * k);
        for row in fit_sample(rows, dims_in) {
            projected.extend(self.apply(row)?);
        }
        let axes = independent_axes(&projected, k)?;
        let components = axes
            .rotation
            .chunks_exact(k)
            .flat_map(|axis| {
                (0..dims_in).map(move |i| {
                    axis.iter()
                        .enumerate()
                        .map(|(j, w)| f64::from(*w) * f64::from(self.components[j * dims_in + i]))
                        .sum::<f64>() as f32
                })
            })
            .collect();
        Ok(Self {
            mean: self.mean.clone(),
            components,
            variances: axes.variances,
        })
    }
}

/// An orthogonal turn of a `k`-dim space ([`independent_axes`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Axes {
    /// `k x k`, row-major: row `a` is new axis `a` in the old coordinates.
    pub rotation: Vec<f32>,
    /// The rows' variance along each new axis, decreasing.
    pub variances: Vec<f32>,
}

/// The turn of rows of `k` values (centred on their mean; at most [`MAX_FIT_ROWS`], evenly
/// strided, are used) whose axes are as non-Gaussian as possible: pairwise Jacobi
/// rotations maximising the summed squared excess kurtosis of the axes. Directions along
/// which a collection falls into groups (a colour, a shape, a kind of scene) are far from
/// Gaussian, so the axes line up with such factors instead of mixing all of them along the
/// directions of largest variance, and an axis-aligned box over a few dims (what the
/// index answers) can single one out. An orthogonal turn keeps every distance, so text
/// search is unchanged; whitening first, as FastICA does, would blow up the low-variance
/// directions that separate text from image features. Deterministic: fixed sweeps and
/// angle grid, axes ordered by decreasing variance, each axis' sign set so that the rows'
/// skew along it is positive.
pub fn independent_axes(rows: &[f32], k: usize) -> Result<Axes, ReduceError> {
    if k == 0 || !rows.len().is_multiple_of(k) {
        return Err(ReduceError::Ragged {
            len: rows.len(),
            dims: k,
        });
    }
    let n = rows.len() / k;
    if n < 2 {
        return Err(ReduceError::TooFew {
            rows: n,
            dims_in: k,
            dims_out: k,
        });
    }
    let mut sample: Vec<f64> = fit_sample(rows, k)
        .flat_map(|row| row.iter().map(|&y| f64::from(y)))
        .collect();
    let count = (sample.len() / k) as f64;
    let mut mean = vec![0.0f64; k];
    for row in sample.chunks_exact(k) {
        mean.iter_mut().zip(row).for_each(|(m, y)| *m += y / count);
    }
    for row in sample.chunks_exact_mut(k) {
        row.iter_mut().zip(&mean).for_each(|(y, m)| *y -= m);
    }
    let rotation = kurtosis_rotation(&mut sample, k);
    let moment = |a: usize, power: i32| -> f64 {
        sample
            .chunks_exact(k)
            .map(|row| row[a].powi(power))
            .sum::<f64>()
            / count
    };
    let mut order: Vec<(usize, f64, f64)> =
        (0..k).map(|a| (a, moment(a, 2), moment(a, 3))).collect();
    order.sort_by(|x, y| y.1.total_cmp(&x.1).then(x.0.cmp(&y.0)));
    let mut axes = Axes {
        rotation: Vec::with_capacity(k * k),
        variances: Vec::with_capacity(k),
    };
    for &(a, variance, skew) in &order {
        let sign = if skew < 0.0 { -1.0 } else { 1.0 };
        axes.rotation.extend(
            rotation[a * k..(a + 1) * k]
                .iter()
                .map(|w| (sign * w) as f32),
        );
        axes.variances.push(variance as f32);
    }
    Ok(axes)
}

/// Most sweeps over all pairs of axes.
const ROTATION_SWEEPS: usize = 20;
/// Angles tried per pair, over the quarter turn that covers every distinct rotation.
const ROTATION_ANGLES: usize = 720;

/// The orthogonal matrix (rows: new axes in the old ones) that maximises the summed
/// squared excess kurtosis of the axes of `rows` (width `k`), by Jacobi sweeps: each pair
/// is turned by the best angle of a fine grid, found from the pair's second and fourth
/// joint moments alone. `rows` ends up turned.
fn kurtosis_rotation(rows: &mut [f64], k: usize) -> Vec<f64> {
    let mut rotation = vec![0.0f64; k * k];
    (0..k).for_each(|i| rotation[i * k + i] = 1.0);
    let count = (rows.len() / k) as f64;
    for _ in 0..ROTATION_SWEEPS {
        let mut turned = false;
        for p in 0..k {
            for q in p + 1..k {
                // E[x^a y^b] for a + b = 2 and a + b = 4.
                let mut m = [0.0f64; 8];
                for row in rows.chunks_exact(k) {
                    let (x, y) = (row[p], row[q]);
                    let (x2, y2) = (x * x, y * y);
                    m[0] += x2;
                    m[1] += x * y;
                    m[2] += y2;
                    m[3] += x2 * x2;
                    m[4] += x2 * x * y;
                    m[5] += x2 * y2;
                    m[6] += x * y * y2;
                    m[7] += y2 * y2;
                }
                m.iter_mut().for_each(|v| *v /= count);
                let score = |theta: f64| {
                    let (c, s) = (theta.cos(), theta.sin());
                    let kurtosis = |c: f64, s: f64| {
                        let var = c * c * m[0] + 2.0 * c * s * m[1] + s * s * m[2];
                        let fourth = c.powi(4) * m[3]
                            + 4.0 * c.powi(3) * s * m[4]
                            + 6.0 * c * c * s * s * m[5]
                            + 4.0 * c * s.powi(3) * m[6]
                            + s.powi(4) * m[7];
                        if var > 0.0 {
                            fourth / (var * var) - 3.0
                        } else {
                            0.0
                        }
                    };
                    kurtosis(c, s).powi(2) + kurtosis(-s, c).powi(2)
                };
                let best = (0..ROTATION_ANGLES)
                    .map(|i| i as f64 * std::f64::consts::FRAC_PI_2 / ROTATION_ANGLES as f64)
                    .fold((0.0, score(0.0)), |best, theta| {
                        let value = score(theta);
                        if value > best.1 * (1.0 + 1e-9) {
                            (theta, value)
                        } else {
                            best
                        }
                    })
                    .0;
                if best == 0.0 {
                    continue;
                }
                turned = true;
                let (c, s) = (best.cos(), best.sin());
                let turn = |values: &mut [f64], stride: usize| {
                    let (x, y) = (values[p * stride], values[q * stride]);
                    values[p * stride] = c * x + s * y;
                    values[q * stride] = -s * x + c * y;
                };
                for row in rows.chunks_exact_mut(k) {
                    turn(row, 1);
                }
                for j in 0..k {
                    turn(&mut rotation[j..], k);
                }
            }
        }
        if !turned {
            break;
        }
    }
    rotation
}

fn normalised_f64(row: &[f32]) -> Vec<f64> {
    let norm = row
        .iter()
        .map(|&x| f64::from(x).powi(2))
        .sum::<f64>()
        .sqrt();
    let scale = if norm > 0.0 { 1.0 / norm } else { 0.0 };
    row.iter().map(|&x| f64::from(x) * scale).collect()
}

/// Eigenvalues and eigenvectors (columns of the row-major `n x n` result) of a symmetric
/// matrix, by cyclic Jacobi rotations until the off-diagonal mass is negligible.
fn jacobi_eigen(mut a: Vec<f64>, n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut v = vec![0.0f64; n * n];
    (0..n).for_each(|i| v[i * n + i] = 1.0);
    let total: f64 = a.iter().map(|x| x * x).sum();
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * n + j].powi(2))
            .sum();
        if off <= total * 1e-30 || off == 0.0 {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a[p * n + q];
                if apq.abs() <= f64::MIN_POSITIVE {
                    continue;
                }
                let theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let (akp, akq) = (a[k * n + p], a[k * n + q]);
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let (apk, aqk) = (a[p * n + k], a[q * n + k]);
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
                for k in 0..n {
                    let (vkp, vkq) = (v[k * n + p], v[k * n + q]);
                    v[k * n + p] = c * vkp - s * vkq;
                    v[k * n + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    ((0..n).map(|i| a[i * n + i]).collect(), v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Rows with a known dominant direction per axis scale.
    fn rows(n: usize, scales: &[f32], seed: u64) -> Vec<f32> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut out = Vec::with_capacity(n * scales.len());
        for _ in 0..n {
            // An offset keeps rows away from the origin so normalising keeps the structure.
            let row = scales[1..]
                .iter()
                .map(|&s| s * (rng.random::<f32>() * 2.0 - 1.0));
            out.extend(std::iter::once(10.0).chain(row));
        }
        out
    }

    #[test]
    fn recovers_the_axes_of_largest_variance_in_order() {
        let scales = [0.0, 0.1, 3.0, 0.5, 1.5];
        let pca = Pca::fit(&rows(4000, &scales, 1), 5, 2).unwrap();
        assert_eq!((pca.dims_in(), pca.dims_out()), (5, 2));
        let first = &pca.components[..5];
        let second = &pca.components[5..];
        assert!(first[2].abs() > 0.99, "{first:?}");
        assert!(second[4].abs() > 0.99, "{second:?}");
        assert!(pca.variances()[0] > pca.variances()[1]);
        // Signs are fixed: the largest entry is positive.
        assert!(first[2] > 0.0 && second[4] > 0.0);
    }

    #[test]
    fn components_are_orthonormal_and_fit_is_deterministic() {
        let data = rows(500, &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 0.5, 0.25], 7);
        let pca = Pca::fit(&data, 8, 4).unwrap();
        assert_eq!(pca, Pca::fit(&data, 8, 4).unwrap());
        for a in 0..4 {
            for b in 0..4 {
                let dot: f32 = (0..8)
                    .map(|i| pca.components[a * 8 + i] * pca.components[b * 8 + i])
                    .sum();
                let expected = if a == b { 1.0 } else { 0.0 };
                assert!((dot - expected).abs() < 1e-5, "{a},{b}: {dot}");
            }
        }
    }

    #[test]
    fn apply_is_scale_invariant_and_round_trips_through_bytes() {
        let data = rows(300, &[0.0, 1.0, 2.0, 3.0], 3);
        let pca = Pca::fit(&data, 4, 2).unwrap();
        let row = &data[..4];
        let doubled: Vec<f32> = row.iter().map(|x| x * 2.0).collect();
        assert_eq!(pca.apply(row).unwrap(), pca.apply(&doubled).unwrap());
        let back = Pca::from_safetensors(&pca.to_safetensors()).unwrap();
        assert_eq!(back, pca);
        assert_eq!(back.apply_rows(&data[..8]).unwrap().len(), 4);
    }

    #[test]
    fn independent_axes_unmix_rotated_sources() {
        // Two independent uniform sources of equal variance mixed by a 30 degree turn:
        // PCA cannot tell the turn from any other (equal variances); the kurtosis turn
        // undoes it.
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let (c, s) = (30f32.to_radians().cos(), 30f32.to_radians().sin());
        let mut data = Vec::new();
        for _ in 0..4000 {
            let (a, b) = (rng.random::<f32>() - 0.5, rng.random::<f32>() - 0.5);
            data.extend([10.0, c * a - s * b, s * a + c * b]);
        }
        let pca = Pca::fit(&data, 3, 2).unwrap();
        let ica = pca.rotated_independent(&data).unwrap();
        assert_eq!(ica, pca.rotated_independent(&data).unwrap());
        for axis in ica.components.chunks_exact(3) {
            // Each axis is one source's direction, (c, s) or (-s, c), up to sign and scale.
            let norm = (axis[1].powi(2) + axis[2].powi(2)).sqrt();
            let along_a = ((axis[1] * c + axis[2] * s) / norm).abs();
            let along_b = ((-axis[1] * s + axis[2] * c) / norm).abs();
            assert!(along_a.max(along_b) > 0.99, "{axis:?}");
        }
        // A turn: the axes stay orthonormal, so distances are kept, and the variances
        // recorded are those along the new axes.
        let c = &ica.components;
        let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
        assert!((dot(&c[..3], &c[..3]) - 1.0).abs() < 1e-5);
        assert!(dot(&c[..3], &c[3..]).abs() < 1e-5);
        let projected = ica.apply_rows(&data).unwrap();
        for axis in 0..2 {
            let variance = projected
                .iter()
                .skip(axis)
                .step_by(2)
                .map(|y| y * y)
                .sum::<f32>()
                / 4000.0;
            assert!(
                (variance / ica.variances()[axis] - 1.0).abs() < 0.05,
                "{variance}"
            );
        }
    }

    #[test]
    fn bad_input_is_an_error() {
        assert_eq!(
            Pca::fit(&[1.0; 7], 4, 2),
            Err(ReduceError::Ragged { len: 7, dims: 4 })
        );
        assert!(matches!(
            Pca::fit(&[1.0; 4], 4, 2),
            Err(ReduceError::TooFew { rows: 1, .. })
        ));
        let pca = Pca::fit(&rows(50, &[0.0, 1.0, 2.0], 1), 3, 2).unwrap();
        assert!(pca.apply(&[1.0, 2.0]).is_err());
        assert!(matches!(
            Pca::from_safetensors(b"junk"),
            Err(ReduceError::File(_))
        ));
    }
}
