//! The golden example shared by the native and the wasm tests: a small seeded rare-cluster
//! set behind a [`FlatIndex`], one request, and the exact answer pinned.

use branches::{FlatIndex, PoolSettings, SearchEngine, SearchRequest, random_subsets};
use index_shards::synthetic::{RareClusterSet, SyntheticConfig};

/// 3,000 x 8 points with two rare clusters of 60.
pub fn golden_set() -> RareClusterSet {
    RareClusterSet::generate(&SyntheticConfig {
        n: 3_000,
        dims: 8,
        background_blobs: 8,
        rare_clusters: 2,
        rare_cluster_size: 60,
        seed: 7,
        ..SyntheticConfig::default()
    })
}

/// The set behind a brute-force index with 12 seeded subsets.
pub fn golden_engine(set: &RareClusterSet) -> SearchEngine<FlatIndex> {
    let subsets = random_subsets(8, &[(4, 8), (6, 4)], 11);
    let index = FlatIndex::new(set.features.clone(), set.dims, subsets).unwrap();
    SearchEngine::new(index, PoolSettings::default()).unwrap()
}

/// Every third member of cluster 0 as positives, the first five background ids as
/// negatives, 200 random negatives.
pub fn golden_request(set: &RareClusterSet) -> SearchRequest {
    let members = &set.clusters[0];
    let background: Vec<u32> = (0..)
        .filter(|id| !set.clusters.iter().any(|c| c.contains(id)))
        .take(5)
        .collect();
    let mut request = SearchRequest::new(members.iter().step_by(3).copied().collect());
    request.negatives = background;
    request.random_negatives = 200;
    request
}

/// The DBranches boxes of the golden request.
pub const GOLDEN_DB_RULES: &[&str] =
    &["dim_2 in [0, 255] and dim_4 in [126, 136] and dim_6 in [144, 166] and dim_7 in [0, 255]"];

/// The DBranches ranking of the golden request (one box, so by id).
pub const GOLDEN_DB_RESULTS: &[u32] = &[
    2, 42, 79, 96, 99, 184, 276, 299, 341, 361, 372, 373, 459, 608, 635, 659, 679, 746, 752, 753,
    795, 865, 931, 1005, 1152, 1186, 1193, 1334, 1403, 1445, 1450, 1451, 1539, 1596, 1712, 1724,
    1771, 1870, 1874, 1892, 1894, 1951, 2049, 2114, 2191, 2192, 2201, 2209, 2288, 2289, 2486, 2487,
    2521, 2543, 2588, 2661, 2738, 2751, 2783, 2848, 2856, 2869, 2888, 2987,
];

/// The ensemble ranking of the golden request (by votes, then id).
pub const GOLDEN_ENS_RESULTS: &[u32] = &[
    1951, 865, 1445, 1771, 42, 79, 608, 635, 753, 1403, 1450, 1596, 1724, 2049, 2209, 2751, 2848,
    2869, 2888, 96, 99, 276, 1005, 1334, 1451, 1712, 2192, 2201, 2521, 2661, 2738, 299, 341, 361,
    373, 459, 679, 1894, 2783, 2, 184, 659, 1152, 1874, 2016, 2114, 2543, 2588, 2856, 795, 1186,
    372, 2779, 605, 2288, 2487, 2584, 2929, 2777, 752,
];
