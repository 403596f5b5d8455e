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

#[test]
fn post_trees_separate_what_the_box_subsets_cannot() {
    // The only subset is dim 0, constant over all rows; dim 1 separates the classes.
    let features = (0..200u8)
        .flat_map(|i| [100, if i < 20 { i } else { 55 + i }])
        .collect();
    let index = FlatIndex::new(features, 2, vec![vec![0]]).unwrap();
    let engine = SearchEngine::new(index, PoolSettings::default()).unwrap();
    let members: Vec<u32> = (0..20).collect();
    let request = SearchRequest::new(members.clone());
    let model = engine.train(&request).unwrap();
    assert_eq!(model.boxes().len(), 1);
    assert!(model.boxes()[0].post_tree.is_some());
    assert_eq!(engine.search(&model).unwrap(), members);
}
