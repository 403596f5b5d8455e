//! `precompute knn`: nearest images of query vectors, by the exact flat scan, the
//! reference's depth-first kd-tree, or the partitioned k-NN (reading only the centroids
//! and the lists each query probes, as the browser fetches them).

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use index_shards::{Features, KnnTree, Neighbour, PartitionedKnn, knn_exact};
use serde::Serialize;

use crate::dataset::{load_index, read_index_manifest, read_u8_rows};

/// Find the k nearest images of each query row.
#[derive(Args)]
pub struct KnnArgs {
    /// The index folder (manifest.json and its shards), or a dataset folder.
    #[arg(long)]
    index: PathBuf,
    /// An (m, d) .npy of queries: u8 (quantised) or f32 (L2-normalised and quantised here).
    #[arg(long)]
    query: PathBuf,
    /// Neighbours per query.
    #[arg(long, default_value_t = 60)]
    k: usize,
    /// Scan every image (exact) instead of the kd-tree.
    #[arg(long, conflicts_with = "partitioned")]
    exact: bool,
    /// Read only the lists of the partitioned k-NN that each query probes (an index of
    /// 100,000 images or more, or one built with --knn-lists); reports what it read.
    #[arg(long)]
    partitioned: bool,
    /// Lists each query probes with --partitioned (default: the index's default nprobe).
    #[arg(long, requires = "partitioned")]
    nprobe: Option<usize>,
    /// Leaf size of the kd-tree.
    #[arg(long, default_value_t = 500)]
    leaf_size: usize,
    /// Stop the kd-tree search after this many leaves (approximate); 0 = no limit.
    #[arg(long, default_value_t = 3000)]
    stop_leaves: usize,
}

/// Per query: ids by ascending distance (ties by id) and their squared distances.
#[derive(Default, Serialize)]
struct Response {
    results: Vec<Vec<u32>>,
    distances: Vec<Vec<u32>>,
}

/// Runs the subcommand.
pub fn run(args: &KnnArgs) -> Result<()> {
    let response = if args.partitioned {
        run_partitioned(args)?
    } else {
        run_in_memory(args)?
    };
    println!("{}", serde_json::to_string(&response)?);
    Ok(())
}

/// The query rows, checked against the index's dims.
fn read_queries(args: &KnnArgs, index_dims: usize) -> Result<Vec<u8>> {
    let (queries, dims) = read_u8_rows(&args.query)?;
    if dims != index_dims {
        bail!(
            "{}: queries have {dims} dims, the index has {index_dims}",
            args.query.display()
        );
    }
    Ok(queries)
}

impl Response {
    fn push(&mut self, found: &[Neighbour]) {
        self.results.push(found.iter().map(|n| n.id).collect());
        self.distances.push(found.iter().map(|n| n.dist).collect());
    }
}

/// Files and bytes read from the index folder.
#[derive(Default)]
struct ReadCount {
    files: usize,
    bytes: u64,
}

impl ReadCount {
    fn read(&mut self, dir: &Path, name: &str) -> Result<Vec<u8>> {
        let path = dir.join(name);
        let bytes = fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        self.files += 1;
        self.bytes += bytes.len() as u64;
        Ok(bytes)
    }
}

/// The partitioned k-NN: the manifest, the centroids, then per query the lists it probes
/// that no earlier query read (a browser's cache would keep them likewise).
fn run_partitioned(args: &KnnArgs) -> Result<Response> {
    let (manifest, path) = read_index_manifest(&args.index)?;
    let Some(knn) = &manifest.knn else {
        bail!(
            "{}: the index has no partitioned k-NN (built before it, or of fewer than {} images); \
             rebuild it with `precompute build` or `precompute index` (--knn-lists N for a small \
             set), or leave out --partitioned",
            path.display(),
            index_shards::MIN_PARTITIONED_ROWS
        );
    };
    let queries = read_queries(args, manifest.dims)?;
    let mut read = ReadCount::default();
    let centroids = read.read(&args.index, &knn.centroids.name)?;
    let mut index = PartitionedKnn::new(knn, manifest.dims, manifest.n_points, &centroids)
        .with_context(|| format!("invalid k-NN centroids in {}", args.index.display()))?;
    let nprobe = args.nprobe.unwrap_or_else(|| index.default_nprobe());
    let mut response = Response::default();
    for query in queries.chunks_exact(manifest.dims) {
        // A batch of lists at a time, until the probe is complete.
        loop {
            let missing: Vec<String> = index
                .missing_lists(query, nprobe, args.k)?
                .into_iter()
                .map(|f| f.name.clone())
                .collect();
            if missing.is_empty() {
                break;
            }
            for name in missing {
                let bytes = read.read(&args.index, &name)?;
                index.add_list(&name, &bytes).with_context(|| {
                    format!("invalid k-NN list {}", args.index.join(&name).display())
                })?;
            }
        }
        response.push(&index.nearest(query, nprobe, args.k)?);
    }
    eprintln!(
        "partitioned k-NN, nprobe at most {nprobe} of {} lists: read {} files, {:.2} MiB for {} queries (the centroids once, a list probed by several queries once)",
        knn.lists.len(),
        read.files,
        read.bytes as f64 / f64::from(1 << 20),
        response.results.len()
    );
    Ok(response)
}

/// The exact scan or the kd-tree, over every feature row loaded.
fn run_in_memory(args: &KnnArgs) -> Result<Response> {
    let index = load_index(&args.index)?;
    let dims = index.dims();
    let queries = read_queries(args, dims)?;
    let features = index.features_to_vec()?;
    let features = Features::new(&features, dims)?;
    let tree = if args.exact {
        None
    } else {
        Some(KnnTree::build(features, args.leaf_size).context("cannot build the k-NN tree")?)
    };
    let stop_leaves = if args.stop_leaves == 0 {
        usize::MAX
    } else {
        args.stop_leaves
    };
    let mut response = Response::default();
    for query in queries.chunks_exact(dims) {
        let found: Vec<Neighbour> = match &tree {
            Some(tree) => tree.search(query, args.k, stop_leaves)?,
            None => knn_exact(features, query, args.k)?,
        };
        response.push(&found);
    }
    Ok(response)
}
