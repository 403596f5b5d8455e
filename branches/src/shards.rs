//! [`BoxIndex`] for the index of `index-shards`: loaded from shard files
//! ([`LoadedIndex`]) or built in memory ([`MemoryIndex`]).

use index_shards::{Features, IndexError, LoadedIndex, Manifest, TreeSet, TreeSetConfig};

use crate::index::BoxIndex;
use crate::training::PoolSettings;

impl PoolSettings {
    /// The pool an index was written with: as many ids as its stored pool holds (an index
    /// with row blocks), else the default; the seed is always the default one. Every
    /// reader of the index draws random negatives from this pool, so they agree.
    pub fn of_index(manifest: &Manifest) -> Self {
        Self {
            size: manifest.rows.as_ref().map(|rows| rows.pool.rows as u32),
            ..Self::default()
        }
    }
}

impl BoxIndex for LoadedIndex {
    type Error = IndexError;

    fn len(&self) -> u32 {
        // A manifest's point count fits u32: ids are u32.
        LoadedIndex::len(self) as u32
    }

    fn dims(&self) -> usize {
        LoadedIndex::dims(self)
    }

    fn subsets(&self) -> &[Vec<u16>] {
        LoadedIndex::subsets(self)
    }

    fn range_query(
        &self,
        tree: usize,
        lo: &[u8],
        hi: &[u8],
        emit: &mut dyn FnMut(&[u32], &[u8]),
    ) -> Result<(), IndexError> {
        LoadedIndex::range_query_points(self, tree, lo, hi, emit).map(drop)
    }

    fn row(&self, id: u32) -> Result<&[u8], IndexError> {
        self.feature_row(id)
    }
}

/// Features and their tree set, held in memory: what `precompute` builds before writing
/// shards, and what benchmarks search.
#[derive(Debug)]
pub struct MemoryIndex {
    features: Vec<u8>,
    trees: TreeSet,
}

impl MemoryIndex {
    /// Builds the tree set of `config` over row-major `features` of `dims` columns.
    ///
    /// # Errors
    /// As [`TreeSet::build`].
    pub fn build(
        features: Vec<u8>,
        dims: usize,
        config: &TreeSetConfig,
    ) -> Result<Self, IndexError> {
        let trees = TreeSet::build(&features, dims, config)?;
        Ok(Self { features, trees })
    }

    /// The feature matrix.
    pub fn features(&self) -> Features<'_> {
        Features::new(&self.features, self.trees.dims()).expect("checked by TreeSet::build")
    }

    /// The tree set.
    pub fn trees(&self) -> &TreeSet {
        &self.trees
    }
}

impl BoxIndex for MemoryIndex {
    type Error = IndexError;

    fn len(&self) -> u32 {
        self.trees.len() as u32
    }

    fn dims(&self) -> usize {
        self.trees.dims()
    }

    fn subsets(&self) -> &[Vec<u16>] {
        self.trees.subsets()
    }

    fn range_query(
        &self,
        tree: usize,
        lo: &[u8],
        hi: &[u8],
        emit: &mut dyn FnMut(&[u32], &[u8]),
    ) -> Result<(), IndexError> {
        self.trees.range_query_points(tree, lo, hi, emit).map(drop)
    }

    fn row(&self, id: u32) -> Result<&[u8], IndexError> {
        self.features().row(id)
    }
}
