//! Shard files: deterministic, named by content, lazily loadable.

use index_shards::{
    FORMAT_VERSION, Features, IndexError, LoadedIndex, MANIFEST_NAME, Manifest, ShardConfig,
    ShardKind, StoredFile, TreeBuilder, TreeSet, TreeSetConfig, index_manifest, write_features,
    write_tree,
};

use crate::common::{collect, load_all, stored_bytes, write_to_memory};

fn small_set() -> (Vec<u8>, TreeSet) {
    let data = index_shards::synthetic::RareClusterSet::generate(
        &index_shards::synthetic::SyntheticConfig {
            n: 3_000,
            dims: 16,
            rare_clusters: 2,
            rare_cluster_size: 40,
            ..Default::default()
        },
    );
    let config = TreeSetConfig {
        leaf_size: 20,
        subsets: vec![(4, 3), (6, 2)],
        seed: 11,
    };
    let set = TreeSet::build(&data.features, 16, &config).unwrap();
    (data.features, set)
}

#[test]
fn writing_twice_gives_identical_bytes() {
    let (features, set) = small_set();
    let config = ShardConfig::uniform(4096);
    let first = write_to_memory(&features, 16, &set, &config);
    let rebuilt = TreeSet::build(&features, 16, set.config()).unwrap();
    let second = write_to_memory(&features, 16, &rebuilt, &config);
    assert_eq!(first, second);
    let names: Vec<&str> = first.1.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.last(), Some(&MANIFEST_NAME));
    // The manifest's files in its order; the leaf files, which the tops list, between.
    let listed = first
        .1
        .iter()
        .filter(|(name, _)| first.0.files.iter().any(|f| f.name == *name));
    for (entry, (name, bytes)) in first.0.files.iter().zip(listed) {
        assert_eq!(&entry.name, name);
        assert_eq!(entry.bytes, bytes.len() as u64);
        assert!(
            name.ends_with(&format!(".{}.shard", &entry.blake3[..16])),
            "{name}"
        );
    }
    let json = &first.1.last().unwrap().1;
    assert_eq!(Manifest::from_json(json).unwrap(), first.0);
    assert_eq!(first.0.format_version, FORMAT_VERSION);
}

#[test]
fn trees_written_one_at_a_time_give_the_same_bytes() {
    let (features, set) = small_set();
    let config = ShardConfig::uniform(4096);
    let together = write_to_memory(&features, 16, &set, &config);
    let features = Features::new(&features, 16).unwrap();
    let builder = TreeBuilder::new(features, set.config()).unwrap();
    let mut files = Vec::new();
    let mut sink = |name: &str, bytes: &[u8]| {
        files.push((name.to_owned(), bytes.to_vec()));
        Ok::<_, std::io::Error>(())
    };
    let mut listed = write_features(features, &config, &mut sink).unwrap();
    // Backwards: each tree stands alone.
    let mut tops = Vec::new();
    for t in (0..builder.subsets().len()).rev() {
        let tree = builder.build(t).unwrap();
        tops.push(
            write_tree(
                t,
                &tree,
                &builder.subsets()[t],
                set.config(),
                &config,
                &mut sink,
            )
            .unwrap(),
        );
    }
    listed.extend(tops.into_iter().rev());
    let manifest = index_manifest(features, set.config(), builder.subsets().to_vec(), listed);
    assert_eq!(manifest, together.0);
    let mut alone: Vec<_> = files;
    let mut all: Vec<_> = together
        .1
        .into_iter()
        .filter(|(n, _)| n != MANIFEST_NAME)
        .collect();
    alone.sort();
    all.sort();
    assert_eq!(alone, all);
}

#[test]
fn shards_are_bounded_and_named_by_what_they_cover() {
    let (features, set) = small_set();
    let (manifest, files) = write_to_memory(&features, 16, &set, &ShardConfig::uniform(4096));
    let features_files = manifest
        .files
        .iter()
        .filter(|f| matches!(f.kind, ShardKind::Features { .. }))
        .count();
    assert_eq!(features_files, 3_000usize.div_ceil(4096 / 16));
    // The manifest lists the features and the tops; the tops list the leaf files.
    assert_eq!(manifest.files.len(), features_files + set.trees().len());
    let loaded = load_all(&manifest, &files);
    for tree in 0..set.trees().len() {
        let dims = set.subsets()[tree].len();
        let all = loaded
            .needed_leaf_files(tree, &vec![0; dims], &vec![255; dims])
            .unwrap();
        assert!(all.len() > 1);
        // One after another in the tree's pack, named by their leaves.
        let (mut next_leaf, mut next_byte) = (0, 0);
        for file in &all {
            let leaves = file.name[format!("tree-{tree:03}-leaves-").len()..]
                .split('.')
                .next()
                .unwrap();
            let (first, last) = leaves.split_once('-').unwrap();
            let (first, last): (usize, usize) = (first.parse().unwrap(), last.parse().unwrap());
            assert_eq!(first, next_leaf, "{}", file.name);
            assert!(
                file.stored_in
                    .starts_with(&format!("tree-{tree:03}-leaves."))
            );
            assert_eq!(file.offset, next_byte, "{}", file.name);
            (next_leaf, next_byte) = (last + 1, file.offset + file.bytes);
            assert!(
                file.bytes < 4096 + 512,
                "{} has {} bytes",
                file.name,
                file.bytes
            );
        }
        let pack = loaded.leaf_packs().nth(tree).unwrap();
        assert_eq!(pack.name, all[0].stored_in);
        assert_eq!(
            pack.bytes, next_byte,
            "the pack holds its leaf files and nothing else"
        );
    }
}

#[test]
fn lazy_loading_fetches_only_needed_leaves() {
    let (features, set) = small_set();
    let (manifest, files) = write_to_memory(&features, 16, &set, &ShardConfig::uniform(1024));
    let bytes_of = |name: &str| {
        files
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, b)| b.clone())
            .unwrap()
    };
    let stored = |file: &StoredFile| stored_bytes(&files, file).unwrap().to_vec();
    let mut loaded = LoadedIndex::new(manifest.clone()).unwrap();
    let (lo, hi) = ([0u8, 0, 0, 0], [120u8, 255, 255, 255]);
    assert!(matches!(
        loaded.needed_leaf_files(0, &lo, &hi),
        Err(IndexError::NotLoaded { .. })
    ));
    let top = manifest
        .files
        .iter()
        .find(|f| f.kind == ShardKind::TreeTop { tree: 0 })
        .unwrap();
    loaded.add_file(&top.name, &bytes_of(&top.name)).unwrap();
    let needed = loaded.needed_leaf_files(0, &lo, &hi).unwrap();
    let all_leaves = loaded
        .needed_leaf_files(0, &[0; 4], &[255; 4])
        .unwrap()
        .len();
    assert!(
        !needed.is_empty() && needed.len() < all_leaves,
        "{} of {all_leaves}",
        needed.len()
    );
    match loaded.range_query(0, &lo, &hi, &mut |_| {}) {
        Err(IndexError::NotLoaded { file }) => assert!(needed.iter().any(|f| f.name == file)),
        other => panic!("expected NotLoaded, got {other:?}"),
    }
    for file in &needed {
        loaded.add_file(&file.name, &stored(file)).unwrap();
    }
    let lazy = collect(|emit| {
        loaded.range_query(0, &lo, &hi, emit).unwrap();
    });
    let in_memory = collect(|emit| {
        set.range_query(0, &lo, &hi, emit).unwrap();
    });
    assert_eq!(lazy, in_memory);
    assert!(
        loaded
            .needed_leaf_files(0, &[9, 0, 0, 0], &[8, 0, 0, 0])
            .unwrap()
            .is_empty()
    );
}

#[test]
fn loaded_features_equal_the_input() {
    let (features, set) = small_set();
    let (manifest, files) = write_to_memory(&features, 16, &set, &ShardConfig::uniform(5000));
    let loaded = load_all(&manifest, &files);
    assert_eq!(loaded.features_to_vec().unwrap(), features);
    assert_eq!(loaded.feature_row(2_999).unwrap(), &features[2_999 * 16..]);
    assert!(matches!(
        loaded.feature_row(3_000),
        Err(IndexError::IdOutOfRange {
            id: 3_000,
            n: 3_000
        })
    ));
    assert_eq!(loaded.subsets(), set.subsets());
    assert!(loaded.missing_files().is_empty());
}

/// The blake3 of `manifest.json` for a fixed small input; `tests/wasm.rs` pins the same
/// value, so native and wasm builds write byte-identical indexes.
const PINNED_MANIFEST_BLAKE3: &str =
    "f0e4ea6ea5c6c02301d119a5676cffc89a5429a03cbf7cca3e5fa51f98962351";

#[test]
fn manifest_hash_is_pinned_across_targets() {
    let (features, set) = small_set();
    let (_, files) = write_to_memory(&features, 16, &set, &ShardConfig::uniform(4096));
    let json = &files.last().unwrap().1;
    assert_eq!(blake3::hash(json).to_hex().as_str(), PINNED_MANIFEST_BLAKE3);
}
