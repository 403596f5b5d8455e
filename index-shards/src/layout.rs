//! What an index of `n` rows holds on disk, and what a browser fetches for each action,
//! from the writers' own rules ([`crate::write_index`], [`crate::write_knn_lists`],
//! [`crate::write_row_blocks`]): the figures at 262.5M images without writing them.
//! Shard sizes are their payload and header; rkyv's own overhead (a few dozen bytes a
//! shard) is left out, and k-NN lists are taken at their mean size.

use crate::kdtree::TreeShape;
use crate::manifest::{Manifest, ShardFile, ShardKind};
use crate::partitioned_knn::{
    CENTROIDS_STEM, HEADER_LEN as KNN_HEADER_LEN, MIN_PARTITIONED_ROWS, list_stem,
};
use crate::row_blocks::{POOL_STEM, TOP_STEM};
use crate::shard::HEADER_LEN;
use crate::write::{content_name, features_stem, tree_top_stem};
use crate::{
    IndexError, KnnManifest, LazyFile, PartitionConfig, RowBlocksConfig, RowsManifest, ShardConfig,
    TreeSetConfig, default_nprobe, random_subsets,
};

/// A blake3 hash in hex that stands in for a file's own: the manifest's size depends only
/// on the hashes' length.
const PLACEHOLDER_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// A manifest entry of the right shape: the name and hash lengths of a written one.
fn placeholder(stem: &str, kind: ShardKind, bytes: u64) -> ShardFile {
    ShardFile {
        name: content_name(stem, PLACEHOLDER_HASH),
        kind,
        bytes,
        blake3: PLACEHOLDER_HASH.into(),
    }
}

/// One kind of file of the index: how many, and their bytes in all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileKind {
    /// The kind, as the file names begin.
    pub kind: &'static str,
    /// Files of the kind.
    pub files: u64,
    /// Their bytes, summed.
    pub bytes: u64,
}

impl FileKind {
    /// Mean bytes of one file.
    pub fn mean_bytes(&self) -> u64 {
        self.bytes.checked_div(self.files).unwrap_or(0)
    }
}

/// An index of `n` rows as the writers would write it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Rows.
    pub n: u64,
    /// Every kind of file, the manifest first.
    pub kinds: Vec<FileKind>,
    /// Lists a k-NN query probes by default (0 without a partitioned k-NN).
    pub nprobe: u64,
    /// Leaf shards per tree, by tree, and each tree's top bytes.
    trees: Vec<(u64, u64, u64)>,
}

/// What to lay out: the writers' settings.
#[derive(Clone, Debug, Default)]
pub struct LayoutConfig {
    /// Feature dims.
    pub dims: usize,
    /// The tree set.
    pub trees: TreeSetConfig,
    /// Shard sizes.
    pub shards: ShardConfig,
    /// Row blocks (with the partitioned k-NN).
    pub rows: RowBlocksConfig,
}

/// Rows of each features shard: as many as fit `config.max_shard_bytes`, at least one.
pub(crate) fn rows_per_features_shard(dims: usize, config: &ShardConfig) -> usize {
    (config.max_shard_bytes / dims.max(1)).max(1)
}

/// Leaves of each leaf file of a tree of `shape`: the largest power of two (a whole
/// subtree) whose leaves and node bounds (about two nodes a leaf) fit
/// `config.max_leaf_shard_bytes`, at least one, at most all.
pub(crate) fn leaves_per_shard(shape: &TreeShape, config: &ShardConfig) -> usize {
    let leaf_bytes = shape.leaf_capacity() * (shape.dims() + 4) + 4 * shape.dims();
    let fit = (config.max_leaf_shard_bytes / leaf_bytes).max(1);
    (1usize << fit.ilog2()).min(shape.leaves())
}

impl Layout {
    /// The index of `n` rows that `config` gives, with the partitioned k-NN and row blocks
    /// from [`MIN_PARTITIONED_ROWS`] rows on, as `precompute build` writes them.
    ///
    /// # Errors
    /// As [`TreeShape::new`], for dims or sizes no index can have.
    pub fn new(n: u64, config: &LayoutConfig) -> Result<Self, IndexError> {
        let rows = usize::try_from(n).map_err(|_| IndexError::TooManyPoints {
            n: usize::MAX,
            max: crate::features::MAX_POINTS,
        })?;
        let dims = config.dims as u64;
        let mut kinds = Vec::new();
        // The manifest as the writers would write it, with placeholder hashes.
        let mut manifest = Manifest {
            format_version: crate::FORMAT_VERSION,
            dims: config.dims,
            n_points: n,
            leaf_size: config.trees.leaf_size,
            seed: config.trees.seed,
            subsets: random_subsets(config.dims, &config.trees)?,
            files: Vec::new(),
            knn: None,
            rows: None,
        };
        let per_shard = rows_per_features_shard(config.dims, &config.shards) as u64;
        let features = FileKind {
            kind: "features",
            files: n.div_ceil(per_shard),
            bytes: n * dims + n.div_ceil(per_shard) * (HEADER_LEN as u64 + 24),
        };
        for (index, first) in (0..n).step_by(per_shard as usize).enumerate() {
            let rows = per_shard.min(n - first);
            manifest.files.push(placeholder(
                &features_stem(index),
                ShardKind::Features {
                    first_row: first,
                    rows,
                },
                rows * dims,
            ));
        }
        let mut trees = Vec::new();
        let (mut tops, mut leaves) = (
            FileKind {
                kind: "tree-*-top",
                files: 0,
                bytes: 0,
            },
            FileKind {
                kind: "tree-*-leaves",
                files: 0,
                bytes: 0,
            },
        );
        for &(subset_dims, count) in &config.trees.subsets {
            let shape = TreeShape::new(rows, subset_dims, config.trees.leaf_size)?;
            let per_shard = leaves_per_shard(&shape, &config.shards);
            let level = shape.depth() - per_shard.ilog2();
            let shards = 1u64 << level;
            // The top: its fields (80 bytes archived) and its pack's blake3, the bounds of
            // levels 0..=level, and per leaf file its size and blake3.
            let top = (HEADER_LEN + 2 * subset_dims + 112 + shape.bounds_len_to(level)) as u64
                + shards * 40;
            let leaf_file = (HEADER_LEN
                + shape.subtree_bounds_len(shape.depth() - level)
                + per_shard * shape.leaf_capacity() * (subset_dims + 4))
                as u64;
            for _ in 0..count {
                let tree = trees.len();
                manifest.files.push(placeholder(
                    &tree_top_stem(tree),
                    ShardKind::TreeTop { tree },
                    top,
                ));
                trees.push((shards, top, leaf_file));
                tops.files += 1;
                tops.bytes += top;
                // One pack of the tree's leaf files.
                leaves.files += 1;
                leaves.bytes += shards * leaf_file;
            }
        }
        let mut nprobe = 0;
        let mut lazy = Vec::new();
        if rows >= MIN_PARTITIONED_ROWS {
            let lists = PartitionConfig::for_rows(rows).lists as u64;
            nprobe = default_nprobe(lists as usize) as u64;
            let header = KNN_HEADER_LEN as u64;
            lazy.push(FileKind {
                kind: "knn-centroids",
                files: 1,
                bytes: header + lists * (dims + 4),
            });
            lazy.push(FileKind {
                kind: "knn-list",
                files: lists,
                bytes: lists * header + n * (4 + dims),
            });
            let blocks = n.div_ceil(config.rows.block_rows as u64);
            let pages = blocks.div_ceil(config.rows.blocks_per_page as u64);
            let pool = n.min(100_000);
            lazy.push(FileKind {
                kind: "rows-top",
                files: 1,
                bytes: pages * 32,
            });
            lazy.push(FileKind {
                kind: "rows-page",
                files: pages,
                bytes: blocks * 32,
            });
            lazy.push(FileKind {
                kind: "rows (blocks)",
                files: blocks,
                bytes: n * dims,
            });
            lazy.push(FileKind {
                kind: "rows-pool",
                files: 1,
                bytes: pool * (4 + dims),
            });
            let lazy_file = |stem: &str, rows: u64, bytes: u64| LazyFile {
                name: content_name(stem, PLACEHOLDER_HASH),
                rows,
                bytes,
                blake3: PLACEHOLDER_HASH.into(),
            };
            let list_bytes = header + (n / lists) * (4 + dims);
            manifest.knn = Some(KnnManifest {
                format_version: crate::KNN_FORMAT_VERSION,
                centroids: lazy_file(CENTROIDS_STEM, lists, header + lists * (dims + 4)),
                lists: (0..lists)
                    .map(|list| lazy_file(&list_stem(list as usize), n / lists, list_bytes))
                    .collect(),
            });
            manifest.rows = Some(RowsManifest {
                format_version: crate::ROWS_FORMAT_VERSION,
                block_rows: config.rows.block_rows as u32,
                blocks_per_page: config.rows.blocks_per_page as u32,
                top: lazy_file(TOP_STEM, pages, pages * 32),
                pool: lazy_file(POOL_STEM, pool, pool * (4 + dims)),
            });
        }
        kinds.push(FileKind {
            kind: "manifest",
            files: 1,
            bytes: manifest.to_json().len() as u64,
        });
        kinds.extend([features, tops, leaves]);
        kinds.extend(lazy);
        Ok(Self {
            n,
            kinds,
            nprobe,
            trees,
        })
    }

    /// The kind named `kind`, if the index has it.
    pub fn kind(&self, kind: &str) -> Option<&FileKind> {
        self.kinds.iter().find(|k| k.kind == kind)
    }

    /// Bytes stored per row, every file counted.
    pub fn bytes_per_row(&self) -> f64 {
        self.kinds.iter().map(|k| k.bytes).sum::<u64>() as f64 / self.n.max(1) as f64
    }

    fn mean(&self, kind: &str) -> u64 {
        self.kind(kind).map_or(0, FileKind::mean_bytes)
    }

    /// What the browser fetches for each action, `(action, bytes, what it counts)`. A
    /// round is taken with `labelled` labelled images whose rows are in no fetched file,
    /// boxes over `trees` trees that reach one leaf file each, and `held` images in the
    /// boxes with a post-tree, whose rows are fetched, each in a block of its own (the worst
    /// case; a box without one reads its depth from its leaves).
    pub fn actions(&self, labelled: u64, trees: u64, held: u64) -> Vec<(String, u64, String)> {
        let manifest = self.mean("manifest");
        let mut actions = Vec::new();
        if self.nprobe == 0 {
            let features = self.kind("features").map_or(0, |k| k.bytes);
            actions.push((
                "open (first k-NN ready)".into(),
                manifest + features,
                "the manifest and every feature shard".into(),
            ));
            actions.push((
                "a k-NN page (text or more like this)".into(),
                0,
                "nothing: every row is in memory".into(),
            ));
        } else {
            actions.push((
                "open (first k-NN ready)".into(),
                manifest + self.mean("knn-centroids"),
                "the manifest and the centroids".into(),
            ));
            actions.push((
                "a k-NN page (text or more like this)".into(),
                self.nprobe * self.mean("knn-list"),
                format!(
                    "{} probed lists of {} bytes",
                    self.nprobe,
                    self.mean("knn-list")
                ),
            ));
        }
        let top_bytes: u64 = self.trees.iter().take(trees as usize).map(|t| t.1).sum();
        let leaf_bytes: u64 = self.trees.iter().take(trees as usize).map(|t| t.2).sum();
        let tree_part = top_bytes + leaf_bytes;
        if self.nprobe == 0 {
            actions.push((
                format!("a first round ({trees} trees)"),
                tree_part,
                format!(
                    "{trees} tree tops ({top_bytes} bytes) and a leaf file each, read from its pack by a range request ({leaf_bytes})"
                ),
            ));
        } else {
            let blocks = self.kind("rows (blocks)").map_or(0, |k| k.files);
            let pages = self.kind("rows-page").map_or(0, |k| k.files);
            let rows_for = |ids: u64| {
                ids.min(blocks) * self.mean("rows (blocks)")
                    + ids.min(pages) * self.mean("rows-page")
            };
            let training = self.mean("rows-pool") + self.mean("rows-top") + rows_for(labelled);
            actions.push((
                format!("a first round ({labelled} labelled, {trees} trees, {held} held)"),
                training + tree_part + rows_for(held),
                format!(
                    "the pool and top table and {labelled} labelled rows ({training}), {trees} \
                     tree tops ({top_bytes}) and a leaf file each, read from its pack by a range request ({leaf_bytes}), the rows of \
                     {held} images that boxes with a post-tree hold ({})",
                    rows_for(held)
                ),
            ));
        }
        actions
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::synthetic::{RareClusterSet, SyntheticConfig};
    use crate::{Centroids, Features, TreeSet, write_index, write_knn_lists, write_row_blocks};

    /// The layout's counts and sizes against an index written with the same settings.
    #[test]
    fn the_layout_is_what_the_writers_write() {
        let n = MIN_PARTITIONED_ROWS;
        let set = RareClusterSet::generate(&SyntheticConfig {
            n,
            ..SyntheticConfig::default()
        });
        let config = LayoutConfig {
            dims: set.dims,
            trees: TreeSetConfig {
                leaf_size: 500,
                subsets: vec![(4, 2), (8, 1)],
                seed: 3,
            },
            shards: ShardConfig::uniform(256 << 10),
            rows: RowBlocksConfig::default(),
        };
        let features = Features::new(&set.features, set.dims).unwrap();
        let trees = TreeSet::build(&set.features, set.dims, &config.trees).unwrap();
        let mut files: HashMap<String, u64> = HashMap::new();
        let mut sink = |name: &str, bytes: &[u8]| {
            files.insert(name.to_owned(), bytes.len() as u64);
            Ok::<_, std::io::Error>(())
        };
        let mut manifest = write_index(features, &trees, &config.shards, &mut sink).unwrap();
        let centroids = Centroids::train(features, &PartitionConfig::for_rows(n)).unwrap();
        manifest.knn = Some(write_knn_lists(features, &centroids, &mut sink).unwrap());
        let pool: Vec<u32> = (0..n as u32).step_by(n / 100_000).collect();
        manifest.rows = Some(write_row_blocks(features, &pool, &config.rows, &mut sink).unwrap());
        files.insert("manifest.json".into(), manifest.to_json().len() as u64);

        let layout = Layout::new(n as u64, &config).unwrap();
        for kind in &layout.kinds {
            let prefix = kind.kind.trim_end_matches(" (blocks)").replace("-*", "");
            let written: Vec<u64> = files
                .iter()
                .filter(|(name, _)| match kind.kind {
                    "tree-*-top" => name.starts_with("tree-") && name.contains("-top."),
                    "tree-*-leaves" => name.starts_with("tree-") && name.contains("-leaves."),
                    "rows (blocks)" => name.starts_with("rows-0"),
                    "manifest" => name.as_str() == "manifest.json",
                    _ => name.starts_with(&prefix),
                })
                .map(|(_, &bytes)| bytes)
                .collect();
            assert_eq!(kind.files, written.len() as u64, "{kind:?}");
            let total: u64 = written.iter().sum();
            let off = (kind.bytes as f64 - total as f64).abs() / total as f64;
            assert!(off < 0.02, "{kind:?}: written {total} bytes ({off:.3} off)");
        }
    }
}
