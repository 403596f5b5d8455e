//! From a CLIP text feature to a query on the index's `u8` grid, as `dataset::Reduction`
//! describes: the dataset's PCA file applied by [`reduce::Pca::apply`] (the very code
//! `precompute build` reduced the image features with, in f64, so the browser's query
//! bytes are precompute's), or the feature as it is (L2-normalised), then
//! `index_shards::quantize_row`.

use index_shards::quantize::{l2_normalize, quantize_row};
use reduce::{Pca, ReduceError};

/// Why a projection could not be built or applied.
#[derive(Debug, thiserror::Error, PartialEq)]
#[non_exhaustive]
pub enum ProjectionError {
    /// The PCA file is unreadable, or a feature does not fit it.
    #[error(transparent)]
    Pca(#[from] ReduceError),
    /// A feature of another width than the identity's.
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
    /// The PCA `precompute build` fitted on the image features.
    Pca(Pca),
    /// Features used as they are.
    Identity {
        /// Feature width.
        dims: usize,
    },
}

impl QueryProjection {
    /// The PCA of a dataset's `reduction` file (safetensors `mean`, `components`,
    /// `variances`, as [`Pca::to_safetensors`] writes it).
    ///
    /// # Errors
    /// [`ProjectionError::Pca`] for a file that is not such a PCA.
    pub fn pca_file(bytes: &[u8]) -> Result<Self, ProjectionError> {
        Ok(Self::Pca(Pca::from_safetensors(bytes)?))
    }

    /// The query of CLIP feature `feature`.
    ///
    /// # Errors
    /// A feature of the wrong width.
    pub fn project(&self, feature: &[f32]) -> Result<Vec<u8>, ProjectionError> {
        let reduced = match self {
            Self::Pca(pca) => pca.apply(feature)?,
            Self::Identity { dims } => {
                if feature.len() != *dims {
                    return Err(ProjectionError::FeatureDims {
                        got: feature.len(),
                        expected: *dims,
                    });
                }
                let mut x = feature.to_vec();
                l2_normalize(&mut x);
                x
            }
        };
        Ok(quantize_row(&reduced))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pca_queries_are_the_bytes_precompute_indexes() {
        // The PCA as precompute fits and ships it; the query equals its rows on the grid.
        let rows: Vec<f32> = (0..400)
            .map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0)
            .collect();
        let pca = Pca::fit(&rows, 4, 3).unwrap();
        let projection = QueryProjection::pca_file(&pca.to_safetensors()).unwrap();
        for row in rows.chunks_exact(4).take(50) {
            let query = projection.project(row).unwrap();
            assert_eq!(query, quantize_row(&pca.apply(row).unwrap()));
        }
    }

    #[test]
    fn identity_normalises_and_quantises() {
        let q = QueryProjection::Identity { dims: 2 }
            .project(&[0.0, -2.0])
            .unwrap();
        assert_eq!(q, [128, 0]);
    }

    #[test]
    fn bad_files_and_wrong_widths_are_errors() {
        assert!(matches!(
            QueryProjection::pca_file(b"junk"),
            Err(ProjectionError::Pca(ReduceError::File(_)))
        ));
        let rows: Vec<f32> = (0..40).map(|i| i as f32).collect();
        let pca =
            QueryProjection::pca_file(&Pca::fit(&rows, 4, 2).unwrap().to_safetensors()).unwrap();
        assert!(matches!(
            pca.project(&[1.0]),
            Err(ProjectionError::Pca(ReduceError::Ragged {
                len: 1,
                dims: 4
            }))
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
