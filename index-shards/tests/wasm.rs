//! The index in the browser: build, query, k-NN and a shard round trip through bytes give
//! the same results as brute force, and the written index and the partitioned k-NN's
//! files are byte-identical to native's.
#![cfg(target_family = "wasm")]

use index_shards::synthetic::{RareClusterSet, SyntheticConfig};
use index_shards::{
    Centroids, Features, KnnTree, LoadedIndex, Manifest, PartitionConfig, PartitionedKnn,
    ShardConfig, TreeSet, TreeSetConfig, UNLIMITED_LEAVES, knn_exact, write_index, write_knn_lists,
};
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

/// Same value as `tests/integration/shards.rs` computes natively.
const PINNED_MANIFEST_BLAKE3: &str =
    "f0e4ea6ea5c6c02301d119a5676cffc89a5429a03cbf7cca3e5fa51f98962351";

/// The input of the native pinned-hash test.
fn small_set() -> (Vec<u8>, TreeSet) {
    let data = RareClusterSet::generate(&SyntheticConfig {
        n: 3_000,
        dims: 16,
        rare_clusters: 2,
        rare_cluster_size: 40,
        ..Default::default()
    });
    let config = TreeSetConfig {
        leaf_size: 20,
        subsets: vec![(4, 3), (6, 2)],
        seed: 11,
    };
    let set = TreeSet::build(&data.features, 16, &config).unwrap();
    (data.features, set)
}

fn write(features: &[u8], set: &TreeSet) -> (Manifest, Vec<(String, Vec<u8>)>) {
    let mut files = Vec::new();
    let manifest = write_index(
        Features::new(features, 16).unwrap(),
        set,
        &ShardConfig::uniform(4096),
        |name, bytes| {
            files.push((name.to_owned(), bytes.to_vec()));
            Ok::<_, std::io::Error>(())
        },
    )
    .unwrap();
    (manifest, files)
}

fn brute_force_box(features: &[u8], subset: &[u16], lo: &[u8], hi: &[u8]) -> Vec<u32> {
    (0u32..)
        .zip(features.chunks_exact(16))
        .filter(|(_, row)| {
            subset
                .iter()
                .zip(lo.iter().zip(hi))
                .all(|(&d, (&l, &h))| (l..=h).contains(&row[usize::from(d)]))
        })
        .map(|(id, _)| id)
        .collect()
}

#[wasm_bindgen_test]
fn box_queries_equal_brute_force_in_memory_and_from_shards() {
    let (features, set) = small_set();
    let (manifest, files) = write(&features, &set);
    let mut loaded = LoadedIndex::new(manifest).unwrap();
    // The manifest names the tree tops; a top names its leaf files once it is added.
    while let Some(file) = loaded.missing_files().first().cloned() {
        let (_, stored) = files.iter().find(|(n, _)| *n == file.stored_in).unwrap();
        loaded
            .add_file(&file.name, file.slice_of(stored, 0).unwrap())
            .unwrap();
    }
    for (tree, subset) in set.subsets().iter().enumerate() {
        for (l, h) in [(0u8, 255u8), (100, 160), (128, 140), (200, 100)] {
            let lo = vec![l; subset.len()];
            let hi = vec![h; subset.len()];
            let mut got = Vec::new();
            set.range_query(tree, &lo, &hi, &mut |ids| got.extend_from_slice(ids))
                .unwrap();
            let mut from_shards = Vec::new();
            loaded
                .range_query(tree, &lo, &hi, &mut |ids| {
                    from_shards.extend_from_slice(ids)
                })
                .unwrap();
            assert_eq!(got, from_shards);
            got.sort_unstable();
            assert_eq!(got, brute_force_box(&features, subset, &lo, &hi));
        }
    }
}

#[wasm_bindgen_test]
fn written_index_is_byte_identical_to_native() {
    let (features, set) = small_set();
    let (_, files) = write(&features, &set);
    let json = &files.last().unwrap().1;
    assert_eq!(blake3::hash(json).to_hex().as_str(), PINNED_MANIFEST_BLAKE3);
}

#[wasm_bindgen_test]
fn knn_exact_and_tree_agree() {
    let (features, _) = small_set();
    let f = Features::new(&features, 16).unwrap();
    let query = f.row(17).unwrap();
    let exact = knn_exact(f, query, 25).unwrap();
    let mut brute: Vec<(u32, u32)> = (0u32..)
        .zip(f.rows())
        .map(|(id, row)| {
            let dist = row
                .iter()
                .zip(query)
                .map(|(&a, &b)| u32::from(a.abs_diff(b)).pow(2))
                .sum();
            (dist, id)
        })
        .collect();
    brute.sort_unstable();
    let expected: Vec<(u32, u32)> = brute[..25].to_vec();
    let got: Vec<(u32, u32)> = exact.iter().map(|n| (n.dist, n.id)).collect();
    assert_eq!(got, expected);
    let tree = KnnTree::build(f, 20).unwrap();
    assert_eq!(tree.search(query, 25, UNLIMITED_LEAVES).unwrap(), exact);
}

/// Same value as `tests/integration/partitioned_knn.rs` computes natively.
const PINNED_KNN_MANIFEST_BLAKE3: &str =
    "b69f00cc3c4dedbf3d1f077314b7ec6cf7ac33ac95ac879b41fff7414bb55358";

#[wasm_bindgen_test]
fn partitioned_knn_files_equal_native_and_every_list_is_exact() {
    let data = RareClusterSet::generate(&SyntheticConfig {
        n: 3_000,
        rare_clusters: 2,
        rare_cluster_size: 200,
        ..SyntheticConfig::default()
    });
    let f = Features::new(&data.features, data.dims).unwrap();
    let config = PartitionConfig {
        lists: 20,
        ..PartitionConfig::for_rows(3_000)
    };
    let centroids = Centroids::train(f, &config).unwrap();
    let mut files = std::collections::HashMap::new();
    let knn = write_knn_lists(f, &centroids, |name, bytes| {
        files.insert(name.to_owned(), bytes.to_vec());
        Ok::<_, std::io::Error>(())
    })
    .unwrap();
    let json = serde_json::to_vec(&knn).unwrap();
    assert_eq!(
        blake3::hash(&json).to_hex().as_str(),
        PINNED_KNN_MANIFEST_BLAKE3
    );
    let mut index =
        PartitionedKnn::new(&knn, data.dims, 3_000, &files[&knn.centroids.name]).unwrap();
    for list in &knn.lists {
        index.add_list(&list.name, &files[&list.name]).unwrap();
    }
    let query = data.row(17);
    assert_eq!(
        index.nearest(query, 20, 60).unwrap(),
        knn_exact(f, query, 60).unwrap()
    );
}
