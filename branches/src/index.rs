//! What search by classification needs from an index of `u8` features ([`BoxIndex`]),
//! and [`FlatIndex`], a brute-force implementation of it over a row-major feature array:
//! the reference every faster index must agree with, and enough for small collections.

/// What search by classification needs from an index of `u8` features.
pub trait BoxIndex {
    /// The index's own failure (I/O, a corrupt shard).
    type Error: std::error::Error + Send + Sync + 'static;
    /// Number of images; ids are `0..len`.
    fn len(&self) -> u32;
    /// Whether the index holds no image.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Dimensions of a full feature row.
    fn dims(&self) -> usize;
    /// The feature subsets; subset `i` is served by tree `i`. Dims ascend within a subset.
    fn subsets(&self) -> &[Vec<u16>];
    /// Calls `emit` with slices of the ids of every point `p` with
    /// `lo[j] <= p[subset[j]] <= hi[j]` for all `j` (inclusive; `lo`/`hi` in the subset's
    /// dim order), and beside them the points' values in the subset's dims, row by row
    /// (`subset.len()` values per id): a box's own dims are all a search needs of most
    /// points, and a tree's leaves hold them. Each id is emitted once.
    fn range_query(
        &self,
        tree: usize,
        lo: &[u8],
        hi: &[u8],
        emit: &mut dyn FnMut(&[u32], &[u8]),
    ) -> Result<(), Self::Error>;
    /// The full `u8` feature row of `id`.
    fn row(&self, id: u32) -> Result<&[u8], Self::Error>;
}

/// A borrowed index is an index: an engine can hold `&LoadedIndex` while its owner adds
/// shards between training and searching.
impl<T: BoxIndex + ?Sized> BoxIndex for &T {
    type Error = T::Error;

    fn len(&self) -> u32 {
        (**self).len()
    }

    fn dims(&self) -> usize {
        (**self).dims()
    }

    fn subsets(&self) -> &[Vec<u16>] {
        (**self).subsets()
    }

    fn range_query(
        &self,
        tree: usize,
        lo: &[u8],
        hi: &[u8],
        emit: &mut dyn FnMut(&[u32], &[u8]),
    ) -> Result<(), Self::Error> {
        (**self).range_query(tree, lo, hi, emit)
    }

    fn row(&self, id: u32) -> Result<&[u8], Self::Error> {
        (**self).row(id)
    }
}

/// Why a [`FlatIndex`] could not be built or queried.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FlatIndexError {
    /// The feature array is not a whole number of rows.
    #[error("features hold {len} bytes, not a multiple of {dims} dims")]
    RaggedFeatures {
        /// Bytes given.
        len: usize,
        /// Dims per row.
        dims: usize,
    },
    /// Rows have no dims, or more images than `u32` ids can name.
    #[error("shape {rows} x {dims} is not supported")]
    Shape {
        /// Number of rows.
        rows: usize,
        /// Dims per row.
        dims: usize,
    },
    /// A subset names a dim the rows do not have.
    #[error("subset {subset} names dim {dim}, rows have {dims} dims")]
    SubsetDim {
        /// Position of the subset.
        subset: usize,
        /// The dim named.
        dim: u16,
        /// Dims per row.
        dims: usize,
    },
    /// A query names a tree that does not exist.
    #[error("tree {tree} does not exist: the index has {trees} subsets")]
    NoSuchTree {
        /// The tree asked for.
        tree: usize,
        /// Number of subsets.
        trees: usize,
    },
    /// A query's bounds do not match its subset's length.
    #[error("bounds have {lo} and {hi} values, tree {tree} has {dims} dims")]
    BoundsLength {
        /// The tree queried.
        tree: usize,
        /// Length of `lo`.
        lo: usize,
        /// Length of `hi`.
        hi: usize,
        /// Dims of the subset.
        dims: usize,
    },
    /// A row id past the end.
    #[error("row {id} does not exist: the index has {len} rows")]
    NoSuchRow {
        /// The id asked for.
        id: u32,
        /// Number of rows.
        len: u32,
    },
}

/// A [`BoxIndex`] that answers every box query by scanning all rows.
#[derive(Clone, Debug)]
pub struct FlatIndex {
    features: Vec<u8>,
    dims: usize,
    len: u32,
    subsets: Vec<Vec<u16>>,
}

impl FlatIndex {
    /// Wraps row-major `features` of `dims` columns, served through `subsets`.
    pub fn new(
        features: Vec<u8>,
        dims: usize,
        subsets: Vec<Vec<u16>>,
    ) -> Result<Self, FlatIndexError> {
        if dims == 0 {
            return Err(FlatIndexError::Shape { rows: 0, dims });
        }
        if !features.len().is_multiple_of(dims) {
            return Err(FlatIndexError::RaggedFeatures {
                len: features.len(),
                dims,
            });
        }
        let rows = features.len() / dims;
        let len = u32::try_from(rows).map_err(|_| FlatIndexError::Shape { rows, dims })?;
        for (subset, dims_of_subset) in subsets.iter().enumerate() {
            if let Some(&dim) = dims_of_subset.iter().find(|&&d| usize::from(d) >= dims) {
                return Err(FlatIndexError::SubsetDim { subset, dim, dims });
            }
        }
        Ok(Self {
            features,
            dims,
            len,
            subsets,
        })
    }
}

impl BoxIndex for FlatIndex {
    type Error = FlatIndexError;

    fn len(&self) -> u32 {
        self.len
    }

    fn dims(&self) -> usize {
        self.dims
    }

    fn subsets(&self) -> &[Vec<u16>] {
        &self.subsets
    }

    fn range_query(
        &self,
        tree: usize,
        lo: &[u8],
        hi: &[u8],
        emit: &mut dyn FnMut(&[u32], &[u8]),
    ) -> Result<(), FlatIndexError> {
        let subset = self.subsets.get(tree).ok_or(FlatIndexError::NoSuchTree {
            tree,
            trees: self.subsets.len(),
        })?;
        if lo.len() != subset.len() || hi.len() != subset.len() {
            return Err(FlatIndexError::BoundsLength {
                tree,
                lo: lo.len(),
                hi: hi.len(),
                dims: subset.len(),
            });
        }
        // Emit in chunks, as a tree emits leaf by leaf.
        const CHUNK: usize = 1024;
        let mut ids = Vec::with_capacity(CHUNK);
        let mut points = Vec::with_capacity(CHUNK * subset.len());
        for (id, row) in (0..self.len).zip(self.features.chunks_exact(self.dims)) {
            let inside = subset
                .iter()
                .zip(lo.iter().zip(hi))
                .all(|(&d, (&l, &h))| (l..=h).contains(&row[usize::from(d)]));
            if inside {
                ids.push(id);
                points.extend(subset.iter().map(|&d| row[usize::from(d)]));
                if ids.len() == CHUNK {
                    emit(&ids, &points);
                    ids.clear();
                    points.clear();
                }
            }
        }
        if !ids.is_empty() {
            emit(&ids, &points);
        }
        Ok(())
    }

    fn row(&self, id: u32) -> Result<&[u8], FlatIndexError> {
        if id >= self.len {
            return Err(FlatIndexError::NoSuchRow { id, len: self.len });
        }
        let start = id as usize * self.dims;
        Ok(&self.features[start..start + self.dims])
    }
}
