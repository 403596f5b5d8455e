//! Writing an index as shard files and a manifest, through a caller's sink (a CLI streams
//! them to disk; a test keeps them in memory).
//!
//! Shards are split so a client fetches only what a query needs: features in chunks of
//! bounded size; per tree a small top file (subset, shape, the bounds of its upper levels,
//! the table of its leaf files) and its leaf files of bounded size, each a whole subtree
//! (its nodes' bounds and a power-of-two run of leaves). Output is a pure function of the
//! features and the tree set: byte-identical on every run, whether the trees are written
//! together ([`write_index`]) or one at a time ([`write_tree`]).

use std::error::Error as StdError;

use crate::layout::{leaves_per_shard, rows_per_features_shard};
use crate::manifest::{MANIFEST_NAME, Manifest, ShardFile, ShardKind};
use crate::shard::{
    ArchivedTreeTopShard, FeaturesShard, KindCode, TreeLeavesShard, TreeTopShard, encode, open,
};
use crate::{FORMAT_VERSION, Features, IndexError, KdTree, TreeSet, TreeSetConfig};

/// How to split an index into shard files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardConfig {
    /// Target upper size of a features shard; a single row larger than this still gets a
    /// shard of its own.
    pub max_shard_bytes: usize,
    /// Target upper size of a leaf file (a subtree's bounds and leaves); a single leaf
    /// larger than this still gets a file of its own.
    pub max_leaf_shard_bytes: usize,
}

impl Default for ShardConfig {
    /// Features in 4 MiB (a small collection fetches them all, in few requests); leaves in
    /// 128 KiB, since a box fetches every leaf file it reaches, and the tree's top lists
    /// them (its size grows as they shrink: 41 bytes and two nodes' bounds per file).
    fn default() -> Self {
        Self {
            max_shard_bytes: 4 << 20,
            max_leaf_shard_bytes: 128 << 10,
        }
    }
}

impl ShardConfig {
    /// Features shards and leaf files both of at most `bytes`.
    pub fn uniform(bytes: usize) -> Self {
        Self {
            max_shard_bytes: bytes,
            max_leaf_shard_bytes: bytes,
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
    let mut files = write_features(features, config, &mut sink)?;
    for (t, (tree, subset)) in trees.trees().iter().zip(trees.subsets()).enumerate() {
        files.push(write_tree(
            t,
            tree,
            subset,
            trees.config(),
            config,
            &mut sink,
        )?);
    }
    let manifest = index_manifest(features, trees.config(), trees.subsets().to_vec(), files);
    sink(MANIFEST_NAME, &manifest.to_json()).map_err(|e| IndexError::Sink {
        file: MANIFEST_NAME.into(),
        source: e.into(),
    })?;
    Ok(manifest)
}

/// Writes the features shards of `features` through `sink`; their manifest entries.
///
/// # Errors
/// [`IndexError::Sink`] naming the file, [`IndexError::Encode`].
pub fn write_features<E>(
    features: Features<'_>,
    config: &ShardConfig,
    mut sink: impl FnMut(&str, &[u8]) -> Result<(), E>,
) -> Result<Vec<ShardFile>, IndexError>
where
    E: Into<Box<dyn StdError + Send + Sync>>,
{
    let dims = features.dims();
    let rows_per_shard = rows_per_features_shard(dims, config);
    let mut files = Vec::new();
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
        let kind = ShardKind::Features {
            first_row: first as u64,
            rows: rows as u64,
        };
        files.push(listed(stem, kind, &bytes, &mut sink)?);
    }
    Ok(files)
}

/// Writes tree `t` (over `subset`, built with `trees`) through `sink`: the pack of its leaf
/// files, then its top, which lists them and names the pack; the top's manifest entry. Each tree is written alone,
/// so a writer may build, write and drop the trees one at a time ([`crate::TreeBuilder`]).
///
/// # Errors
/// [`IndexError::Sink`] naming the file, [`IndexError::Encode`].
pub fn write_tree<E>(
    t: usize,
    tree: &KdTree,
    subset: &[u16],
    trees: &TreeSetConfig,
    config: &ShardConfig,
    mut sink: impl FnMut(&str, &[u8]) -> Result<(), E>,
) -> Result<ShardFile, IndexError>
where
    E: Into<Box<dyn StdError + Send + Sync>>,
{
    let shape = *tree.shape();
    let leaf_slots = shape.leaf_capacity() * shape.dims();
    let cap = shape.leaf_capacity();
    let per_chunk = leaves_per_shard(&shape, config);
    let chunk_level = shape.depth() - per_chunk.ilog2();
    let (mut chunk_bytes, mut chunk_hashes) = (Vec::new(), Vec::new());
    let mut pack = Vec::new();
    for (k, first) in (0..shape.leaves()).step_by(per_chunk).enumerate() {
        let last = first + per_chunk - 1;
        let stem = tree_leaves_stem(t, first, last);
        let shard = TreeLeavesShard {
            tree: t as u32,
            first_leaf: first as u64,
            leaf_count: per_chunk as u64,
            bounds: tree.subtree_bounds(chunk_level, k),
            points: tree.points[first * leaf_slots..(last + 1) * leaf_slots].to_vec(),
            ids: tree.ids[first * cap..(last + 1) * cap].to_vec(),
        };
        let bytes = encode(&stem, KindCode::TreeLeaves, &shard)?;
        chunk_bytes.push(bytes.len() as u64);
        chunk_hashes.push(*blake3::hash(&bytes).as_bytes());
        pack.extend_from_slice(&bytes);
    }
    let (_, pack_hash) = write_content_named(&tree_pack_stem(t), &pack, &mut sink)?;
    let stem = tree_top_stem(t);
    let top = TreeTopShard {
        tree: t as u32,
        subset: subset.to_vec(),
        n_points: shape.n_points() as u64,
        leaf_size: trees.leaf_size as u64,
        depth: shape.depth(),
        leaf_capacity: shape.leaf_capacity() as u64,
        chunk_level,
        bounds: tree.bounds[..shape.bounds_len_to(chunk_level)].to_vec(),
        chunk_bytes,
        chunk_hashes,
        pack_hash: *blake3::Hash::from_hex(&pack_hash)
            .expect("blake3 hex")
            .as_bytes(),
    };
    let bytes = encode(&stem, KindCode::TreeTop, &top)?;
    listed(stem, ShardKind::TreeTop { tree: t }, &bytes, &mut sink)
}

/// The manifest of an index of `features` with trees over `subsets` (built with `trees`),
/// from its files' entries ([`write_features`], then [`write_tree`] in tree order); its
/// `knn` and `rows` sections empty.
pub fn index_manifest(
    features: Features<'_>,
    trees: &TreeSetConfig,
    subsets: Vec<Vec<u16>>,
    files: Vec<ShardFile>,
) -> Manifest {
    Manifest {
        format_version: FORMAT_VERSION,
        dims: features.dims(),
        n_points: features.len() as u64,
        leaf_size: trees.leaf_size,
        seed: trees.seed,
        subsets,
        files,
        knn: None,
        rows: None,
    }
}

/// Hands `bytes` to `sink` under its content name; its manifest entry.
fn listed<E>(
    stem: String,
    kind: ShardKind,
    bytes: &[u8],
    sink: &mut impl FnMut(&str, &[u8]) -> Result<(), E>,
) -> Result<ShardFile, IndexError>
where
    E: Into<Box<dyn StdError + Send + Sync>>,
{
    let (name, hash) = write_content_named(&stem, bytes, sink)?;
    Ok(ShardFile {
        name,
        kind,
        bytes: bytes.len() as u64,
        blake3: hash,
    })
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

/// The stem of tree `tree`'s pack: its leaf files, one after another.
pub(crate) fn tree_pack_stem(tree: usize) -> String {
    format!("tree-{tree:03}-leaves")
}

/// The stem of tree `tree`'s leaf file of leaves `first..=last`.
pub(crate) fn tree_leaves_stem(tree: usize, first: usize, last: usize) -> String {
    format!("tree-{tree:03}-leaves-{first:04}-{last:04}")
}

/// The name of the file `stem` whose blake3 is `hash` (hex): the naming rule of
/// [`write_content_named`], also used to name a file from a table of hashes.
pub(crate) fn content_name(stem: &str, hash: &str) -> String {
    format!("{stem}.{}.shard", &hash[..16])
}

/// A tree's top and pack with one leaf file replaced ([`relist_leaf_file`]).
#[doc(hidden)]
#[derive(Debug)]
pub struct Relisted {
    /// The top's new bytes.
    pub top: Vec<u8>,
    /// The pack's new name and bytes.
    pub pack: (String, Vec<u8>),
    /// The replaced leaf file's name.
    pub leaf: String,
}

/// The top file `top` (named `top_name`) and its `pack`, with `leaf` as leaf file `k`
/// instead and the tables made to agree: a writer's files around a broken leaf file, so
/// that tests and fuzzing reach the leaf checks behind the size and hash.
///
/// # Errors
/// As [`crate::LoadedIndex::add_file`] for a bad top; [`IndexError::Corrupt`] for a `k`
/// past its table or a pack shorter than the table says.
#[doc(hidden)]
pub fn relist_leaf_file(
    top_name: &str,
    top: &[u8],
    pack: &[u8],
    k: usize,
    leaf: &[u8],
) -> Result<Relisted, IndexError> {
    let mut aligned = rkyv::util::AlignedVec::<16>::with_capacity(top.len());
    aligned.extend_from_slice(top);
    let old: &ArchivedTreeTopShard = open(top_name, &aligned, KindCode::TreeTop)?;
    let mut relisted = TreeTopShard {
        tree: old.tree.to_native(),
        subset: old.subset.iter().map(|d| d.to_native()).collect(),
        n_points: old.n_points.to_native(),
        leaf_size: old.leaf_size.to_native(),
        depth: old.depth.to_native(),
        leaf_capacity: old.leaf_capacity.to_native(),
        chunk_level: old.chunk_level.to_native(),
        bounds: old.bounds.to_vec(),
        chunk_bytes: old.chunk_bytes.iter().map(|b| b.to_native()).collect(),
        chunk_hashes: old.chunk_hashes.to_vec(),
        pack_hash: old.pack_hash,
    };
    let corrupt = |reason: String| IndexError::Corrupt {
        file: top_name.into(),
        reason,
    };
    if relisted.chunk_level > relisted.depth || k >= relisted.chunk_bytes.len() {
        return Err(corrupt(format!("no leaf file {k}")));
    }
    let start: u64 = relisted.chunk_bytes[..k].iter().sum();
    let end = start + relisted.chunk_bytes[k];
    let (Ok(start), Ok(end)) = (usize::try_from(start), usize::try_from(end)) else {
        return Err(corrupt("leaf file sizes past memory".into()));
    };
    if end > pack.len() {
        return Err(corrupt(format!("a pack of {} bytes", pack.len())));
    }
    let new_pack = [&pack[..start], leaf, &pack[end..]].concat();
    let hash = blake3::hash(leaf);
    relisted.chunk_bytes[k] = leaf.len() as u64;
    relisted.chunk_hashes[k] = *hash.as_bytes();
    let pack_hash = blake3::hash(&new_pack);
    relisted.pack_hash = *pack_hash.as_bytes();
    let tree = relisted.tree as usize;
    let per_file = 1usize << (relisted.depth - relisted.chunk_level);
    let stem = tree_leaves_stem(tree, k * per_file, (k + 1) * per_file - 1);
    Ok(Relisted {
        top: encode(top_name, KindCode::TreeTop, &relisted)?,
        pack: (
            content_name(&tree_pack_stem(tree), &pack_hash.to_hex()),
            new_pack,
        ),
        leaf: content_name(&stem, &hash.to_hex()),
    })
}
