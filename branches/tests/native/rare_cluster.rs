//! A simulated round on a 100,000 x 32 rare-cluster set: about 50 positives from one
//! cluster, 10 negatives from the background and 500 random negatives. F1 against the
//! cluster's membership is printed for every searcher (`--nocapture`) and asserted for
//! the decision branches.

use branches::{FlatIndex, PoolSettings, SearchEngine, SearchRequest, Searcher};
use index_shards::synthetic::{RareClusterSet, SyntheticConfig};

use crate::f1;

#[test]
fn a_round_finds_the_rare_cluster() {
    let set = RareClusterSet::generate(&SyntheticConfig {
        n: 100_000,
        ..SyntheticConfig::default()
    });
    let subsets = crate::common::seeded_subsets(32, &[(4, 64), (6, 32), (8, 8)], 2024);
    let index = FlatIndex::new(set.features.clone(), set.dims, subsets).unwrap();
    let engine = SearchEngine::new(index, PoolSettings::default()).unwrap();
    let in_a_cluster = |id: &u32| set.clusters.iter().any(|c| c.binary_search(id).is_ok());
    let background: Vec<u32> = (0..100_000)
        .filter(|id| !in_a_cluster(id))
        .step_by(997)
        .take(10)
        .collect();

    let mut scores = Vec::new();
    for (c, members) in set.clusters.iter().enumerate().take(2) {
        for searcher in [
            Searcher::DBranches,
            Searcher::Ensemble,
            Searcher::DecisionTree,
            Searcher::RandomForest,
        ] {
            let mut request = SearchRequest::new(members.iter().step_by(20).copied().collect());
            request.negatives = background.clone();
            request.searcher = searcher;
            let response = engine.run(&request).unwrap();
            let score = f1(&response.results, members);
            println!(
                "cluster {c} {searcher:?}: F1 {score:.4}, {} found, {} boxes",
                response.count,
                response.rules.len()
            );
            scores.push((searcher, score));
        }
    }
    for (searcher, score) in scores {
        let floor = match searcher {
            Searcher::DBranches => 0.8,
            Searcher::Ensemble => 0.95,
            _ => 0.0,
        };
        assert!(score >= floor, "{searcher:?} F1 {score}");
    }
}
