//! Training time of one round on the 1,000,000 x 32 rare-cluster set: 50 positives from a
//! cluster, 10 background negatives, 500 random negatives (560 rows), 104 seeded subsets
//! {4: 64, 6: 32, 8: 8}. DBranches (with post-trees) and the 25-model ensemble.
//!
//! `cargo bench -p branches --bench train`

use std::hint::black_box;

use branches::{FlatIndex, PoolSettings, SearchEngine, SearchRequest, Searcher};
use criterion::{Criterion, criterion_group, criterion_main};
use index_shards::synthetic::{RareClusterSet, SyntheticConfig};
use index_shards::{TreeSetConfig, random_subsets};

fn rounds(c: &mut Criterion) {
    let set = RareClusterSet::generate(&SyntheticConfig::default());
    let subsets = random_subsets(
        32,
        &TreeSetConfig {
            seed: 2024,
            ..TreeSetConfig::default()
        },
    )
    .unwrap();
    let index = FlatIndex::new(set.features.clone(), set.dims, subsets).unwrap();
    let engine = SearchEngine::new(index, PoolSettings::default()).unwrap();
    let members = &set.clusters[0];
    let in_a_cluster = |id: &u32| set.clusters.iter().any(|c| c.binary_search(id).is_ok());
    let mut request = SearchRequest::new(members.iter().step_by(20).copied().collect());
    request.negatives = (0..1_000_000)
        .filter(|id| !in_a_cluster(id))
        .step_by(99_991)
        .take(10)
        .collect();

    let mut group = c.benchmark_group("train_round");
    group.sample_size(30);
    for (name, searcher) in [
        ("dbranches", Searcher::DBranches),
        ("ensemble", Searcher::Ensemble),
    ] {
        request.searcher = searcher;
        group.bench_function(name, |b| {
            b.iter(|| engine.train(black_box(&request)).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, rounds);
criterion_main!(benches);
