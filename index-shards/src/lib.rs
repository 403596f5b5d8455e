//! Index shards: quantised CLIP features, kd-trees over feature subsets, box and k-NN
//! queries, and the on-disk shard format.
//!
//! The crate does no I/O: it reads and writes `&[u8]` / `Vec<u8>`, so the same code runs
//! in the precompute CLI and in the browser.

mod error;
pub mod features;
pub mod kdtree;
mod knn;
mod par;
pub mod quantize;
pub mod synthetic;
mod treeset;
mod width;

pub use error::IndexError;
pub use features::Features;
pub use kdtree::{KdTree, PADDING_ID, RangeStats, TreeShape};
pub use knn::{KnnTree, Neighbour, UNLIMITED_LEAVES, knn_exact};
pub use treeset::{BoxIndex, TreeSet, TreeSetConfig, random_subsets};
