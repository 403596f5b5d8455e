//! Benchmarks on the default synthetic set (1,000,000 x 32, five rare clusters of 1,000):
//! tree-set build, box queries (around rare clusters and wide), exact and tree k-NN, and
//! the size of the written index per image.
//!
//! `cargo bench -p index-shards --bench index`. Builds take seconds each, so they are timed
//! once and printed rather than sampled by criterion; everything else uses criterion with
//! 10 samples.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use index_shards::synthetic::{RareClusterSet, SyntheticConfig};
use index_shards::{
    Features, KnnTree, LoadedIndex, MANIFEST_NAME, RangeStats, ShardConfig, TreeSet, TreeSetConfig,
    knn_exact, write_index,
};

/// Trees queried per cluster box: the first 4-dim, 6-dim and 8-dim trees.
const TREES: [usize; 3] = [0, 64, 96];

/// The boxes a classifier would learn for each rare cluster: the members' extent on the
/// tree's subset, one per (cluster, tree).
fn cluster_boxes(data: &RareClusterSet, set: &TreeSet) -> Vec<(usize, Vec<u8>, Vec<u8>)> {
    let mut boxes = Vec::new();
    for members in &data.clusters {
        for tree in TREES {
            let subset = &set.subsets()[tree];
            let extent = |pick: fn(u8, u8) -> u8, start: u8| -> Vec<u8> {
                subset
                    .iter()
                    .map(|&d| {
                        members
                            .iter()
                            .fold(start, |acc, &id| pick(acc, data.row(id)[usize::from(d)]))
                    })
                    .collect()
            };
            boxes.push((tree, extent(u8::min, u8::MAX), extent(u8::max, 0)));
        }
    }
    boxes
}

fn total_stats(
    run: impl Fn(usize, &[u8], &[u8]) -> RangeStats,
    boxes: &[(usize, Vec<u8>, Vec<u8>)],
) -> RangeStats {
    boxes
        .iter()
        .fold(RangeStats::default(), |acc, (tree, lo, hi)| {
            let s = run(*tree, lo, hi);
            RangeStats {
                nodes_visited: acc.nodes_visited + s.nodes_visited,
                leaves_tested: acc.leaves_tested + s.leaves_tested,
                points_tested: acc.points_tested + s.points_tested,
                points_emitted: acc.points_emitted + s.points_emitted,
            }
        })
}

fn benches(c: &mut Criterion) {
    let data = RareClusterSet::generate(&SyntheticConfig::default());
    let n = data.len();
    let features = Features::new(&data.features, data.dims).unwrap();

    let start = Instant::now();
    let set = TreeSet::build(&data.features, data.dims, &TreeSetConfig::default()).unwrap();
    println!(
        "tree-set build: 104 trees over {n} x 32, leaf 500: {:.2?}",
        start.elapsed()
    );

    let mut written = 0usize;
    let mut files = Vec::new();
    let start = Instant::now();
    let manifest = write_index(features, &set, &ShardConfig::default(), |name, bytes| {
        written += bytes.len();
        files.push((name.to_owned(), bytes.to_vec()));
        Ok::<_, std::io::Error>(())
    })
    .unwrap();
    println!(
        "write_index: {:.2?}, {} files, {written} bytes = {:.1} bytes per image (features 32)",
        start.elapsed(),
        files.len(),
        written as f64 / n as f64
    );
    let start = Instant::now();
    let mut loaded = LoadedIndex::new(manifest).unwrap();
    for (name, bytes) in files.iter().filter(|(name, _)| name != MANIFEST_NAME) {
        loaded.add_file(name, bytes).unwrap();
    }
    println!(
        "load (hash + validate every shard): {:.2?}",
        start.elapsed()
    );
    drop(files);

    let cluster = cluster_boxes(&data, &set);
    let wide: Vec<(usize, Vec<u8>, Vec<u8>)> = TREES
        .iter()
        .map(|&t| {
            let d = set.subsets()[t].len();
            (t, vec![96; d], vec![160; d])
        })
        .collect();
    let mut group = c.benchmark_group("box_query");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for (label, boxes) in [("rare_cluster", &cluster), ("wide", &wide)] {
        let in_memory = |t: usize, lo: &[u8], hi: &[u8]| {
            set.range_query(t, lo, hi, &mut |ids| {
                black_box(ids);
            })
            .unwrap()
        };
        let from_shards = |t: usize, lo: &[u8], hi: &[u8]| {
            loaded
                .range_query(t, lo, hi, &mut |ids| {
                    black_box(ids);
                })
                .unwrap()
        };
        let stats = total_stats(in_memory, boxes);
        println!("{label}: {} boxes, {stats:?}", boxes.len());
        group.throughput(Throughput::Elements(stats.points_emitted));
        group.bench_function(format!("{label}/in_memory"), |b| {
            b.iter(|| total_stats(in_memory, boxes))
        });
        group.bench_function(format!("{label}/loaded_shards"), |b| {
            b.iter(|| total_stats(from_shards, boxes))
        });
    }
    group.finish();

    let queries: Vec<Vec<u8>> = (0..20u32).map(|i| data.row(i * 49_999).to_vec()).collect();
    let mut group = c.benchmark_group("knn");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    group.bench_function("exact_k60", |b| {
        b.iter(|| knn_exact(features, black_box(&queries[0]), 60).unwrap())
    });

    let start = Instant::now();
    let tree = KnnTree::build(features, 500).unwrap();
    println!(
        "k-NN tree build over {n} x 32, leaf 500: {:.2?}",
        start.elapsed()
    );
    for stop in [100usize, 3000] {
        let mut found = 0;
        for q in &queries {
            let exact = knn_exact(features, q, 60).unwrap();
            found += tree
                .search(q, 60, stop)
                .unwrap()
                .iter()
                .filter(|n| exact.contains(n))
                .count();
        }
        println!(
            "k-NN tree stop_leaves {stop}: recall@60 {:.3} over {} queries",
            found as f64 / (60 * queries.len()) as f64,
            queries.len()
        );
        group.bench_function(format!("tree_k60_stop{stop}"), |b| {
            b.iter(|| tree.search(black_box(&queries[0]), 60, stop).unwrap())
        });
    }
    group.finish();
}

criterion_group!(index, benches);
criterion_main!(index);
