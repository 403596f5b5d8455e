//! `precompute index`: features (`.npy`) to index shards, the partitioned k-NN's files
//! and a manifest.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use branches::{NegativePool, PoolSettings};
use clap::Args;
use index_shards::{
    Centroids, Features, KdTree, KnnManifest, MANIFEST_NAME, MIN_PARTITIONED_ROWS, Manifest,
    PartitionConfig, RowBlocksConfig, RowsManifest, ShardConfig, ShardFile, TreeBuilder,
    TreeSetConfig, index_manifest, write_features, write_knn_lists, write_row_blocks, write_tree,
};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::dataset::read_u8_rows;
use crate::output::{write_atomic, write_content_named};
use crate::part::{Part, PartArgs};

/// Build the index shards and manifest of a feature matrix.
#[derive(Args)]
pub struct IndexArgs {
    /// An (n, d) .npy of u8 (already quantised) or f32/f64 (L2-normalised and quantised here).
    #[arg(long)]
    features: PathBuf,
    /// Output folder; created if missing. Shards of an earlier index there are replaced.
    #[arg(long)]
    out: PathBuf,
    /// At most this many points per kd-tree leaf.
    #[arg(long, default_value_t = 500)]
    leaf_size: usize,
    /// Feature subsets, as `dims:count` groups.
    #[arg(long, default_value = "4:64,6:32,8:8", value_parser = parse_subsets)]
    subsets: SubsetGroups,
    /// Seed of the subset draw.
    #[arg(long, default_value_t = TreeSetConfig::default().seed)]
    seed: u64,
    #[command(flatten)]
    shards: ShardSizes,
    #[command(flatten)]
    knn: KnnListsArg,
    /// Build only this part's trees (tree t when t mod n = i), for a split run: each part
    /// records its trees in OUT/.work/trees, and the run without a part (once every part
    /// is done) writes the rest and the manifest, reusing them.
    #[command(flatten)]
    part: PartArgs,
}

/// How large the index's files may be.
#[derive(Args, Clone, Copy, Debug)]
pub struct ShardSizes {
    /// Upper size of a features shard file, in bytes (a small collection's browser fetches
    /// them all).
    #[arg(long, default_value_t = ShardConfig::default().max_shard_bytes)]
    max_shard_bytes: usize,
    /// Upper size of a leaf file (a subtree of a kd-tree), in bytes: a box fetches every
    /// leaf file it reaches, and each tree's top lists its leaf files.
    #[arg(long, default_value_t = ShardConfig::default().max_leaf_shard_bytes)]
    max_leaf_shard_bytes: usize,
}

impl ShardSizes {
    /// The writers' setting.
    pub fn config(self) -> ShardConfig {
        ShardConfig {
            max_shard_bytes: self.max_shard_bytes,
            max_leaf_shard_bytes: self.max_leaf_shard_bytes,
        }
    }
}

/// How many lists the partitioned k-NN gets.
#[derive(Args, Clone, Copy, Debug, Default)]
pub struct KnnListsArg {
    /// Lists of the partitioned k-NN (0: none, only the exact scan); default: about
    /// sqrt(images) from 100,000 images on, none below. An index with lists also gets the
    /// row blocks and the stored pool of random negatives, so a browser reads rows by id.
    #[arg(long)]
    knn_lists: Option<usize>,
}

impl KnnListsArg {
    /// The partition of `n` rows, or `None` when there is to be none.
    fn partition(self, n: usize) -> Option<PartitionConfig> {
        let default = PartitionConfig::for_rows(n);
        match self.knn_lists {
            Some(0) => None,
            Some(lists) => Some(PartitionConfig { lists, ..default }),
            None => (n >= MIN_PARTITIONED_ROWS).then_some(default),
        }
    }
}

/// `(dims per subset, number of subsets)` groups.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct SubsetGroups(pub(crate) Vec<(usize, usize)>);

/// `4:64,6:32` to `[(4, 64), (6, 32)]`.
pub(crate) fn parse_subsets(text: &str) -> Result<SubsetGroups, String> {
    text.split(',')
        .map(|group| {
            let (dims, count) = group
                .split_once(':')
                .ok_or_else(|| format!("'{group}' is not dims:count"))?;
            let number = |s: &str| {
                s.trim()
                    .parse::<usize>()
                    .map_err(|_| format!("'{s}' in '{group}' is not a whole number"))
            };
            Ok((number(dims)?, number(count)?))
        })
        .collect::<Result<_, _>>()
        .map(SubsetGroups)
}

/// Runs the subcommand.
pub fn run(args: &IndexArgs) -> Result<()> {
    let (features, dims) = read_u8_rows(&args.features)?;
    let config = TreeSetConfig {
        leaf_size: args.leaf_size,
        subsets: args.subsets.0.clone(),
        seed: args.seed,
    };
    let part = args.part.part()?.unwrap_or(Part::WHOLE);
    if part != Part::WHOLE {
        let written = write_trees(
            &features,
            dims,
            &config,
            &args.shards.config(),
            &args.out,
            part,
        )?;
        eprintln!(
            "part {}/{}: {} trees recorded in {}; run `precompute index` without a part to finish",
            part.index,
            part.count,
            written.len(),
            args.out.join(TREE_RECORDS).display()
        );
        return Ok(());
    }
    let IndexShards {
        mut manifest,
        mut leaf_packs,
    } = write_index_shards(&features, dims, &config, &args.shards.config(), &args.out)?;
    manifest.knn = write_knn_parts(&features, dims, args.knn, &args.out)?;
    let rows = write_row_parts(&features, dims, args.knn, &args.out)?;
    manifest.rows = rows.as_ref().map(|rows| rows.manifest.clone());
    write_index_manifest(&args.out, &manifest)?;
    leaf_packs.extend(rows.map(|rows| rows.files).unwrap_or_default());
    let removed = remove_stale_shards(&args.out, &manifest, &leaf_packs)?;
    if removed > 0 {
        eprintln!("removed {removed} stale shards");
    }
    Ok(())
}

/// The features and trees of an index as written: the manifest (its `knn` and `rows`
/// sections still to add), and the packs of leaf files, which the tree tops name.
pub struct IndexShards {
    /// The manifest, which [`write_index_manifest`] writes.
    pub manifest: Manifest,
    /// Every tree's pack of leaf files.
    pub leaf_packs: Vec<String>,
}

/// Builds the trees of quantised `features` (rows of `dims`) and writes their shards into
/// `out`, skipping shards already there (and removing the temporary files of a killed
/// run), and reusing the trees recorded by an earlier run or part of the same inputs
/// ([`write_trees`]). The shards of an earlier index stay until [`remove_stale_shards`],
/// for readers of its manifest.
pub fn write_index_shards(
    features: &[u8],
    dims: usize,
    config: &TreeSetConfig,
    shards: &ShardConfig,
    out: &Path,
) -> Result<IndexShards> {
    let started = Instant::now();
    fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    ingest::output::remove_abandoned_temporaries(out)?;
    let rows = Features::new(features, dims)?;
    let mut files = write_features(rows, shards, |name, bytes| {
        write_content_named(&out.join(name), bytes)
    })
    .context("cannot write the features")?;
    let trees = write_trees(features, dims, config, shards, out, Part::WHOLE)?;
    let subsets = trees.iter().map(|t| t.subset.clone()).collect();
    let mut leaf_packs = Vec::new();
    for tree in trees {
        files.push(tree.top);
        leaf_packs.extend(tree.leaf_packs.into_iter().map(|file| file.name));
    }
    let manifest = index_manifest(rows, config, subsets, files);
    let written: u64 = manifest.files.iter().map(|f| f.bytes).sum::<u64>();
    eprintln!(
        "index of {} x {dims} in {}: {} files listed by the manifest and {} packs of leaf files ({:.1} MiB without the packs) in {:.2?}",
        rows.len(),
        out.display(),
        manifest.files.len(),
        leaf_packs.len(),
        written as f64 / f64::from(1 << 20),
        started.elapsed()
    );
    Ok(IndexShards {
        manifest,
        leaf_packs,
    })
}

/// Where `precompute index` records each tree it wrote, inside the output folder.
const TREE_RECORDS: &str = ".work/trees";

/// One written tree, as recorded in [`TREE_RECORDS`]: enough to list it in a manifest and
/// to keep its files, without building it again.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct TreeRecord {
    /// What the tree was built from: [`tree_inputs`].
    inputs: String,
    /// The tree's feature subset.
    subset: Vec<u16>,
    /// Its top file's manifest entry.
    top: ShardFile,
    /// The pack of its leaf files, which the top names.
    leaf_packs: Vec<RecordedFile>,
}

/// A file of a recorded tree: its name and the blake3 of its bytes, checked before the
/// tree is reused, so a damaged file is written again (as any content-named file is).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct RecordedFile {
    name: String,
    blake3: String,
}

impl TreeRecord {
    /// Whether every file of the tree is in `out` with the bytes it was written with.
    fn is_whole_in(&self, out: &Path) -> bool {
        let top = RecordedFile {
            name: self.top.name.clone(),
            blake3: self.top.blake3.clone(),
        };
        std::iter::once(&top).chain(&self.leaf_packs).all(|file| {
            fs::read(out.join(&file.name))
                .is_ok_and(|bytes| blake3::hash(&bytes).to_hex().as_str() == file.blake3)
        })
    }
}

/// The blake3 of everything a tree's files follow from: the format, the features, the
/// tree-set config and the file sizes. A record of other inputs is never reused, so a part
/// whose features changed under it is built again, not mixed in.
fn tree_inputs(
    features: &[u8],
    dims: usize,
    config: &TreeSetConfig,
    shards: &ShardConfig,
) -> String {
    let mut hasher = blake3::Hasher::new();
    let settings = format!(
        "format {} dims {dims} leaf_size {} subsets {:?} seed {} shard bytes {} leaf file bytes {}",
        index_shards::FORMAT_VERSION,
        config.leaf_size,
        config.subsets,
        config.seed,
        shards.max_shard_bytes,
        shards.max_leaf_shard_bytes
    );
    hasher.update(settings.as_bytes());
    hasher.update(features);
    hasher.finalize().to_hex().to_string()
}

/// Builds and writes the trees of `part` into `out` (every tree for [`Part::WHOLE`]), a
/// tree per thread at a time, each recorded in [`TREE_RECORDS`] once its files are
/// written; a tree recorded before with the same inputs and whose files all hold the bytes
/// recorded is not built again. Memory holds the features twice (rows and columns) and a few trees,
/// never the whole set (about 9 GB at 10M images). The records of the part's trees, in
/// tree order.
fn write_trees(
    features: &[u8],
    dims: usize,
    config: &TreeSetConfig,
    shards: &ShardConfig,
    out: &Path,
    part: Part,
) -> Result<Vec<TreeRecord>> {
    let rows = Features::new(features, dims)?;
    let inputs = tree_inputs(features, dims, config, shards);
    let builder = TreeBuilder::new(rows, config).context("cannot build the tree set")?;
    let records_dir = out.join(TREE_RECORDS);
    fs::create_dir_all(&records_dir)
        .with_context(|| format!("cannot create {}", records_dir.display()))?;
    let record_path = |t: usize| records_dir.join(format!("tree-{t:03}.json"));
    let mut records: Vec<Option<TreeRecord>> = Vec::new();
    let mut todo = Vec::new();
    for t in (0..builder.subsets().len()).filter(|t| t % part.count == part.index) {
        let reused = fs::read(record_path(t))
            .ok()
            .and_then(|bytes| serde_json::from_slice::<TreeRecord>(&bytes).ok())
            .filter(|r| r.inputs == inputs && r.is_whole_in(out));
        if reused.is_none() {
            todo.push((t, records.len()));
        }
        records.push(reused);
    }
    let bar = ProgressBar::new(records.len() as u64).with_style(
        ProgressStyle::with_template(
            "{bar:30} {pos}/{len} trees over {msg} [{elapsed}, {eta} left]",
        )
        .expect("valid template"),
    );
    bar.set_message(format!("{} x {dims}", rows.len()));
    bar.set_position((records.len() - todo.len()) as u64);
    bar.enable_steady_tick(Duration::from_millis(120));
    for batch in todo.chunks(rayon::current_num_threads().max(1)) {
        let built: Vec<KdTree> = batch
            .par_iter()
            .map(|&(t, _)| builder.build(t))
            .collect::<Result<_, _>>()
            .context("cannot build a tree")?;
        for (&(t, slot), tree) in batch.iter().zip(&built) {
            let mut leaf_packs = Vec::new();
            let subset = &builder.subsets()[t];
            let top = write_tree(t, tree, subset, config, shards, |name, bytes| {
                write_content_named(&out.join(name), bytes)?;
                leaf_packs.push(RecordedFile {
                    name: name.to_owned(),
                    blake3: blake3::hash(bytes).to_hex().to_string(),
                });
                Ok::<_, anyhow::Error>(())
            })
            .context("cannot write a tree")?;
            leaf_packs.retain(|file| file.name != top.name);
            let record = TreeRecord {
                inputs: inputs.clone(),
                subset: subset.clone(),
                top,
                leaf_packs,
            };
            write_atomic(&record_path(t), &serde_json::to_vec_pretty(&record)?)?;
            records[slot] = Some(record);
            bar.inc(1);
        }
    }
    bar.finish();
    eprintln!(
        "trees: {} reused from earlier runs, {} built",
        records.len() - todo.len(),
        todo.len()
    );
    Ok(records.into_iter().flatten().collect())
}

/// Trains the partitioned k-NN of quantised `features` (rows of `dims`) and writes its
/// files into `out` (skipping files already there), with progress; returns the manifest
/// section, or `None` where `lists` asks for no partition (small sets by default). Holds
/// two `u32` per row beside `features` while it writes.
pub fn write_knn_parts(
    features: &[u8],
    dims: usize,
    lists: KnnListsArg,
    out: &Path,
) -> Result<Option<KnnManifest>> {
    let n = features.len() / dims.max(1);
    let Some(config) = lists.partition(n) else {
        return Ok(None);
    };
    let features = Features::new(features, dims)?;
    let started = Instant::now();
    let bar = ProgressBar::new_spinner().with_message(format!(
        "training {} k-NN centroids on a sample of {} rows",
        config.lists,
        (config.lists * config.sample_per_list).min(n)
    ));
    bar.enable_steady_tick(Duration::from_millis(120));
    let centroids =
        Centroids::train(features, &config).context("cannot train the k-NN centroids")?;
    bar.finish_with_message(format!(
        "trained {} k-NN centroids in {:.2?}",
        centroids.len(),
        started.elapsed()
    ));
    fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let bar = ProgressBar::new(centroids.len() as u64 + 1).with_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} k-NN files, {msg} [{elapsed}]")
            .expect("valid template"),
    );
    bar.set_message(format!("assigning {n} rows to their lists"));
    bar.enable_steady_tick(Duration::from_millis(120));
    let mut written = 0u64;
    let knn = write_knn_lists(features, &centroids, |name, bytes| {
        write_content_named(&out.join(name), bytes)?;
        written += bytes.len() as u64;
        bar.inc(1);
        bar.set_message(format!("{:.1} MiB", written as f64 / f64::from(1 << 20)));
        Ok::<_, anyhow::Error>(())
    })
    .context("cannot write the k-NN lists")?;
    bar.finish();
    eprintln!(
        "wrote {} k-NN files ({:.1} MiB) in {:.2?}",
        knn.lists.len() + 1,
        written as f64 / f64::from(1 << 20),
        started.elapsed()
    );
    Ok(Some(knn))
}

/// The row blocks written beside an index: the manifest section, and the names of every
/// page and block (the manifest names only the top table and the pool).
pub struct RowParts {
    /// The manifest section.
    pub manifest: RowsManifest,
    /// Every row-block file written.
    pub files: Vec<String>,
}

/// Writes the row blocks and the pool of random negatives (`branches`' default pool, the
/// one `search` and the app draw from) of an index that gets a partitioned k-NN, into
/// `out`; `None` for an index without one (it is small enough to fetch whole).
pub fn write_row_parts(
    features: &[u8],
    dims: usize,
    lists: KnnListsArg,
    out: &Path,
) -> Result<Option<RowParts>> {
    let n = features.len() / dims.max(1);
    if lists.partition(n).is_none() {
        return Ok(None);
    }
    let features = Features::new(features, dims)?;
    let count = u32::try_from(n).context("more images than u32 ids can name")?;
    let pool = NegativePool::new(count, PoolSettings::default());
    let config = RowBlocksConfig::default();
    let blocks = n.div_ceil(config.block_rows);
    let files_total = blocks + blocks.div_ceil(config.blocks_per_page) + 2;
    fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let started = Instant::now();
    let bar = ProgressBar::new(files_total as u64).with_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} row-block files, {msg} [{elapsed}]")
            .expect("valid template"),
    );
    let (mut written, mut files) = (0u64, Vec::with_capacity(files_total));
    let manifest = write_row_blocks(features, pool.ids(), &config, |name, bytes| {
        write_content_named(&out.join(name), bytes)?;
        written += bytes.len() as u64;
        files.push(name.to_owned());
        bar.inc(1);
        bar.set_message(format!("{:.1} MiB", written as f64 / f64::from(1 << 20)));
        Ok::<_, anyhow::Error>(())
    })
    .context("cannot write the row blocks")?;
    bar.finish();
    eprintln!(
        "wrote {} row-block files ({:.1} MiB, a pool of {} rows) in {:.2?}",
        files.len(),
        written as f64 / f64::from(1 << 20),
        pool.ids().len(),
        started.elapsed()
    );
    Ok(Some(RowParts { manifest, files }))
}

/// Writes `manifest` as `out/manifest.json`, replacing the one readers may be using.
fn write_index_manifest(out: &Path, manifest: &Manifest) -> Result<()> {
    write_atomic(&out.join(MANIFEST_NAME), &manifest.to_json())
}

/// Deletes `.shard` files of `dir` that neither `manifest` nor `tabled` (the files its
/// tables name: the leaf files the tree tops list, the row blocks' pages and blocks) name;
/// returns how many.
pub fn remove_stale_shards(dir: &Path, manifest: &Manifest, tabled: &[String]) -> Result<usize> {
    let keep: HashSet<&str> = manifest
        .file_names()
        .chain(tabled.iter().map(String::as_str))
        .collect();
    let mut removed = 0;
    for entry in fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.ends_with(".shard") && !keep.contains(name) {
            fs::remove_file(entry.path())
                .with_context(|| format!("cannot remove {}", entry.path().display()))?;
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::{SubsetGroups, parse_subsets};

    #[test]
    fn parses_subset_groups() {
        assert_eq!(
            parse_subsets("4:64,6:32,8:8"),
            Ok(SubsetGroups(vec![(4, 64), (6, 32), (8, 8)]))
        );
        assert!(parse_subsets("4-64").unwrap_err().contains("dims:count"));
        assert!(parse_subsets("4:x").unwrap_err().contains("'x'"));
    }
}
