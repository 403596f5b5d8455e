//! The one error type of the crate: every bad input (shape, id, box, shard byte) ends here.

use std::error::Error as StdError;

/// What went wrong while building, querying, writing or loading an index.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IndexError {
    /// `dims` is zero or too large.
    #[error("feature dims {dims} is out of range 1..={max}")]
    Dims { dims: usize, max: usize },
    /// A feature buffer whose length is not a multiple of `dims`.
    #[error("feature buffer of {len} bytes is not a whole number of rows of {dims} dims")]
    FeatureShape { len: usize, dims: usize },
    /// More points than `u32` ids can name (the largest id is the padding sentinel).
    #[error("{n} points exceed the {max} that u32 ids can address")]
    TooManyPoints { n: usize, max: usize },
    /// A tree set configuration that cannot be built.
    #[error("invalid tree set config: {reason}")]
    Config { reason: String },
    /// A tree index past the end of the set.
    #[error("tree {tree} out of range: the index has {trees} trees")]
    TreeOutOfRange { tree: usize, trees: usize },
    /// A point id past the end of the collection.
    #[error("id {id} out of range: the collection has {n} points")]
    IdOutOfRange { id: u64, n: u64 },
    /// A query (box bound or k-NN vector) whose length differs from the dims it is for.
    #[error("{what} has {got} values, expected {expected}")]
    QueryDims {
        what: &'static str,
        got: usize,
        expected: usize,
    },
    /// Two inputs that must describe the same collection do not.
    #[error("mismatch between {what}: {left} vs {right}")]
    Mismatch {
        what: &'static str,
        left: u64,
        right: u64,
    },
    /// The manifest is not valid JSON of the expected form.
    #[error("manifest.json is malformed")]
    ManifestJson(#[source] serde_json::Error),
    /// The manifest parses but describes an impossible index.
    #[error("manifest.json is inconsistent: {reason}")]
    Manifest { reason: String },
    /// A format version this build does not read.
    #[error(
        "{file}: format version {found}, this build reads version {expected}; rebuild the index with this build's `precompute build` or `precompute index`"
    )]
    FormatVersion {
        file: String,
        found: u32,
        expected: u32,
    },
    /// A file the manifest does not list.
    #[error("{file}: not listed in the manifest")]
    UnknownFile { file: String },
    /// A file whose byte size differs from the manifest's.
    #[error("{file}: {actual} bytes, the manifest says {expected}")]
    SizeMismatch {
        file: String,
        expected: u64,
        actual: u64,
    },
    /// A file whose blake3 hash differs from the manifest's.
    #[error("{file}: blake3 {actual}, the manifest says {expected}")]
    HashMismatch {
        file: String,
        expected: String,
        actual: String,
    },
    /// A shard whose header or archive is corrupt, or whose content contradicts the manifest.
    #[error("{file}: corrupt shard: {reason}")]
    Corrupt { file: String, reason: String },
    /// A query needs a shard file that has not been added yet.
    #[error("{file}: needed by the query but not loaded")]
    NotLoaded { file: String },
    /// A shard could not be serialised (for example, it exceeds the archive's size limits).
    #[error("{stem}: serialising the shard failed: {reason}")]
    Encode { stem: String, reason: String },
    /// The sink given to the writer refused a file.
    #[error("{file}: the sink failed to store it")]
    Sink {
        file: String,
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
}
