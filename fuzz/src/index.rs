//! The index's files as a browser fetches them: a small real index, one of whose files is
//! replaced by the input (its manifest entry made to match, so the bytes get past the
//! size and hash checks to the shard validation behind them).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use index_shards::{LoadedIndex, Manifest, ShardConfig, TreeSet, TreeSetConfig, write_index};

const POINTS: usize = 300;
const DIMS: usize = 6;

/// The small index: its manifest and every file by name.
struct SmallIndex {
    manifest: Manifest,
    files: BTreeMap<String, Vec<u8>>,
}

fn small_index() -> &'static SmallIndex {
    static INDEX: OnceLock<SmallIndex> = OnceLock::new();
    INDEX.get_or_init(|| {
        // A fixed pattern, not random: the index is the same in every run.
        let features: Vec<u8> = (0..POINTS * DIMS)
            .map(|i| ((i * 37 + i / DIMS * 11) % 251) as u8)
            .collect();
        let config = TreeSetConfig {
            leaf_size: 16,
            subsets: vec![(2, 2), (3, 1)],
            seed: 7,
        };
        let trees = TreeSet::build(&features, DIMS, &config).expect("a valid small tree set");
        let features = index_shards::Features::new(&features, DIMS).expect("whole rows");
        let mut files = BTreeMap::new();
        // Small shards, so a tree has several leaf files.
        let shards = ShardConfig {
            max_shard_bytes: 512,
        };
        let manifest = write_index(features, &trees, &shards, |name, bytes| {
            files.insert(name.to_owned(), bytes.to_vec());
            Ok::<_, std::io::Error>(())
        })
        .expect("the small index is written");
        files.remove(index_shards::MANIFEST_NAME);
        SmallIndex { manifest, files }
    })
}

/// The shard files of the small index, in manifest order: the seeds of `index_shard`
/// (each with its selector byte in front).
pub fn index_shard_seeds() -> Vec<Vec<u8>> {
    let index = small_index();
    index
        .manifest
        .files
        .iter()
        .enumerate()
        .map(|(i, file)| {
            let mut seed = vec![i as u8];
            seed.extend_from_slice(&index.files[&file.name]);
            seed
        })
        .collect()
}

/// The small index's `manifest.json`: the seed of `manifest`.
pub fn small_index_manifest() -> Vec<u8> {
    small_index().manifest.to_json()
}

/// The first byte picks a file of the small index; the rest replaces its bytes. Every
/// file is added, then each tree is queried with a whole box and a partial one and every
/// feature row read: a file that was accepted must answer.
pub fn index_shard(data: &[u8]) {
    let Some((&which, bytes)) = data.split_first() else {
        return;
    };
    let index = small_index();
    let mut manifest = index.manifest.clone();
    let replaced = usize::from(which) % manifest.files.len();
    let entry = &mut manifest.files[replaced];
    entry.bytes = bytes.len() as u64;
    entry.blake3 = blake3::hash(bytes).to_hex().to_string();
    let replaced_name = entry.name.clone();
    let mut loaded = LoadedIndex::new(manifest).expect("the small index's manifest is valid");
    for (name, original) in &index.files {
        let content = if *name == replaced_name {
            bytes
        } else {
            original
        };
        if loaded.add_file(name, content).is_err() {
            assert_eq!(*name, replaced_name, "an untouched file was refused");
            return;
        }
    }
    query_everything(&loaded);
}

/// Box queries on every tree and every feature row: errors are fine, panics are not, and
/// ids are those of the index.
fn query_everything(loaded: &LoadedIndex) {
    let n = loaded.len() as u32;
    for (tree, subset) in loaded.subsets().iter().enumerate() {
        let dims = subset.len();
        for (lo, hi) in [
            (vec![0; dims], vec![255; dims]),
            (vec![40; dims], vec![200; dims]),
        ] {
            let _ = loaded.needed_leaf_files(tree, &lo, &hi);
            let mut emitted = Vec::new();
            let _ = loaded.range_query(tree, &lo, &hi, &mut |ids| emitted.extend_from_slice(ids));
            assert!(
                emitted.iter().all(|&id| id < n),
                "tree {tree} emitted an id past the index"
            );
        }
    }
    for id in 0..n {
        if let Ok(row) = loaded.feature_row(id) {
            assert_eq!(row.len(), loaded.dims());
        }
    }
}

/// `manifest.json`: a manifest the loader accepts plans queries and names its files.
pub fn manifest(data: &[u8]) {
    let Ok(manifest) = Manifest::from_json(data) else {
        return;
    };
    let again = Manifest::from_json(&manifest.to_json()).expect("a written manifest reads back");
    assert_eq!(manifest, again);
    let Ok(loaded) = LoadedIndex::new(manifest) else {
        return;
    };
    let _ = loaded.missing_files().count();
    for (tree, subset) in loaded.subsets().iter().enumerate().take(8) {
        let dims = subset.len();
        let _ = loaded.needed_leaf_files(tree, &vec![0; dims], &vec![255; dims]);
    }
    let _ = loaded.feature_row(0);
}
