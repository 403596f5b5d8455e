//! The index's files as a browser fetches them: a small real index, one of whose files is
//! replaced by the input (its parent's entry made to match: the manifest's, or for a leaf
//! file its tree top's, its pack's and then the manifest's, so the bytes get past the size
//! and hash checks to the shard validation behind them).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use index_shards::{
    LoadedIndex, Manifest, ShardConfig, StoredFile, TreeSet, TreeSetConfig, write_index,
};

const POINTS: usize = 300;
const DIMS: usize = 6;

/// The small index: its manifest, every file of the index by name (the manifest's and
/// the leaf files the tops name), and the files on the host (the manifest's and the packs
/// that store the leaf files).
struct SmallIndex {
    manifest: Manifest,
    files: BTreeMap<String, Vec<u8>>,
    stored: BTreeMap<String, Vec<u8>>,
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
        let mut stored = BTreeMap::new();
        // Small shards, so a tree has several leaf files.
        let shards = ShardConfig::uniform(512);
        let manifest = write_index(features, &trees, &shards, |name, bytes| {
            stored.insert(name.to_owned(), bytes.to_vec());
            Ok::<_, std::io::Error>(())
        })
        .expect("the small index is written");
        stored.remove(index_shards::MANIFEST_NAME);
        let mut files = BTreeMap::new();
        LoadedIndex::new(manifest.clone())
            .expect("a valid manifest")
            .add_missing(|loaded, file| {
                let bytes = stored_bytes(&stored, file).expect("a written file");
                files.insert(file.name.clone(), bytes.to_vec());
                loaded.add_file(&file.name, bytes)
            })
            .expect("valid files");
        SmallIndex {
            manifest,
            files,
            stored,
        }
    })
}

/// The bytes of `file` where `stored` holds them (a file of its own, or a range of a pack).
fn stored_bytes<'a>(stored: &'a BTreeMap<String, Vec<u8>>, file: &StoredFile) -> Option<&'a [u8]> {
    file.slice_of(stored.get(&file.stored_in)?, 0).ok()
}

/// The files of the small index, in name order: the seeds of `index_shard` (each with its
/// selector byte in front).
pub fn index_shard_seeds() -> Vec<Vec<u8>> {
    small_index()
        .files
        .values()
        .enumerate()
        .map(|(i, bytes)| {
            let mut seed = vec![i as u8];
            seed.extend_from_slice(bytes);
            seed
        })
        .collect()
}

/// The small index's `manifest.json`: the seed of `manifest`.
pub fn small_index_manifest() -> Vec<u8> {
    small_index().manifest.to_json()
}

/// The first byte picks a file of the small index (in name order); the rest replaces its
/// bytes. Every file is added, a layer at a time, then each tree is queried with a whole
/// box and a partial one and every feature row read: a file that was accepted must answer.
pub fn index_shard(data: &[u8]) {
    let Some((&which, bytes)) = data.split_first() else {
        return;
    };
    let index = small_index();
    let mut manifest = index.manifest.clone();
    let mut stored = index.stored.clone();
    let replaced = index
        .files
        .keys()
        .nth(usize::from(which) % index.files.len())
        .expect("a file")
        .clone();
    // `name`'s bytes replaced, and its manifest entry made to match; false if the manifest
    // does not list it.
    let reseal =
        |manifest: &mut Manifest, stored: &mut BTreeMap<_, _>, name: &str, bytes: &[u8]| {
            let Some(entry) = manifest.files.iter_mut().find(|f| f.name == name) else {
                return false;
            };
            entry.bytes = bytes.len() as u64;
            entry.blake3 = blake3::hash(bytes).to_hex().to_string();
            stored.insert(name.to_owned(), bytes.to_vec());
            true
        };
    let (replaced_name, top_replaced) = if reseal(&mut manifest, &mut stored, &replaced, bytes) {
        (replaced.clone(), replaced.contains("-top."))
    } else {
        // A leaf file: its tree's top lists the input in its place, in a pack that holds it.
        let (top, pack, k) = leaf_position(&replaced);
        let relisted =
            index_shards::relist_leaf_file(&top, &stored[&top], &stored[&pack], k, bytes)
                .expect("the small index's top and pack are valid");
        assert!(reseal(&mut manifest, &mut stored, &top, &relisted.top));
        stored.remove(&pack);
        stored.insert(relisted.pack.0, relisted.pack.1);
        (relisted.leaf, false)
    };
    let mut loaded = LoadedIndex::new(manifest).expect("the small index's manifest is valid");
    let added = loaded.add_missing(|loaded, file| {
        let added = match stored_bytes(&stored, file) {
            Some(content) => loaded.add_file(&file.name, content),
            None => Err(index_shards::IndexError::UnknownFile {
                file: file.name.clone(),
            }),
        };
        // A top that was accepted with another table names leaf files that are refused;
        // any other refusal is of the replaced file.
        assert!(
            added.is_ok() || top_replaced || file.name == replaced_name,
            "an untouched file {} was refused",
            file.name
        );
        added
    });
    if added.is_ok() {
        query_everything(&loaded);
    }
}

/// The top file of leaf file `name` of the small index, the pack that stores it, and its
/// position in the top's table.
fn leaf_position(name: &str) -> (String, String, usize) {
    let index = small_index();
    let mut loaded = LoadedIndex::new(index.manifest.clone()).expect("a valid manifest");
    for file in &index.manifest.files {
        loaded
            .add_file(&file.name, &index.files[&file.name])
            .expect("a valid file");
    }
    for (tree, subset) in loaded.subsets().iter().enumerate() {
        let dims = subset.len();
        let listed = loaded
            .needed_leaf_files(tree, &vec![0; dims], &vec![255; dims])
            .expect("a loaded top");
        if let Some(k) = listed.iter().position(|f| f.name == name) {
            let top = index
                .manifest
                .files
                .iter()
                .find(|f| f.kind == index_shards::ShardKind::TreeTop { tree })
                .expect("a top per tree");
            return (top.name.clone(), listed[k].stored_in.clone(), k);
        }
    }
    panic!("{name} is no leaf file of the small index")
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
    let _ = loaded.missing_files().len();
    for (tree, subset) in loaded.subsets().iter().enumerate().take(8) {
        let dims = subset.len();
        let _ = loaded.needed_leaf_files(tree, &vec![0; dims], &vec![255; dims]);
    }
    let _ = loaded.feature_row(0);
}
