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
pub const GOLDEN_DB_RULES: &[&str] =
    &["dim_1 in [157, 162] and dim_2 in [0, 255] and dim_3 in [0, 255] and dim_7 in [171, 255]"];

/// The DBranches ranking of the golden request (one box, so by id).
pub const GOLDEN_DB_RESULTS: &[u32] = &[
    2, 42, 96, 276, 295, 341, 361, 372, 459, 605, 635, 659, 676, 726, 734, 752, 753, 795, 865, 902,
    1005, 1063, 1152, 1186, 1334, 1403, 1445, 1450, 1451, 1596, 1724, 1771, 1868, 1874, 1894, 1951,
    2016, 2114, 2192, 2209, 2243, 2487, 2521, 2543, 2574, 2584, 2588, 2675, 2738, 2751, 2777, 2779,
    2783, 2848, 2869, 2888, 2918, 2929, 2982,
];

/// The ensemble ranking of the golden request (by votes, then id).
pub const GOLDEN_ENS_RESULTS: &[u32] = &[
    2114, 459, 605, 865, 2929, 2, 96, 372, 659, 752, 795, 1005, 1152, 1771, 1951, 2016, 2487, 2584,
    2738, 2869, 341, 361, 608, 635, 753, 1403, 1450, 1451, 1596, 1712, 1724, 1874, 1894, 2049,
    2209, 2521, 2543, 2751, 2783, 42, 79, 99, 276, 373, 1334, 1445, 2201, 2588, 2777, 2856, 184,
    299, 2288, 2848, 2888, 679, 2779, 1186, 2192, 2661,
];
