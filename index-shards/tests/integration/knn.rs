//! Exact k-NN equals brute force; the tree search equals it when unlimited, and its recall
//! when stopped early is reported.

use index_shards::synthetic::{RareClusterSet, SyntheticConfig};
use index_shards::{Features, KnnTree, Neighbour, UNLIMITED_LEAVES, knn_exact};
use proptest::prelude::*;

fn brute_force(features: &[u8], dims: usize, query: &[u8], k: usize) -> Vec<Neighbour> {
    let mut all: Vec<Neighbour> = features
        .chunks_exact(dims)
        .enumerate()
        .map(|(i, row)| Neighbour {
            id: i as u32,
            dist: row
                .iter()
                .zip(query)
                .map(|(&a, &b)| (i32::from(a) - i32::from(b)).pow(2) as u32)
                .sum(),
        })
        .collect();
    all.sort_by_key(|n| (n.dist, n.id));
    all.truncate(k);
    all
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn exact_and_unlimited_tree_equal_brute_force(
        dims in prop_oneof![1usize..7, Just(32usize)],
        n in 0usize..400,
        small_alphabet in any::<bool>(),
        k in 0usize..70,
        leaf_size in 1usize..40,
        seed in any::<u64>(),
    ) {
        // Ties by id are common with a small alphabet.
        let mut x = seed | 1;
        let mut next = || { x ^= x << 13; x ^= x >> 7; x ^= x << 17; x as u8 };
        let features: Vec<u8> = (0..n * dims).map(|_| if small_alphabet { next() % 3 } else { next() }).collect();
        let query: Vec<u8> = (0..dims).map(|_| if small_alphabet { next() % 3 } else { next() }).collect();
        let f = Features::new(&features, dims).unwrap();
        let expected = brute_force(&features, dims, &query, k);
        prop_assert_eq!(&knn_exact(f, &query, k).unwrap(), &expected);
        let tree = KnnTree::build(f, leaf_size).unwrap();
        prop_assert_eq!(&tree.search(&query, k, UNLIMITED_LEAVES).unwrap(), &expected);
    }
}

#[test]
fn approximate_recall_is_reported_and_grows_with_leaves() {
    let data = RareClusterSet::generate(&SyntheticConfig {
        n: 50_000,
        ..SyntheticConfig::default()
    });
    let f = Features::new(&data.features, 32).unwrap();
    let tree = KnnTree::build(f, 100).unwrap();
    let k = 60;
    let queries: Vec<u32> = (0..50u32).map(|i| i * 997).collect();
    let mut recalls = Vec::new();
    for stop in [1usize, 8, 64, 512, UNLIMITED_LEAVES] {
        let mut found = 0;
        for &q in &queries {
            let query = data.row(q);
            let exact = knn_exact(f, query, k).unwrap();
            let approx = tree.search(query, k, stop).unwrap();
            found += approx.iter().filter(|n| exact.contains(n)).count();
        }
        let recall = found as f64 / (queries.len() * k) as f64;
        let stop = if stop == UNLIMITED_LEAVES {
            "unlimited".to_owned()
        } else {
            stop.to_string()
        };
        println!("k-NN tree recall@{k}, stop_leaves {stop}: {recall:.3} (50,000 x 32, leaf 100)");
        recalls.push(recall);
    }
    assert_eq!(recalls[recalls.len() - 1], 1.0);
    assert!(recalls.windows(2).all(|w| w[0] <= w[1]), "{recalls:?}");
}
