//! Box queries equal a brute-force filter, in memory and after a shard round trip.

use index_shards::{PADDING_ID, ShardConfig, TreeSet, TreeSetConfig};
use proptest::prelude::*;

use crate::common::{brute_force_box, collect, load_all, write_to_memory};

/// A bound that often sits on the edges 0 and 255 and on repeated values.
fn bound() -> impl Strategy<Value = u8> {
    prop_oneof![Just(0u8), Just(255u8), 0u8..8, any::<u8>()]
}

/// Features with all-equal runs and tiny alphabets as well as random bytes.
fn collection() -> impl Strategy<Value = (usize, Vec<u8>)> {
    (1usize..6, 0usize..300).prop_flat_map(|(dims, n)| {
        let value = prop_oneof![Just(7u8), 0u8..4, any::<u8>()];
        (Just(dims), prop::collection::vec(value, n * dims))
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn box_query_equals_brute_force(
        (dims, features) in collection(),
        leaf_size in prop_oneof![1usize..5, 5usize..64, Just(1000usize)],
        boxes in prop::collection::vec(prop::collection::vec((bound(), bound()), 6), 4),
        seed in any::<u64>(),
    ) {
        let config = TreeSetConfig { leaf_size, subsets: vec![(1, 1), (dims.min(3), 2), (dims, 1)], seed };
        let set = TreeSet::build(&features, dims, &config).unwrap();
        let (manifest, files) = write_to_memory(&features, dims, &set, &ShardConfig::uniform(64));
        let loaded = load_all(&manifest, &files);
        for (tree, subset) in set.subsets().iter().enumerate() {
            for bounds in &boxes {
                let (lo, hi): (Vec<u8>, Vec<u8>) = bounds[..subset.len()].iter().copied().unzip();
                let mut stats = None;
                let mut got = collect(|emit| stats = Some(set.range_query(tree, &lo, &hi, emit).unwrap()));
                let from_shards = collect(|emit| { loaded.range_query(tree, &lo, &hi, emit).unwrap(); });
                prop_assert_eq!(&got, &from_shards);
                prop_assert!(!got.contains(&PADDING_ID));
                prop_assert_eq!(stats.unwrap().points_emitted, got.len() as u64);
                got.sort_unstable();
                let expected = brute_force_box(&features, dims, subset, &lo, &hi);
                prop_assert_eq!(&got, &expected);
                // The points a query hands beside the ids are the rows' values in the
                // subset's dims, in memory and from the leaf shards.
                for from_shards in [false, true] {
                    let mut pairs = Vec::new();
                    let mut emit = |ids: &[u32], points: &[u8]| {
                        assert_eq!(points.len(), ids.len() * subset.len());
                        pairs.extend(ids.iter().copied().zip(points.chunks_exact(subset.len()).map(<[u8]>::to_vec)));
                    };
                    if from_shards {
                        loaded.range_query_points(tree, &lo, &hi, &mut emit).unwrap();
                    } else {
                        set.range_query_points(tree, &lo, &hi, &mut emit).unwrap();
                    }
                    pairs.sort_unstable();
                    let rows: Vec<(u32, Vec<u8>)> = expected.iter().map(|&id| {
                        let row = &features[id as usize * dims..][..dims];
                        (id, subset.iter().map(|&d| row[usize::from(d)]).collect())
                    }).collect();
                    prop_assert_eq!(pairs, rows);
                }
            }
        }
    }
}

#[test]
fn empty_and_single_point_collections() {
    for (n, dims) in [(0usize, 3usize), (1, 3), (2, 1)] {
        let features: Vec<u8> = (0..n * dims).map(|i| (i * 91) as u8).collect();
        let config = TreeSetConfig {
            leaf_size: 500,
            subsets: vec![(1, 2)],
            seed: 3,
        };
        let set = TreeSet::build(&features, dims, &config).unwrap();
        assert_eq!(set.len(), n);
        let all = collect(|emit| {
            set.range_query(0, &[0], &[255], emit).unwrap();
        });
        assert_eq!(all.len(), n);
        let none = collect(|emit| {
            set.range_query(1, &[9], &[8], emit).unwrap();
        });
        assert!(none.is_empty());
        let (manifest, files) = write_to_memory(&features, dims, &set, &ShardConfig::default());
        let loaded = load_all(&manifest, &files);
        let from_shards = collect(|emit| {
            loaded.range_query(0, &[0], &[255], emit).unwrap();
        });
        assert_eq!(from_shards, all);
        assert_eq!(loaded.features_to_vec().unwrap(), features);
        let f = index_shards::Features::new(&features, dims).unwrap();
        let query = vec![3; dims];
        let exact = index_shards::knn_exact(f, &query, 5).unwrap();
        assert_eq!(exact.len(), n);
        let tree = index_shards::KnnTree::build(f, 500).unwrap();
        assert_eq!(
            tree.search(&query, 5, index_shards::UNLIMITED_LEAVES)
                .unwrap(),
            exact
        );
    }
}

#[test]
fn rare_cluster_box_touches_few_leaves_and_wide_box_tests_none() {
    use index_shards::synthetic::{RareClusterSet, SyntheticConfig};
    let data = RareClusterSet::generate(&SyntheticConfig {
        n: 60_000,
        rare_cluster_size: 200,
        ..SyntheticConfig::default()
    });
    let config = TreeSetConfig {
        leaf_size: 100,
        ..TreeSetConfig::default()
    };
    let set = TreeSet::build(&data.features, 32, &config).unwrap();
    let subset = &set.subsets()[0];
    let members = &data.clusters[0];
    let lo: Vec<u8> = subset
        .iter()
        .map(|&d| {
            members
                .iter()
                .map(|&id| data.row(id)[usize::from(d)])
                .min()
                .unwrap()
        })
        .collect();
    let hi: Vec<u8> = subset
        .iter()
        .map(|&d| {
            members
                .iter()
                .map(|&id| data.row(id)[usize::from(d)])
                .max()
                .unwrap()
        })
        .collect();
    let mut stats = None;
    let ids = collect(|emit| stats = Some(set.range_query(0, &lo, &hi, emit).unwrap()));
    let stats = stats.unwrap();
    assert!(members.iter().all(|id| ids.contains(id)));
    let leaves = set.trees()[0].shape().leaves() as u64;
    assert!(
        stats.leaves_tested < leaves / 4,
        "{stats:?} of {leaves} leaves"
    );
    let wide = set.range_query(0, &[0; 4], &[255; 4], &mut |_| {}).unwrap();
    assert_eq!(wide.points_emitted, 60_000);
    assert_eq!(
        (wide.nodes_visited, wide.leaves_tested, wide.points_tested),
        (1, 0, 0)
    );
}
