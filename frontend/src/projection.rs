//! From a CLIP text feature to a query on the index's `u8` grid, as `dataset::Reduction`
//! describes: PCA (`y = (x / |x| - mean) @ componentsᵀ`) or identity, then L2 and
//! `index_shards::quantize_row`, exactly as the image features were indexed.

use index_shards::quantize::{l2_normalize, quantize_row};

/// Why a projection could not be built or applied.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProjectionError {
    /// `components` is not `dims x mean.len()`.
    #[error("PCA components hold {components} values, expected {dims} x {input}")]
    Shape {
        /// Values in `components`.
        components: usize,
        /// Output dims.
        dims: usize,
        /// Input dims (`mean`'s length).
        input: usize,
    },
    /// A feature of another width than the projection's input.
    #[error("text feature has {got} dims, the projection takes {expected}")]
    FeatureDims {
        /// The feature's width.
        got: usize,
        /// The projection's input width.
        expected: usize,
    },
}

/// The map from CLIP space to the index's compact space.
#[derive(Clone, Debug, PartialEq)]
pub enum QueryProjection {
    /// PCA fitted on L2-normalised image features.
    Pca {
        /// Subtracted before projecting (`input` values).
        mean: Vec<f32>,
        /// Row-major `dims x input`.
        components: Vec<f32>,
    },
    /// Features used as they are.
    Identity {
        /// Feature width.
        dims: usize,
    },
}

impl QueryProjection {
    /// A PCA projection onto `dims` components.
    ///
    /// # Errors
    /// [`ProjectionError::Shape`] if `components` is not `dims x mean.len()`.
    pub fn pca(mean: Vec<f32>, components: Vec<f32>, dims: usize) -> Result<Self, ProjectionError> {
        if mean.is_empty() || dims == 0 || components.len() != dims * mean.len() {
            return Err(ProjectionError::Shape {
                components: components.len(),
                dims,
                input: mean.len(),
            });
        }
        Ok(Self::Pca { mean, components })
    }

    fn input(&self) -> usize {
        match self {
            Self::Pca { mean, .. } => mean.len(),
            Self::Identity { dims } => *dims,
        }
    }

    /// The query of CLIP feature `feature`.
    ///
    /// # Errors
    /// [`ProjectionError::FeatureDims`] for a feature of the wrong width.
    pub fn project(&self, feature: &[f32]) -> Result<Vec<u8>, ProjectionError> {
        if feature.len() != self.input() {
            return Err(ProjectionError::FeatureDims {
                got: feature.len(),
                expected: self.input(),
            });
        }
        let mut x = feature.to_vec();
        l2_normalize(&mut x);
        let reduced = match self {
            Self::Identity { .. } => x,
            Self::Pca { mean, components } => {
                for (v, m) in x.iter_mut().zip(mean) {
                    *v -= m;
                }
                components
                    .chunks_exact(mean.len())
                    .map(|row| row.iter().zip(&x).map(|(c, v)| c * v).sum())
                    .collect()
            }
        };
        Ok(quantize_row(&reduced))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pca_centres_projects_and_quantises() {
        // Two components picking input dims 0 and 2 of a 3-d space.
        let pca = QueryProjection::pca(vec![0.0, 0.0, 0.5], vec![1.0, 0.0, 0.0, 0.0, 0.0, 1.0], 2)
            .unwrap();
        // x = (3, 0, 4) / 5 = (0.6, 0, 0.8); minus mean -> (0.6, 0, 0.3); L2 -> (0.894, 0.447).
        let q = pca.project(&[3.0, 0.0, 4.0]).unwrap();
        assert_eq!(q, quantize_row(&[0.6, 0.3]));
        assert_eq!(q, [242, 185]);
    }

    #[test]
    fn identity_normalises_and_quantises() {
        let q = QueryProjection::Identity { dims: 2 }
            .project(&[0.0, -2.0])
            .unwrap();
        assert_eq!(q, [128, 0]);
    }

    #[test]
    fn wrong_shapes_are_errors() {
        assert!(matches!(
            QueryProjection::pca(vec![0.0; 3], vec![0.0; 5], 2),
            Err(ProjectionError::Shape { components: 5, .. })
        ));
        let id = QueryProjection::Identity { dims: 4 };
        assert_eq!(
            id.project(&[1.0]),
            Err(ProjectionError::FeatureDims {
                got: 1,
                expected: 4
            })
        );
    }
}
