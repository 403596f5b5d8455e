//! Bad bytes, manifests and shapes give a typed error naming what is wrong, never a panic.

use index_shards::{
    Features, IndexError, LoadedIndex, MANIFEST_NAME, Manifest, ShardConfig, ShardKind, TreeSet,
    TreeSetConfig, knn_exact, write_index,
};

use crate::common::{Files, write_to_memory};

fn tiny() -> (Vec<u8>, TreeSet, Manifest, Files) {
    let features: Vec<u8> = (0..40u32 * 3).map(|i| (i * 53 % 251) as u8).collect();
    let config = TreeSetConfig {
        leaf_size: 4,
        subsets: vec![(2, 1)],
        seed: 5,
    };
    let set = TreeSet::build(&features, 3, &config).unwrap();
    let (manifest, files) = write_to_memory(&features, 3, &set, &ShardConfig::uniform(64));
    (features, set, manifest, files)
}

/// The manifest with `name`'s size and hash replaced by those of `bytes`: a hostile or
/// buggy writer whose manifest agrees with its broken shard.
fn reseal(manifest: &Manifest, name: &str, bytes: &[u8]) -> Manifest {
    let mut manifest = manifest.clone();
    let entry = manifest.files.iter_mut().find(|f| f.name == name).unwrap();
    entry.bytes = bytes.len() as u64;
    entry.blake3 = blake3::hash(bytes).to_hex().to_string();
    manifest
}

fn shard_of(
    manifest: &Manifest,
    files: &[(String, Vec<u8>)],
    kind: fn(&ShardKind) -> bool,
) -> (String, Vec<u8>) {
    let entry = manifest.files.iter().find(|f| kind(&f.kind)).unwrap();
    files
        .iter()
        .find(|(n, _)| *n == entry.name)
        .unwrap()
        .clone()
}

#[test]
fn size_hash_and_unknown_files_are_named() {
    let (_, _, manifest, files) = tiny();
    let (name, bytes) = &files[0];
    let mut loaded = LoadedIndex::new(manifest.clone()).unwrap();
    match loaded.add_file(name, &bytes[..bytes.len() - 1]) {
        Err(IndexError::SizeMismatch { file, .. }) => assert_eq!(&file, name),
        other => panic!("{other:?}"),
    }
    let mut flipped = bytes.clone();
    flipped[20] ^= 1;
    match loaded.add_file(name, &flipped) {
        Err(e @ IndexError::HashMismatch { .. }) => {
            assert!(e.to_string().starts_with(name.as_str()))
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        loaded.add_file("nope.shard", bytes),
        Err(IndexError::UnknownFile { .. })
    ));
    assert!(matches!(
        loaded.add_file(MANIFEST_NAME, bytes),
        Err(IndexError::UnknownFile { .. })
    ));
}

#[test]
fn wrong_format_versions_are_reported() {
    let (_, _, manifest, files) = tiny();
    let mut old = manifest.clone();
    old.format_version += 1;
    assert!(matches!(
        Manifest::from_json(&old.to_json()),
        Err(IndexError::FormatVersion { .. })
    ));
    assert!(matches!(
        LoadedIndex::new(old),
        Err(IndexError::FormatVersion { .. })
    ));
    assert!(matches!(
        Manifest::from_json(b"{\"format_version\": 1"),
        Err(IndexError::ManifestJson(_))
    ));
    let (name, mut bytes) = files[0].clone();
    bytes[8] = 99;
    let mut loaded = LoadedIndex::new(reseal(&manifest, &name, &bytes)).unwrap();
    match loaded.add_file(&name, &bytes) {
        Err(IndexError::FormatVersion {
            file, found: 99, ..
        }) => assert_eq!(file, name),
        other => panic!("{other:?}"),
    }
}

/// Which file a test breaks.
#[derive(Clone, Copy)]
enum Target {
    /// A file the manifest lists, of this kind.
    Listed(fn(&ShardKind) -> bool),
    /// The first leaf file of tree 0, which its top lists.
    Leaves,
}

/// Loads every file of the tiny index with the target's bytes replaced by `broken`, its
/// parent's table made to agree (the manifest, or the top and then the manifest); the
/// result of adding the broken file, and the index.
fn load_broken(
    manifest: &Manifest,
    files: &[(String, Vec<u8>)],
    target: Target,
    broken: &[u8],
) -> (Result<(), IndexError>, LoadedIndex) {
    let bytes_of = |name: &str| files.iter().find(|(n, _)| n == name).unwrap().1.clone();
    let mut replaced: Vec<(String, Vec<u8>)> = Vec::new();
    let broken_name = match target {
        Target::Listed(kind) => {
            let (name, _) = shard_of(manifest, files, kind);
            replaced.push((name.clone(), broken.to_vec()));
            name
        }
        Target::Leaves => {
            let (top, top_bytes) = shard_of(manifest, files, |k| {
                matches!(k, ShardKind::TreeTop { tree: 0 })
            });
            let pack = &crate::common::load_all(manifest, files)
                .leaf_packs()
                .next()
                .unwrap()
                .name
                .clone();
            let relisted =
                index_shards::relist_leaf_file(&top, &top_bytes, &bytes_of(pack), 0, broken)
                    .unwrap();
            replaced.push((top, relisted.top));
            replaced.push(relisted.pack);
            relisted.leaf
        }
    };
    let mut sealed = manifest.clone();
    for (name, bytes) in &replaced {
        if sealed.files.iter().any(|f| f.name == *name) {
            sealed = reseal(&sealed, name, bytes);
        }
    }
    let mut loaded = LoadedIndex::new(sealed).unwrap();
    for _ in 0..2 {
        for file in loaded.missing_files() {
            let stored = match replaced.iter().find(|(n, _)| *n == file.stored_in) {
                Some((_, bytes)) => bytes.clone(),
                None => bytes_of(&file.stored_in),
            };
            let bytes = file.slice_of(&stored, 0).unwrap();
            let name = file.name;
            let added = loaded.add_file(&name, bytes);
            if name == broken_name || added.is_err() {
                assert_eq!(
                    name, broken_name,
                    "an untouched file was refused: {added:?}"
                );
                return (added, loaded);
            }
        }
    }
    panic!("{broken_name} was never added")
}

#[test]
fn truncated_and_bit_flipped_shards_never_panic() {
    let (_, set, manifest, files) = tiny();
    let mut out_of_range_ids = 0;
    let targets = [
        Target::Listed(|k| matches!(k, ShardKind::Features { .. })),
        Target::Listed(|k| matches!(k, ShardKind::TreeTop { .. })),
        Target::Leaves,
    ];
    let leaf_file = {
        let loaded = crate::common::load_all(&manifest, &files);
        let first = loaded.needed_leaf_files(0, &[0, 0], &[255, 255]).unwrap()[0].clone();
        crate::common::stored_bytes(&files, &first)
            .unwrap()
            .to_vec()
    };
    for target in targets {
        let bytes = match target {
            Target::Listed(kind) => shard_of(&manifest, &files, kind).1,
            Target::Leaves => leaf_file.clone(),
        };
        let mut candidates: Vec<Vec<u8>> =
            (0..bytes.len()).map(|cut| bytes[..cut].to_vec()).collect();
        for i in 0..bytes.len() {
            for mask in [0x01, 0x80, 0xff] {
                let mut b = bytes.clone();
                b[i] ^= mask;
                candidates.push(b);
            }
        }
        for broken in candidates {
            match load_broken(&manifest, &files, target, &broken) {
                (Ok(()), mut loaded) => {
                    // Accepted bytes are structurally valid: queries must still work once
                    // every file is in.
                    let all = crate::common::load_all_into(&mut loaded, &files);
                    if all.is_err() {
                        // A top accepted with another table: its leaf files are refused.
                        continue;
                    }
                    for tree in 0..set.trees().len() {
                        let mut ids = Vec::new();
                        loaded
                            .range_query(tree, &[0, 0], &[255, 255], &mut |s| {
                                ids.extend_from_slice(s)
                            })
                            .unwrap();
                        assert!(ids.iter().all(|&id| id < 40));
                    }
                }
                (Err(IndexError::Corrupt { reason, .. }), _) => {
                    out_of_range_ids += usize::from(reason.contains("out of range"));
                }
                (Err(IndexError::FormatVersion { .. }), _) => {}
                (Err(other), _) => panic!("unexpected error {other}"),
            }
        }
    }
    assert!(out_of_range_ids > 0, "no flip produced an out-of-range id");
}

#[test]
fn inconsistent_manifests_are_rejected() {
    let (_, _, manifest, _) = tiny();
    let mut no_top = manifest.clone();
    no_top
        .files
        .retain(|f| !matches!(f.kind, ShardKind::TreeTop { .. }));
    assert!(matches!(
        LoadedIndex::new(no_top),
        Err(IndexError::Manifest { .. })
    ));
    let mut gap = manifest.clone();
    let features = gap
        .files
        .iter()
        .position(|f| matches!(f.kind, ShardKind::Features { .. }))
        .unwrap();
    gap.files.remove(features);
    assert!(matches!(
        LoadedIndex::new(gap),
        Err(IndexError::Manifest { .. })
    ));
    let mut bad_subset = manifest.clone();
    bad_subset.subsets[0] = vec![2, 1];
    assert!(matches!(
        LoadedIndex::new(bad_subset),
        Err(IndexError::Manifest { .. })
    ));
    let mut twice = manifest.clone();
    twice.files.push(twice.files[0].clone());
    assert!(matches!(
        LoadedIndex::new(twice),
        Err(IndexError::Manifest { .. })
    ));
    let mut wrong_tree = manifest;
    wrong_tree.files[0].kind = ShardKind::TreeTop { tree: 9 };
    assert!(matches!(
        LoadedIndex::new(wrong_tree),
        Err(IndexError::Manifest { .. })
    ));
}

#[test]
fn mismatched_shapes_are_errors() {
    let (features, set, manifest, files) = tiny();
    let other: Vec<u8> = features[..features.len() - 3].to_vec();
    let result = write_index(
        Features::new(&other, 3).unwrap(),
        &set,
        &ShardConfig::default(),
        |_, _| Ok::<_, std::io::Error>(()),
    );
    assert!(matches!(result, Err(IndexError::Mismatch { .. })));
    let as_dims_1 = Features::new(&features, 1).unwrap();
    assert!(matches!(
        write_index(as_dims_1, &set, &ShardConfig::default(), |_, _| Ok::<
            _,
            std::io::Error,
        >(
            ()
        )),
        Err(IndexError::Mismatch { .. })
    ));
    let failing = write_index(
        Features::new(&features, 3).unwrap(),
        &set,
        &ShardConfig::default(),
        |_, _| Err(std::io::Error::other("disk full")),
    );
    assert!(matches!(failing, Err(IndexError::Sink { .. })));
    assert!(matches!(
        TreeSet::build(&features, 7, set.config()),
        Err(IndexError::FeatureShape { .. })
    ));
    assert!(matches!(
        knn_exact(Features::new(&features, 3).unwrap(), &[1, 2], 5),
        Err(IndexError::QueryDims { .. })
    ));
    let loaded = crate::common::load_all(&manifest, &files);
    assert!(matches!(
        loaded.range_query(0, &[0], &[1], &mut |_| {}),
        Err(IndexError::QueryDims { .. })
    ));
    assert!(matches!(
        loaded.range_query(5, &[0, 0], &[1, 1], &mut |_| {}),
        Err(IndexError::TreeOutOfRange { .. })
    ));
}
