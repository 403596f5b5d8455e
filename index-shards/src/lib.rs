//! Index shards: quantised CLIP features, kd-trees over feature subsets, box and k-NN
//! queries, and the on-disk shard format.
//!
//! The crate does no I/O: it reads and writes `&[u8]` / `Vec<u8>`, so the same code runs
//! in the precompute CLI and in the browser.
//!
//! - [`TreeSet`]: kd-trees over seeded random feature subsets; [`TreeSet::range_query`]
//!   emits every point inside a box (search by classification).
//! - [`knn_exact`] (flat scan) and [`KnnTree`] (depth-first, optionally approximate):
//!   nearest neighbours of a text query.
//! - [`PartitionedKnn`]: k-NN of a collection too big to fetch whole, through coarse
//!   centroids and lists of rows fetched on demand ([`write_knn_lists`] writes them).
//! - [`write_index`] splits features and trees into content-hashed shard files and a
//!   [`Manifest`]; [`LoadedIndex`] checks and queries them in place, lazily.
//!
//! ```
//! use index_shards::{LoadedIndex, ShardConfig, TreeSet, TreeSetConfig, write_index, Features};
//!
//! let features: Vec<u8> = (0..400u32).map(|i| (i * 37 % 256) as u8).collect();
//! let config = TreeSetConfig { leaf_size: 8, subsets: vec![(2, 3)], seed: 7 };
//! let trees = TreeSet::build(&features, 4, &config)?;
//! let mut files = Vec::new();
//! let manifest = write_index(Features::new(&features, 4)?, &trees, &ShardConfig::default(),
//!     |name, bytes| { files.push((name.to_owned(), bytes.to_vec())); Ok::<_, std::io::Error>(()) })?;
//! let mut loaded = LoadedIndex::new(manifest)?;
//! // The manifest names the tree tops; a top names its leaf files, stored in its pack, once
//! // it is added.
//! while let Some(file) = loaded.missing_files().first().cloned() {
//!     let (_, stored) = files.iter().find(|(n, _)| *n == file.stored_in).unwrap();
//!     loaded.add_file(&file.name, file.slice_of(stored, 0)?)?;
//! }
//! let (mut a, mut b) = (Vec::new(), Vec::new());
//! trees.range_query(0, &[0, 0], &[100, 200], &mut |ids| a.extend_from_slice(ids))?;
//! loaded.range_query(0, &[0, 0], &[100, 200], &mut |ids| b.extend_from_slice(ids))?;
//! assert_eq!(a, b);
//! # Ok::<(), index_shards::IndexError>(())
//! ```

mod error;
pub mod features;
pub mod kdtree;
mod knn;
mod layout;
mod lazy_file;
mod load;
mod manifest;
mod par;
mod partitioned_knn;
pub mod quantize;
mod row_blocks;
mod shard;
pub mod synthetic;
mod treeset;
mod width;
mod write;

pub use error::IndexError;
pub use features::Features;
pub use kdtree::{KdTree, PADDING_ID, RangeStats, TreeShape};
pub use knn::{KnnTree, Neighbour, UNLIMITED_LEAVES, knn_exact};
pub use layout::{FileKind, Layout, LayoutConfig};
pub use lazy_file::{LazyFile, StoredFile};
pub use load::LoadedIndex;
pub use manifest::{MANIFEST_NAME, Manifest, ShardFile, ShardKind};
pub use partitioned_knn::{
    Centroids, KNN_FORMAT_VERSION, KnnManifest, MIN_PARTITIONED_ROWS, NPROBE_PER_SQRT_LISTS,
    PartitionConfig, PartitionedKnn, default_nprobe, write_knn_lists,
};
pub use row_blocks::{
    ROWS_FORMAT_VERSION, RowBlocks, RowBlocksConfig, RowsManifest, write_row_blocks,
};
pub use shard::FORMAT_VERSION;
pub use treeset::{TreeBuilder, TreeSet, TreeSetConfig, random_subsets};
pub use write::{
    Relisted, ShardConfig, index_manifest, relist_leaf_file, write_features, write_index,
    write_tree,
};
