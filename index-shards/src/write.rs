//! Writing an index as shard files and a manifest, through a caller's sink (a CLI streams
//! them to disk; a test keeps them in memory).
//!
//! Shards are split so a client fetches only what a query needs: features in chunks of
//! bounded size; per tree a small top shard (subset, shape, node bounds) and its leaves in
//! chunks of bounded size, each a power-of-two run of leaves (a whole subtree). Output is
//! a pure function of the features and the tree set: byte-identical on every run.

use std::error::Error as StdError;

use crate::layout::{leaves_per_shard, rows_per_features_shard};
use crate::manifest::{MANIFEST_NAME, Manifest, ShardFile, ShardKind};
use crate::shard::{FeaturesShard, KindCode, TreeLeavesShard, TreeTopShard, encode};
use crate::{FORMAT_VERSION, Features, IndexError, TreeSet};

/// How to split an index into shard files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardConfig {
    /// Target upper size of a features or leaves shard; a single row or leaf larger than
    /// this still gets a shard of its own.
    pub max_shard_bytes: usize,
}

impl Default for ShardConfig {
    /// 4 MiB: few requests per query, little waste when a box needs one subtree.
    fn default() -> Self {
        Self {
            max_shard_bytes: 4 << 20,
        }
    }
}

/// Writes every shard of `features` and `trees`, then `manifest.json`, to `sink(name,
/// bytes)`, and returns the manifest. Shard names are `<stem>.<first 16 hex of
/// blake3>.shard`.
///
/// # Errors
/// [`IndexError::Mismatch`] if `features` is not the collection `trees` was built on,
/// [`IndexError::Sink`] if the sink fails (naming the file), [`IndexError::Encode`].
pub fn write_index<E>(
    features: Features<'_>,
    trees: &TreeSet,
    config: &ShardConfig,
    mut sink: impl FnMut(&str, &[u8]) -> Result<(), E>,
) -> Result<Manifest, IndexError>
where
    E: Into<Box<dyn StdError + Send + Sync>>,
{
    for (what, left, right) in [
        (
            "feature rows and tree set points",
            features.len(),
            trees.len(),
        ),
        (
            "feature dims and tree set dims",
            features.dims(),
            trees.dims(),
        ),
    ] {
        if left != right {
            return Err(IndexError::Mismatch {
                what,
                left: left as u64,
                right: right as u64,
            });
        }
    }
    let mut files = Vec::new();
    let mut put = |stem: String, kind: ShardKind, bytes: Vec<u8>| -> Result<(), IndexError> {
        let (name, hash) = write_content_named(&stem, &bytes, &mut sink)?;
        files.push(ShardFile {
            name,
            kind,
            bytes: bytes.len() as u64,
            blake3: hash,
        });
        Ok(())
    };

    let dims = features.dims();
    let rows_per_shard = rows_per_features_shard(dims, config);
    for (index, first) in (0..features.len()).step_by(rows_per_shard).enumerate() {
        let rows = rows_per_shard.min(features.len() - first);
        let stem = features_stem(index);
        let shard = FeaturesShard {
            dims: dims as u32,
            first_row: first as u64,
            rows: rows as u64,
            data: features.data()[first * dims..(first + rows) * dims].to_vec(),
        };
        let bytes = encode(&stem, KindCode::Features, &shard)?;
        put(
            stem,
            ShardKind::Features {
                first_row: first as u64,
                rows: rows as u64,
            },
            bytes,
        )?;
    }

    for (t, (tree, subset)) in trees.trees().iter().zip(trees.subsets()).enumerate() {
        let shape = *tree.shape();
        let stem = tree_top_stem(t);
        let top = TreeTopShard {
            tree: t as u32,
            subset: subset.clone(),
            n_points: shape.n_points() as u64,
            leaf_size: trees.config().leaf_size as u64,
            depth: shape.depth(),
            leaf_capacity: shape.leaf_capacity() as u64,
            bounds: tree.bounds.clone(),
        };
        let bytes = encode(&stem, KindCode::TreeTop, &top)?;
        put(stem, ShardKind::TreeTop { tree: t }, bytes)?;

        let leaf_slots = shape.leaf_capacity() * shape.dims();
        let per_chunk = leaves_per_shard(&shape, config);
        for first in (0..shape.leaves()).step_by(per_chunk) {
            let last = first + per_chunk - 1;
            let stem = tree_leaves_stem(t, first, last);
            let cap = shape.leaf_capacity();
            let shard = TreeLeavesShard {
                tree: t as u32,
                first_leaf: first as u64,
                leaf_count: per_chunk as u64,
                points: tree.points[first * leaf_slots..(last + 1) * leaf_slots].to_vec(),
                ids: tree.ids[first * cap..(last + 1) * cap].to_vec(),
            };
            let bytes = encode(&stem, KindCode::TreeLeaves, &shard)?;
            put(
                stem,
                ShardKind::TreeLeaves {
                    tree: t,
                    first_leaf: first,
                    last_leaf: last,
                },
                bytes,
            )?;
        }
    }

    let manifest = Manifest {
        format_version: FORMAT_VERSION,
        dims,
        n_points: features.len() as u64,
        leaf_size: trees.config().leaf_size,
        seed: trees.config().seed,
        subsets: trees.subsets().to_vec(),
        files,
        knn: None,
        rows: None,
    };
    sink(MANIFEST_NAME, &manifest.to_json()).map_err(|e| IndexError::Sink {
        file: MANIFEST_NAME.into(),
        source: e.into(),
    })?;
    Ok(manifest)
}

/// Hands `bytes` to `sink` as `<stem>.<first 16 hex of their blake3>.shard`, the one naming
/// rule of every index file (a changed file gets a new name, so caches never go stale);
/// returns the name and the full hash.
pub(crate) fn write_content_named<E>(
    stem: &str,
    bytes: &[u8],
    sink: &mut impl FnMut(&str, &[u8]) -> Result<(), E>,
) -> Result<(String, String), IndexError>
where
    E: Into<Box<dyn StdError + Send + Sync>>,
{
    let hash = blake3::hash(bytes).to_hex().to_string();
    let name = content_name(stem, &hash);
    sink(&name, bytes).map_err(|e| IndexError::Sink {
        file: name.clone(),
        source: e.into(),
    })?;
    Ok((name, hash))
}

/// The stem of features shard `index`.
pub(crate) fn features_stem(index: usize) -> String {
    format!("features-{index:04}")
}

/// The stem of tree `tree`'s top shard.
pub(crate) fn tree_top_stem(tree: usize) -> String {
    format!("tree-{tree:03}-top")
}

/// The stem of tree `tree`'s shard of leaves `first..=last`.
pub(crate) fn tree_leaves_stem(tree: usize, first: usize, last: usize) -> String {
    format!("tree-{tree:03}-leaves-{first:04}-{last:04}")
}

/// The name of the file `stem` whose blake3 is `hash` (hex): the naming rule of
/// [`write_content_named`], also used to name a file from a table of hashes.
pub(crate) fn content_name(stem: &str, hash: &str) -> String {
    format!("{stem}.{}.shard", &hash[..16])
}
