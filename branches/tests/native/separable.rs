//! On separable data every searcher reaches F1 = 1, on the training rows and in search.

use branches::{FlatIndex, PoolSettings, SearchEngine, SearchRequest, Searcher};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::f1;

/// 5,000 x 8 points: 100 in a compact cluster (every dim in 200..=210), the rest in 0..=150.
fn separable() -> (FlatIndex, Vec<u32>) {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let members: Vec<u32> = (0..5_000).filter(|id| id % 50 == 7).collect();
    let features = (0..5_000u32)
        .flat_map(|id| {
            let range = if id % 50 == 7 { 200..=210 } else { 0..=150 };
            (0..8)
                .map(|_| rng.random_range(range.clone()))
                .collect::<Vec<u8>>()
        })
        .collect();
    let subsets = crate::common::seeded_subsets(8, &[(4, 16), (6, 8)], 1);
    (FlatIndex::new(features, 8, subsets).unwrap(), members)
}

#[test]
fn every_searcher_separates_separable_data() {
    let (index, members) = separable();
    let engine = SearchEngine::new(index, PoolSettings::default()).unwrap();
    for searcher in [
        Searcher::DBranches,
        Searcher::Ensemble,
        Searcher::DecisionTree,
        Searcher::RandomForest,
    ] {
        let mut request = SearchRequest::new(members.clone());
        request.negatives = vec![0, 1, 2];
        request.searcher = searcher;
        let model = engine.train(&request).unwrap();
        let found = engine.search(&model).unwrap();
        assert_eq!(f1(&found, &members), 1.0, "{searcher:?}");
        // Training F1: the labelled rows are classified exactly.
        let labelled: Vec<u32> = members.iter().copied().chain([0, 1, 2]).collect();
        let accepted: Vec<u32> = labelled
            .iter()
            .copied()
            .filter(|id| found.contains(id))
            .collect();
        assert_eq!(accepted, members, "{searcher:?}");
    }
}
