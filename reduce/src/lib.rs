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
        let stride = n.div_ceil(MAX_FIT_ROWS);
        let sample: Vec<Vec<f64>> = rows
            .chunks_exact(dims_in)
            .step_by(stride)
            .map(normalised_f64)
            .collect();
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
