//! The partitioned k-NN: deterministic files, checked on load, exact when every list is
//! probed, a good recall at the default nprobe, pages that extend each other.

use std::collections::HashMap;

use index_shards::synthetic::{RareClusterSet, SyntheticConfig};
use index_shards::{
    Centroids, Features, IndexError, KnnManifest, Manifest, PartitionConfig, PartitionedKnn,
    knn_exact, write_knn_lists,
};

type Files = HashMap<String, Vec<u8>>;

fn set(n: usize) -> RareClusterSet {
    RareClusterSet::generate(&SyntheticConfig {
        n,
        rare_clusters: 2,
        rare_cluster_size: 200,
        ..SyntheticConfig::default()
    })
}

fn write(set: &RareClusterSet, config: &PartitionConfig) -> (KnnManifest, Files) {
    let features = Features::new(&set.features, set.dims).unwrap();
    let centroids = Centroids::train(features, config).unwrap();
    let mut files = Files::new();
    let manifest = write_knn_lists(features, &centroids, |name, bytes| {
        files.insert(name.to_owned(), bytes.to_vec());
        Ok::<_, std::io::Error>(())
    })
    .unwrap();
    (manifest, files)
}

fn open(set: &RareClusterSet, manifest: &KnnManifest, files: &Files) -> PartitionedKnn {
    let centroids = &files[&manifest.centroids.name];
    PartitionedKnn::new(manifest, set.dims, set.len() as u64, centroids).unwrap()
}

/// Adds every list the `k` nearest of `query` probe at `nprobe`, a batch at a time as a
/// client fetches them; returns how many bytes that took.
fn fetch(index: &mut PartitionedKnn, files: &Files, query: &[u8], nprobe: usize, k: usize) -> u64 {
    let mut bytes = 0;
    loop {
        let missing: Vec<(String, u64)> = index
            .missing_lists(query, nprobe, k)
            .unwrap()
            .into_iter()
            .map(|f| (f.name.clone(), f.bytes))
            .collect();
        if missing.is_empty() {
            return bytes;
        }
        for (name, size) in &missing {
            index.add_list(name, &files[name]).unwrap();
            bytes += size;
        }
    }
}

fn small_config(lists: usize) -> PartitionConfig {
    PartitionConfig {
        lists,
        ..PartitionConfig::for_rows(3_000)
    }
}

#[test]
fn writing_twice_gives_identical_bytes_named_by_content() {
    let data = set(3_000);
    let first = write(&data, &small_config(20));
    assert_eq!(first, write(&data, &small_config(20)));
    let (manifest, files) = first;
    assert_eq!(manifest.lists.len(), 20);
    assert_eq!(files.len(), 21);
    assert_eq!(manifest.lists.iter().map(|l| l.rows).sum::<u64>(), 3_000);
    for entry in std::iter::once(&manifest.centroids).chain(&manifest.lists) {
        let bytes = &files[&entry.name];
        assert_eq!(entry.bytes, bytes.len() as u64);
        assert_eq!(entry.blake3, blake3::hash(bytes).to_hex().as_str());
        assert!(
            entry
                .name
                .ends_with(&format!(".{}.shard", &entry.blake3[..16])),
            "{}",
            entry.name
        );
    }
    assert!(manifest.centroids.name.starts_with("knn-centroids."));
    assert!(manifest.lists[7].name.starts_with("knn-list-00007."));
    // Another seed draws another sample and other centroids.
    let reseeded = PartitionConfig {
        seed: 5,
        ..small_config(20)
    };
    assert_ne!(write(&data, &reseeded).0, manifest);
}

/// Same value as `tests/wasm.rs` checks in the browser: the manifest section names every
/// file by its hash, so equal sections mean equal centroids and lists on 32- and 64-bit
/// targets.
const PINNED_KNN_MANIFEST_BLAKE3: &str =
    "b69f00cc3c4dedbf3d1f077314b7ec6cf7ac33ac95ac879b41fff7414bb55358";

#[test]
fn the_partition_is_pinned() {
    let (manifest, _) = write(&set(3_000), &small_config(20));
    let json = serde_json::to_vec(&manifest).unwrap();
    assert_eq!(
        blake3::hash(&json).to_hex().as_str(),
        PINNED_KNN_MANIFEST_BLAKE3
    );
}

#[test]
fn every_list_probed_is_the_exact_scan_and_pages_extend() {
    let data = set(3_000);
    let (manifest, files) = write(&data, &small_config(16));
    let features = Features::new(&data.features, data.dims).unwrap();
    let mut index = open(&data, &manifest, &files);
    for id in [0u32, 17, 1_234, 2_999] {
        let query = data.row(id);
        fetch(&mut index, &files, query, 16, 3_500);
        for k in [1, 60, 3_500] {
            assert_eq!(
                index.nearest(query, 16, k).unwrap(),
                knn_exact(features, query, k).unwrap()
            );
            // nprobe past the list count probes every list.
            assert_eq!(
                index.nearest(query, 99, k).unwrap(),
                index.nearest(query, 16, k).unwrap()
            );
        }
        // The next page of fewer lists is the exact order of the same candidates.
        fetch(&mut index, &files, query, 4, 120);
        let first = index.nearest(query, 4, 60).unwrap();
        let two_pages = index.nearest(query, 4, 120).unwrap();
        assert_eq!(first[..], two_pages[..60]);
        assert!(two_pages.windows(2).all(|w| w[0] < w[1]));
    }
}

#[test]
fn recall_at_the_default_nprobe() {
    let data = set(40_000);
    let config = PartitionConfig::for_rows(data.len());
    let (manifest, files) = write(&data, &config);
    let features = Features::new(&data.features, data.dims).unwrap();
    let nprobe = open(&data, &manifest, &files).default_nprobe();
    let (mut hits, mut total, mut bytes, mut exact) = (0, 0, 0, 0);
    for q in 0..40u32 {
        let query = data.row(q * 997 % 40_000);
        let truth = knn_exact(features, query, 60).unwrap();
        let kth = truth.last().unwrap().dist;
        // Each query cold, as a first query fetches.
        let mut index = open(&data, &manifest, &files);
        bytes += fetch(&mut index, &files, query, nprobe, 60);
        let found = index.nearest(query, nprobe, 60).unwrap();
        hits += found.iter().filter(|n| n.dist <= kth).count().min(60);
        total += truth.len();
        exact += usize::from(found == truth);
    }
    let recall = hits as f64 / total as f64;
    let all: u64 = manifest.lists.iter().map(|l| l.bytes).sum();
    assert_eq!(nprobe, 84);
    assert!(recall >= 0.95, "recall@60 {recall:.3} at nprobe {nprobe}");
    // A rare-cluster query's probe stops as soon as the radii prove its neighbours found:
    // those answers are the exact scan's.
    assert!(exact >= 1, "{exact} of 40 queries exact");
    // A small set needs a large share of its lists (at most 84 of 200 here); the share
    // falls as sets grow (`precompute bench-knn`).
    assert!(
        bytes / 40 < all / 2,
        "{} of {all} bytes a query",
        bytes / 40
    );
}

#[test]
fn a_probe_stops_once_the_bounds_prove_the_neighbours_and_gives_the_exact_scan() {
    let data = set(40_000);
    let (manifest, files) = write(&data, &PartitionConfig::for_rows(data.len()));
    let features = Features::new(&data.features, data.dims).unwrap();
    let all: u64 = manifest.lists.iter().map(|l| l.bytes).sum();
    let lists = manifest.lists.len();
    // With no cap, the probe stops only when proven: the exact scan, always, whatever the
    // query: rare clusters' members, background rows, and points of the grid no row is
    // near (seeded), where the lists' bounds are loosest.
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut byte = || {
        rng = rng.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        (rng >> 56) as u8
    };
    let members: Vec<Vec<u8>> = data.clusters[0]
        .iter()
        .take(10)
        .map(|&id| data.row(id).to_vec())
        .collect();
    let background: Vec<Vec<u8>> = (0..10u32)
        .map(|q| data.row(q * 3_989 % 40_000).to_vec())
        .collect();
    let random: Vec<Vec<u8>> = (0..10)
        .map(|_| (0..data.dims).map(|_| byte()).collect())
        .collect();
    let mut member_bytes = 0;
    for (kind, queries) in [
        ("member", &members),
        ("background", &background),
        ("random", &random),
    ] {
        for query in queries {
            let mut index = open(&data, &manifest, &files);
            let bytes = fetch(&mut index, &files, query, lists, 60);
            assert_eq!(
                index.nearest(query, lists, 60).unwrap(),
                knn_exact(features, query, 60).unwrap(),
                "{kind} query {query:?}"
            );
            if kind == "member" {
                member_bytes += bytes;
            }
            // At the default nprobe, a probe may stop proven or reach the cap; the second
            // page extends the first either way.
            let nprobe = index.default_nprobe();
            let mut index = open(&data, &manifest, &files);
            fetch(&mut index, &files, query, nprobe, 60);
            let first = index.nearest(query, nprobe, 60).unwrap();
            fetch(&mut index, &files, query, nprobe, 120);
            let two_pages = index.nearest(query, nprobe, 120).unwrap();
            assert_eq!(first[..], two_pages[..60], "{kind} query {query:?}");
        }
    }
    // A cluster's members prove their neighbours from a small share of the lists: the
    // planes between their centroid and the others bound far more than the radii do,
    // and the probe reads just the lists those bounds leave open.
    assert!(
        member_bytes / 10 < all / 16,
        "{} of {all} bytes a cluster query",
        member_bytes / 10
    );
}

#[test]
fn files_are_checked_against_the_manifest() {
    let data = set(3_000);
    let (manifest, files) = write(&data, &small_config(8));
    let mut index = open(&data, &manifest, &files);
    let query = data.row(3);
    let first = index.missing_lists(query, 2, 10).unwrap()[0].name.clone();
    assert!(matches!(
        index.nearest(query, 2, 10),
        Err(IndexError::NotLoaded { file }) if file == first
    ));
    assert!(matches!(
        index.add_list("knn-list-99999.0.shard", &files[&first]),
        Err(IndexError::UnknownFile { .. })
    ));
    let mut bytes = files[&first].clone();
    bytes.pop();
    assert!(matches!(
        index.add_list(&first, &bytes),
        Err(IndexError::SizeMismatch { .. })
    ));
    let mut bytes = files[&first].clone();
    *bytes.last_mut().unwrap() ^= 1;
    assert!(matches!(
        index.add_list(&first, &bytes),
        Err(IndexError::HashMismatch { file, .. }) if file == first
    ));
    assert!(matches!(
        index.missing_lists(query, 0, 10),
        Err(IndexError::Config { .. })
    ));
    assert!(matches!(
        index.missing_lists(&query[..4], 1, 10),
        Err(IndexError::QueryDims { .. })
    ));
    let centroids = &files[&manifest.centroids.name];
    let wrong_rows = PartitionedKnn::new(&manifest, data.dims, 2_999, centroids).unwrap_err();
    assert!(
        matches!(wrong_rows, IndexError::Manifest { .. }),
        "{wrong_rows}"
    );
    let wrong_dims = PartitionedKnn::new(&manifest, 16, 3_000, centroids).unwrap_err();
    assert!(
        wrong_dims
            .to_string()
            .contains("dims 32 at offset 16, the index has 16"),
        "{wrong_dims}"
    );
    let mut newer = manifest.clone();
    newer.format_version += 1;
    assert!(matches!(
        PartitionedKnn::new(&newer, data.dims, 3_000, centroids),
        Err(IndexError::FormatVersion { .. })
    ));
}

#[test]
fn the_manifest_section_is_optional() {
    let data = set(3_000);
    let (knn, _) = write(&data, &small_config(8));
    let old = r#"{"format_version":3,"dims":32,"n_points":0,"leaf_size":8,"seed":1,"subsets":[],"files":[]}"#;
    let mut manifest = Manifest::from_json(old.as_bytes()).unwrap();
    assert_eq!(manifest.knn, None);
    assert!(
        !String::from_utf8(manifest.to_json())
            .unwrap()
            .contains("knn")
    );
    manifest.knn = Some(knn);
    let names: Vec<&str> = manifest.file_names().collect();
    assert_eq!(names.len(), 9);
    assert_eq!(Manifest::from_json(&manifest.to_json()).unwrap(), manifest);
}
