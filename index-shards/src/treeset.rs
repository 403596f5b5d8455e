//! The set of kd-trees over seeded random feature subsets that search by classification
//! queries: one tree per subset, each with its own copy of its columns (spec section 3).

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use seeded::below;

use crate::kdtree::KdTree;
use crate::{Features, IndexError, RangeStats};

/// How to build a [`TreeSet`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TreeSetConfig {
    /// At most this many points per leaf (the reference uses 500; 4500 at 262M images).
    pub leaf_size: usize,
    /// `(dims per subset, number of subsets)` groups, drawn in this order.
    pub subsets: Vec<(usize, usize)>,
    /// Seed of the subset draw.
    pub seed: u64,
}

impl Default for TreeSetConfig {
    /// The reference set: leaf size 500, 64 subsets of 4 dims, 32 of 6, 8 of 8 (104 trees).
    fn default() -> Self {
        Self {
            leaf_size: 500,
            subsets: vec![(4, 64), (6, 32), (8, 8)],
            seed: 0x5eed,
        }
    }
}

/// Draws the feature subsets of `config` over `dims` features: each subset is distinct
/// dims, ascending; the same seed gives the same subsets on every target.
///
/// # Errors
/// [`IndexError::Config`] if a subset asks for 0 or more than `dims` dims.
pub fn random_subsets(dims: usize, config: &TreeSetConfig) -> Result<Vec<Vec<u16>>, IndexError> {
    if dims == 0 || dims > crate::features::MAX_DIMS {
        return Err(IndexError::Dims {
            dims,
            max: crate::features::MAX_DIMS,
        });
    }
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let mut pool: Vec<u16> = (0..dims as u16).collect();
    let mut subsets = Vec::new();
    for &(size, count) in &config.subsets {
        if size == 0 || size > dims {
            return Err(IndexError::Config {
                reason: format!("subsets of {size} dims over {dims} features"),
            });
        }
        for _ in 0..count {
            // A partial Fisher-Yates shuffle of the pool; u32 draws, the same on 32-bit wasm.
            for i in 0..size {
                let j = i + below(&mut rng, (dims - i) as u32) as usize;
                pool.swap(i, j);
            }
            let mut subset = pool[..size].to_vec();
            subset.sort_unstable();
            subsets.push(subset);
        }
    }
    Ok(subsets)
}

/// Kd-trees over feature subsets of one collection, built in memory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TreeSet {
    config: TreeSetConfig,
    dims: usize,
    n_points: usize,
    subsets: Vec<Vec<u16>>,
    trees: Vec<KdTree>,
}

impl TreeSet {
    /// Builds one tree per subset of [`random_subsets`] over row-major `features` of
    /// `dims` values (trees in parallel natively).
    ///
    /// # Errors
    /// A bad feature shape, config or leaf size.
    pub fn build(
        features: &[u8],
        dims: usize,
        config: &TreeSetConfig,
    ) -> Result<TreeSet, IndexError> {
        let features = Features::new(features, dims)?;
        let subsets = random_subsets(dims, config)?;
        Self::build_with_subsets(features, config, subsets)
    }

    /// Builds one tree per given subset (each non-empty, dims distinct and below `dims`).
    fn build_with_subsets(
        features: Features<'_>,
        config: &TreeSetConfig,
        subsets: Vec<Vec<u16>>,
    ) -> Result<TreeSet, IndexError> {
        let builder = TreeBuilder::with_subsets(features, config, subsets);
        let positions: Vec<usize> = (0..builder.subsets.len()).collect();
        let trees = crate::par::map_ordered(&positions, |&t| builder.build(t))
            .into_iter()
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            config: config.clone(),
            dims: features.dims(),
            n_points: features.len(),
            subsets: builder.subsets,
            trees,
        })
    }

    /// The config the set was built with.
    pub fn config(&self) -> &TreeSetConfig {
        &self.config
    }

    /// The feature subset of each tree, dims ascending.
    pub fn subsets(&self) -> &[Vec<u16>] {
        &self.subsets
    }

    /// Number of points.
    pub fn len(&self) -> usize {
        self.n_points
    }

    /// Whether the collection is empty.
    pub fn is_empty(&self) -> bool {
        self.n_points == 0
    }

    /// Feature dims of the collection.
    pub fn dims(&self) -> usize {
        self.dims
    }

    /// The trees, in subset order.
    pub fn trees(&self) -> &[KdTree] {
        &self.trees
    }

    /// Box query on tree `tree`: `lo`/`hi` are inclusive bounds in the order of that
    /// tree's subset dims; ids of the points inside are passed to `emit` in slices.
    ///
    /// # Errors
    /// [`IndexError::TreeOutOfRange`], or [`IndexError::QueryDims`] for bounds of the wrong
    /// length.
    pub fn range_query(
        &self,
        tree: usize,
        lo: &[u8],
        hi: &[u8],
        emit: &mut dyn FnMut(&[u32]),
    ) -> Result<RangeStats, IndexError> {
        self.tree(tree)?.range_query(lo, hi, emit)
    }

    /// [`Self::range_query`], also handing `emit` the points' values in the subset's dims,
    /// row by row ([`KdTree::range_query_points`]).
    ///
    /// # Errors
    /// As [`Self::range_query`].
    pub fn range_query_points(
        &self,
        tree: usize,
        lo: &[u8],
        hi: &[u8],
        emit: &mut dyn FnMut(&[u32], &[u8]),
    ) -> Result<RangeStats, IndexError> {
        self.tree(tree)?.range_query_points(lo, hi, emit)
    }

    fn tree(&self, tree: usize) -> Result<&KdTree, IndexError> {
        self.trees.get(tree).ok_or(IndexError::TreeOutOfRange {
            tree,
            trees: self.trees.len(),
        })
    }
}

/// The trees of a tree set built one at a time ([`Self::build`]), for a writer that holds
/// a tree per thread rather than the whole set: at 10M images the 104 default trees hold
/// about 9 GB, one of them at most 120 MB.
pub struct TreeBuilder {
    /// The features, column-major, so gathering a subset's rows reads a few contiguous
    /// streams.
    columns: Vec<u8>,
    n: usize,
    leaf_size: usize,
    subsets: Vec<Vec<u16>>,
}

impl TreeBuilder {
    /// A builder of the trees [`TreeSet::build`] builds over `features`.
    ///
    /// # Errors
    /// A config whose subsets do not fit `features`' dims.
    pub fn new(features: Features<'_>, config: &TreeSetConfig) -> Result<Self, IndexError> {
        let subsets = random_subsets(features.dims(), config)?;
        Ok(Self::with_subsets(features, config, subsets))
    }

    fn with_subsets(
        features: Features<'_>,
        config: &TreeSetConfig,
        subsets: Vec<Vec<u16>>,
    ) -> Self {
        let n = features.len();
        let mut columns = vec![0u8; features.data().len()];
        for (i, row) in features.rows().enumerate() {
            for (j, &v) in row.iter().enumerate() {
                columns[j * n + i] = v;
            }
        }
        Self {
            columns,
            n,
            leaf_size: config.leaf_size,
            subsets,
        }
    }

    /// The feature subset of each tree, dims ascending.
    pub fn subsets(&self) -> &[Vec<u16>] {
        &self.subsets
    }

    /// Tree `tree`, as [`TreeSet::build`] builds it.
    ///
    /// # Errors
    /// [`IndexError::TreeOutOfRange`], or a bad leaf size.
    pub fn build(&self, tree: usize) -> Result<KdTree, IndexError> {
        let subset = self.subsets.get(tree).ok_or(IndexError::TreeOutOfRange {
            tree,
            trees: self.subsets.len(),
        })?;
        let n = self.n;
        let mut rows = vec![0u8; n * subset.len()];
        for (k, &dim) in subset.iter().enumerate() {
            let column = &self.columns[usize::from(dim) * n..usize::from(dim + 1) * n];
            for (row, &v) in rows.chunks_exact_mut(subset.len()).zip(column) {
                row[k] = v;
            }
        }
        KdTree::from_rows(rows, subset.len(), self.leaf_size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_subsets_are_seeded_sorted_and_distinct() {
        let config = TreeSetConfig::default();
        let a = random_subsets(32, &config).unwrap();
        assert_eq!(a, random_subsets(32, &config).unwrap());
        assert_eq!(a.len(), 104);
        assert_eq!(a.iter().filter(|s| s.len() == 4).count(), 64);
        assert_eq!(a.iter().filter(|s| s.len() == 8).count(), 8);
        assert!(
            a.iter()
                .all(|s| s.windows(2).all(|w| w[0] < w[1]) && s[s.len() - 1] < 32)
        );
        let other = TreeSetConfig {
            seed: 1,
            ..config.clone()
        };
        assert_ne!(a, random_subsets(32, &other).unwrap());
        let too_wide = TreeSetConfig {
            subsets: vec![(33, 1)],
            ..config
        };
        assert!(matches!(
            random_subsets(32, &too_wide),
            Err(IndexError::Config { .. })
        ));
    }

    #[test]
    fn bad_tree_and_box_are_errors() {
        let set = TreeSet::build(&[1, 2, 3, 4], 2, &TreeSetConfig::default()).unwrap_err();
        assert!(matches!(set, IndexError::Config { .. }));
        let config = TreeSetConfig {
            subsets: vec![(1, 2)],
            ..TreeSetConfig::default()
        };
        let set = TreeSet::build(&[1, 2, 3, 4], 2, &config).unwrap();
        assert!(matches!(
            set.range_query(2, &[0], &[9], &mut |_| {}),
            Err(IndexError::TreeOutOfRange { tree: 2, trees: 2 })
        ));
        assert!(matches!(
            set.range_query(0, &[0, 0], &[9], &mut |_| {}),
            Err(IndexError::QueryDims { .. })
        ));
    }
}
