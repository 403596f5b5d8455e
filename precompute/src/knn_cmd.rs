//! `precompute knn`: nearest images of query vectors, by the exact flat scan or the
//! reference's depth-first kd-tree.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use index_shards::{Features, KnnTree, Neighbour, knn_exact};
use serde::Serialize;

use crate::dataset::{load_index, read_u8_rows};

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
    #[arg(long)]
    exact: bool,
    /// Leaf size of the kd-tree.
    #[arg(long, default_value_t = 500)]
    leaf_size: usize,
    /// Stop the kd-tree search after this many leaves (approximate); 0 = no limit.
    #[arg(long, default_value_t = 3000)]
    stop_leaves: usize,
}

/// Per query: ids by ascending distance (ties by id) and their squared distances.
#[derive(Serialize)]
struct Response {
    results: Vec<Vec<u32>>,
    distances: Vec<Vec<u32>>,
}

/// Runs the subcommand.
pub fn run(args: &KnnArgs) -> Result<()> {
    let index = load_index(&args.index)?;
    let (queries, dims) = read_u8_rows(&args.query)?;
    if dims != index.dims() {
        bail!(
            "{}: queries have {dims} dims, the index has {}",
            args.query.display(),
            index.dims()
        );
    }
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
    let mut response = Response {
        results: Vec::new(),
        distances: Vec::new(),
    };
    for query in queries.chunks_exact(dims) {
        let found: Vec<Neighbour> = match &tree {
            Some(tree) => tree.search(query, args.k, stop_leaves)?,
            None => knn_exact(features, query, args.k)?,
        };
        response.results.push(found.iter().map(|n| n.id).collect());
        response
            .distances
            .push(found.iter().map(|n| n.dist).collect());
    }
    println!("{}", serde_json::to_string(&response)?);
    Ok(())
}
