//! A borrowed, shape-checked view of a row-major `n x dims` matrix of quantised features.

use crate::IndexError;

/// The largest number of dims a feature row or kd-tree may have (dims are `u16` in subsets).
pub const MAX_DIMS: usize = u16::MAX as usize;

/// The largest number of points: ids are `u32` and `u32::MAX` marks padding.
pub const MAX_POINTS: usize = u32::MAX as usize;

/// Row-major `u8` features, `len() x dims()`, checked on construction.
#[derive(Clone, Copy, Debug)]
pub struct Features<'a> {
    dims: usize,
    data: &'a [u8],
}

impl<'a> Features<'a> {
    /// Views `data` as rows of `dims` values.
    ///
    /// # Errors
    /// [`IndexError::Dims`] if `dims` is 0 or above [`MAX_DIMS`],
    /// [`IndexError::FeatureShape`] if `data` is not whole rows,
    /// [`IndexError::TooManyPoints`] above [`MAX_POINTS`] rows.
    pub fn new(data: &'a [u8], dims: usize) -> Result<Self, IndexError> {
        if dims == 0 || dims > MAX_DIMS {
            return Err(IndexError::Dims {
                dims,
                max: MAX_DIMS,
            });
        }
        if !data.len().is_multiple_of(dims) {
            return Err(IndexError::FeatureShape {
                len: data.len(),
                dims,
            });
        }
        let n = data.len() / dims;
        if n as u64 > MAX_POINTS as u64 {
            return Err(IndexError::TooManyPoints { n, max: MAX_POINTS });
        }
        Ok(Self { dims, data })
    }

    /// Values per row.
    pub fn dims(&self) -> usize {
        self.dims
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.data.len() / self.dims
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The whole matrix, row-major.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// The row of point `id`.
    ///
    /// # Errors
    /// [`IndexError::IdOutOfRange`] if `id >= len()`.
    pub fn row(&self, id: u32) -> Result<&'a [u8], IndexError> {
        let start = id as usize * self.dims;
        self.data
            .get(start..start + self.dims)
            .ok_or(IndexError::IdOutOfRange {
                id: id.into(),
                n: self.len() as u64,
            })
    }

    /// All rows in id order.
    pub fn rows(&self) -> impl ExactSizeIterator<Item = &'a [u8]> + 'a {
        self.data.chunks_exact(self.dims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_shape_and_ids() {
        assert!(matches!(
            Features::new(&[1, 2, 3], 2),
            Err(IndexError::FeatureShape { len: 3, dims: 2 })
        ));
        assert!(matches!(
            Features::new(&[], 0),
            Err(IndexError::Dims { dims: 0, .. })
        ));
        let f = Features::new(&[1, 2, 3, 4], 2).unwrap();
        assert_eq!(f.len(), 2);
        assert_eq!(f.row(1).unwrap(), &[3, 4]);
        assert!(matches!(
            f.row(2),
            Err(IndexError::IdOutOfRange { id: 2, n: 2 })
        ));
        let empty = Features::new(&[], 3).unwrap();
        assert!(empty.is_empty());
        assert_eq!(empty.rows().count(), 0);
    }
}
