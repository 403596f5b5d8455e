//! The golden example shared by the native and the wasm tests: a small seeded rare-cluster
//! set behind a [`FlatIndex`], one request, and the exact answer pinned.

use branches::{FlatIndex, PoolSettings, SearchEngine, SearchRequest};
use index_shards::synthetic::{RareClusterSet, SyntheticConfig};
use index_shards::{TreeSetConfig, random_subsets};

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
    let subsets = seeded_subsets(8, &[(4, 8), (6, 4)], 11);
    let index = FlatIndex::new(set.features.clone(), set.dims, subsets).unwrap();
    SearchEngine::new(index, PoolSettings::default()).unwrap()
}

/// Seeded feature subsets: `count` subsets of `dims` dims for each `(dims, count)`.
pub fn seeded_subsets(dims: usize, groups: &[(usize, usize)], seed: u64) -> Vec<Vec<u16>> {
    let config = TreeSetConfig {
        subsets: groups.to_vec(),
        seed,
        ..TreeSetConfig::default()
    };
    random_subsets(dims, &config).expect("valid subset groups")
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
pub const GOLDEN_DB_RULES: &[&str] = &[
    "dim_1 in [158, 162] and dim_2 in [160, 165] and dim_3 in [41, 216] and dim_7 in [50, 187], then filtered by its post-tree",
];

/// The DBranches ranking of the golden request (one box, so by depth in it, then id).
pub const GOLDEN_DB_RESULTS: &[u32] = &[
    1063, 605, 752, 2584, 2779, 2, 96, 341, 659, 1334, 1445, 1724, 1894, 2521, 2751, 42, 459, 1005,
    1152, 1596, 1771, 2114, 2209, 2487, 2543, 2588, 2738, 2783, 2888, 2929, 276, 361, 635, 753,
    865, 1403, 1450, 1451, 1874, 1951, 2016, 2848, 2869, 1186,
];

/// The ensemble ranking of the golden request (by votes, then summed depth, then id).
pub const GOLDEN_ENS_RESULTS: &[u32] = &[
    2114, 605, 865, 459, 2929, 2, 96, 1951, 1005, 2584, 2738, 1152, 2869, 659, 752, 2016, 2487,
    372, 795, 1771, 1712, 2049, 753, 1450, 635, 2521, 1451, 341, 1724, 1894, 361, 2751, 1874, 608,
    1403, 2209, 2783, 1596, 2543, 99, 79, 42, 2856, 276, 2201, 2588, 373, 1445, 2777, 1334, 299,
    184, 2888, 2848, 2288, 679, 2779, 1186, 2192, 2661,
];
