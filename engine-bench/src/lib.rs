//! Measures the engine (`index-shards` + `branches`) on a seeded rare-cluster set: tree-set
//! build, index bytes per image, search rounds of every searcher with their F1 against the
//! clusters' known membership, box-query throughput, and exact and tree k-NN.
//!
//! The caller passes a clock, so the same code measures natively (`precompute bench`) and
//! in the browser (`tests/wasm.rs`, headless Chromium), and the figures compare directly.

use std::collections::HashSet;
use std::fmt::Write as _;

use branches::{MemoryIndex, PoolSettings, SearchEngine, SearchRequest, Searcher};
use index_shards::synthetic::{RareClusterSet, SyntheticConfig};
use index_shards::{
    KnnTree, Neighbour, RangeStats, ShardConfig, TreeSetConfig, knn_exact, write_index,
};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use seeded::below;
use serde::Serialize;

pub mod partitioned_knn;

/// What to measure.
#[derive(Clone, Debug)]
pub struct BenchConfig {
    /// The synthetic collection.
    pub data: SyntheticConfig,
    /// The tree set.
    pub trees: TreeSetConfig,
    /// Positives, negatives and random negatives of a simulated round.
    pub positives: usize,
    pub negatives: usize,
    pub random_negatives: u32,
    /// Searchers to run rounds with.
    pub searchers: Vec<Searcher>,
    /// k-NN queries (rows at random ids) and neighbours per query.
    pub knn_queries: usize,
    pub k: usize,
    /// Leaf limits of the approximate tree k-NN.
    pub stop_leaves: Vec<usize>,
}

impl Default for BenchConfig {
    /// The benchmark: 1,000,000 x 32, 104 trees of leaf size 500, rounds of 50
    /// positives, 10 negatives and 500 random negatives, k = 60.
    fn default() -> Self {
        Self {
            data: SyntheticConfig::default(),
            trees: TreeSetConfig::default(),
            positives: 50,
            negatives: 10,
            random_negatives: 500,
            searchers: vec![
                Searcher::DBranches,
                Searcher::Ensemble,
                Searcher::DecisionTree,
                Searcher::RandomForest,
            ],
            knn_queries: 20,
            k: 60,
            stop_leaves: vec![3000, 200, 20],
        }
    }
}

/// The figures of one run; times in milliseconds.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    pub n: usize,
    pub dims: usize,
    pub trees: usize,
    pub build_ms: f64,
    pub index_bytes_per_image: f64,
    pub rounds: Vec<RoundFigures>,
    pub box_queries: BoxQueryFigures,
    pub knn_exact_ms: f64,
    pub knn_tree: Vec<KnnTreeFigures>,
}

/// Median train / search times and mean F1 of one searcher over the clusters.
#[derive(Clone, Debug, Serialize)]
pub struct RoundFigures {
    pub searcher: Searcher,
    pub train_ms: f64,
    pub search_ms: f64,
    pub total_ms: f64,
    pub f1: Vec<f64>,
    pub results: Vec<usize>,
}

/// The box queries of the trained models, replayed alone.
#[derive(Clone, Debug, Default, Serialize)]
pub struct BoxQueryFigures {
    pub queries: usize,
    pub ms: f64,
    pub nodes_visited: u64,
    pub points_tested: u64,
    pub points_emitted: u64,
    pub points_emitted_per_s: f64,
}

/// The approximate tree k-NN at one leaf limit.
#[derive(Clone, Debug, Serialize)]
pub struct KnnTreeFigures {
    pub stop_leaves: usize,
    pub ms: f64,
    pub recall: f64,
}

/// Runs every measurement; `now_ms` is a monotonic clock in milliseconds and `log`
/// receives a line per finished step.
pub fn run(config: &BenchConfig, now_ms: &dyn Fn() -> f64, log: &mut dyn FnMut(&str)) -> Report {
    let set = RareClusterSet::generate(&config.data);
    let dims = set.dims;
    let mut report = Report {
        n: set.len(),
        dims,
        ..Report::default()
    };

    let started = now_ms();
    let index = MemoryIndex::build(set.features.clone(), dims, &config.trees)
        .expect("the synthetic set is a valid index");
    report.build_ms = now_ms() - started;
    report.trees = index.trees().trees().len();
    let mut shard_bytes = 0u64;
    write_index(
        index.features(),
        index.trees(),
        &ShardConfig::default(),
        |_, bytes| {
            shard_bytes += bytes.len() as u64;
            Ok::<_, std::convert::Infallible>(())
        },
    )
    .expect("writing to memory cannot fail");
    report.index_bytes_per_image = shard_bytes as f64 / set.len() as f64;
    log(&format!(
        "build: {} trees over {} x {dims} in {:.0} ms; index {:.0} bytes per image",
        report.trees, report.n, report.build_ms, report.index_bytes_per_image
    ));

    let engine = SearchEngine::new(index, PoolSettings::default()).expect("a non-empty index");
    let requests = round_requests(config, &set);
    let mut boxes = Vec::new();
    for &searcher in &config.searchers {
        let (mut train, mut search, mut total) = (Vec::new(), Vec::new(), Vec::new());
        let (mut f1, mut results) = (Vec::new(), Vec::new());
        for (request, cluster) in requests.iter().zip(&set.clusters) {
            let request = SearchRequest {
                searcher,
                ..request.clone()
            };
            let t0 = now_ms();
            let model = engine.train(&request).expect("a valid request");
            let t1 = now_ms();
            let found = engine.search(&model).expect("a complete index");
            let t2 = now_ms();
            train.push(t1 - t0);
            search.push(t2 - t1);
            total.push(t2 - t0);
            f1.push(f1_score(&found, cluster));
            results.push(found.len());
            boxes.extend(
                model
                    .boxes()
                    .iter()
                    .map(|b| (b.subset as usize, b.lo.clone(), b.hi.clone())),
            );
        }
        let figures = RoundFigures {
            searcher,
            train_ms: median(&mut train),
            search_ms: median(&mut search),
            total_ms: median(&mut total),
            f1,
            results,
        };
        log(&format!(
            "round {:?}: train {:.2} ms + search {:.2} ms = {:.2} ms (median of {}); F1 {}; results {:?}",
            searcher,
            figures.train_ms,
            figures.search_ms,
            figures.total_ms,
            requests.len(),
            figures.f1.iter().fold(String::new(), |mut s, f| {
                let _ = write!(s, "{f:.3} ");
                s
            }),
            figures.results
        ));
        report.rounds.push(figures);
    }

    let trees = engine.index().trees();
    let mut stats = RangeStats::default();
    let started = now_ms();
    for (tree, lo, hi) in &boxes {
        let one = trees
            .range_query(*tree, lo, hi, &mut |_| {})
            .expect("a valid box");
        stats.nodes_visited += one.nodes_visited;
        stats.points_tested += one.points_tested;
        stats.points_emitted += one.points_emitted;
    }
    let ms = now_ms() - started;
    report.box_queries = BoxQueryFigures {
        queries: boxes.len(),
        ms,
        nodes_visited: stats.nodes_visited,
        points_tested: stats.points_tested,
        points_emitted: stats.points_emitted,
        points_emitted_per_s: stats.points_emitted as f64 / (ms / 1e3),
    };
    log(&format!(
        "box queries: {} boxes in {ms:.2} ms; {} nodes visited, {} points tested, {} emitted ({:.3e} points/s)",
        boxes.len(),
        stats.nodes_visited,
        stats.points_tested,
        stats.points_emitted,
        report.box_queries.points_emitted_per_s
    ));

    let features = engine.index().features();
    // Rows at seeded random ids: mostly background, where neighbours are not one compact
    // cluster and a tree search has to work.
    let mut rng = ChaCha8Rng::seed_from_u64(config.data.seed ^ 0x4e4e);
    let queries: Vec<&[u8]> = (0..config.knn_queries)
        .map(|_| set.row(below(&mut rng, set.len() as u32)))
        .collect();
    let mut times = Vec::new();
    let mut exact = Vec::new();
    for query in &queries {
        let t0 = now_ms();
        exact.push(knn_exact(features, query, config.k).expect("query of the right dims"));
        times.push(now_ms() - t0);
    }
    report.knn_exact_ms = median(&mut times);
    log(&format!(
        "exact k-NN (k = {}): {:.2} ms (median of {})",
        config.k,
        report.knn_exact_ms,
        queries.len()
    ));

    let tree = KnnTree::build(features, config.trees.leaf_size).expect("a valid tree");
    for &stop_leaves in &config.stop_leaves {
        let mut times = Vec::new();
        let mut hits = 0;
        for (query, truth) in queries.iter().zip(&exact) {
            let t0 = now_ms();
            let found = tree
                .search(query, config.k, stop_leaves)
                .expect("query of the right dims");
            times.push(now_ms() - t0);
            hits += recall_hits(&found, truth);
        }
        let figures = KnnTreeFigures {
            stop_leaves,
            ms: median(&mut times),
            recall: hits as f64 / exact.iter().map(Vec::len).sum::<usize>().max(1) as f64,
        };
        log(&format!(
            "tree k-NN (stop_leaves {stop_leaves}): {:.2} ms, recall@{} {:.3}",
            figures.ms, config.k, figures.recall
        ));
        report.knn_tree.push(figures);
    }
    report
}

/// One request per rare cluster: positives sampled from its members, negatives from the
/// background, every draw seeded.
fn round_requests(config: &BenchConfig, set: &RareClusterSet) -> Vec<SearchRequest> {
    let mut rng = ChaCha8Rng::seed_from_u64(config.data.seed ^ 0xbe4c);
    let members: HashSet<u32> = set.clusters.iter().flatten().copied().collect();
    let n = set.len() as u32;
    set.clusters
        .iter()
        .map(|cluster| {
            let mut positives = Vec::new();
            while positives.len() < config.positives.min(cluster.len()) {
                let id = cluster[below(&mut rng, cluster.len() as u32) as usize];
                if !positives.contains(&id) {
                    positives.push(id);
                }
            }
            let mut negatives = Vec::new();
            while negatives.len() < config.negatives.min(set.len() - members.len()) {
                let id = below(&mut rng, n);
                if !members.contains(&id) && !negatives.contains(&id) {
                    negatives.push(id);
                }
            }
            SearchRequest {
                negatives,
                random_negatives: config.random_negatives,
                seed: u64::from(rng.next_u32()),
                ..SearchRequest::new(positives)
            }
        })
        .collect()
}

/// How many of the exact `truth` neighbours an approximate search `found`. Ties at the
/// k-th distance make ids interchangeable, so a hit is any found point not farther than
/// the truth's last.
fn recall_hits(found: &[Neighbour], truth: &[Neighbour]) -> usize {
    let kth = truth.last().map_or(0, |n| n.dist);
    found
        .iter()
        .filter(|n| n.dist <= kth)
        .count()
        .min(truth.len())
}

/// F1 of `found` against the sorted ids of `truth`.
pub fn f1_score(found: &[u32], truth: &[u32]) -> f64 {
    let hits = found
        .iter()
        .filter(|id| truth.binary_search(id).is_ok())
        .count() as f64;
    if hits == 0.0 {
        return 0.0;
    }
    let precision = hits / found.len() as f64;
    let recall = hits / truth.len() as f64;
    2.0 * precision * recall / (precision + recall)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f1_counts_hits_against_the_truth() {
        assert_eq!(f1_score(&[1, 2, 3, 4], &[1, 2, 3, 4]), 1.0);
        assert_eq!(f1_score(&[], &[1]), 0.0);
        // precision 1/2, recall 1/4.
        assert!((f1_score(&[1, 9], &[1, 2, 3, 4]) - 1.0 / 3.0).abs() < 1e-12);
    }
}
