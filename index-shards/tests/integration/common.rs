//! Shared helpers: brute-force references and in-memory shard round trips.

use index_shards::{
    Features, IndexError, LoadedIndex, MANIFEST_NAME, Manifest, ShardConfig, StoredFile, TreeSet,
    write_index,
};

/// Ids of rows of `features` (rows of `dims`) inside the box over `subset`, ascending.
pub fn brute_force_box(
    features: &[u8],
    dims: usize,
    subset: &[u16],
    lo: &[u8],
    hi: &[u8],
) -> Vec<u32> {
    features
        .chunks_exact(dims)
        .enumerate()
        .filter(|(_, row)| {
            subset
                .iter()
                .zip(lo.iter().zip(hi))
                .all(|(&d, (&l, &h))| (l..=h).contains(&row[usize::from(d)]))
        })
        .map(|(i, _)| i as u32)
        .collect()
}

/// Every id a query emits, in emission order, and the stats.
pub fn collect(query: impl FnOnce(&mut dyn FnMut(&[u32]))) -> Vec<u32> {
    let mut ids = Vec::new();
    query(&mut |slice: &[u32]| ids.extend_from_slice(slice));
    ids
}

/// Shard files in memory: `(name, bytes)` in the order written.
pub type Files = Vec<(String, Vec<u8>)>;

/// Writes the index to memory: the manifest and `(name, bytes)` of every shard.
pub fn write_to_memory(
    features: &[u8],
    dims: usize,
    trees: &TreeSet,
    config: &ShardConfig,
) -> (Manifest, Files) {
    let mut files = Vec::new();
    let manifest = write_index(
        Features::new(features, dims).unwrap(),
        trees,
        config,
        |name, bytes| {
            files.push((name.to_owned(), bytes.to_vec()));
            Ok::<_, std::io::Error>(())
        },
    )
    .unwrap();
    (manifest, files)
}

/// A loaded index with every file added, a layer at a time as a client adds them (the
/// manifest's files, then the leaf files the tops name).
pub fn load_all(manifest: &Manifest, files: &[(String, Vec<u8>)]) -> LoadedIndex {
    let mut loaded = LoadedIndex::new(manifest.clone()).unwrap();
    load_all_into(&mut loaded, files).unwrap();
    let packs: Vec<&str> = loaded.leaf_packs().map(|p| p.name.as_str()).collect();
    for (name, _) in files.iter().filter(|(n, _)| n != MANIFEST_NAME) {
        assert!(
            loaded.is_loaded(name) || packs.contains(&name.as_str()),
            "{name} is written, but named by neither the manifest nor a top"
        );
    }
    loaded
}

/// Adds every file `loaded` misses from `files`, a layer at a time; the first refusal, or
/// a named file `files` does not hold.
pub fn load_all_into(
    loaded: &mut LoadedIndex,
    files: &[(String, Vec<u8>)],
) -> Result<(), IndexError> {
    loaded.add_missing(|loaded, file| {
        let bytes = stored_bytes(files, file).ok_or_else(|| IndexError::UnknownFile {
            file: file.name.clone(),
        })?;
        loaded.add_file(&file.name, bytes)
    })?;
    assert!(loaded.missing_files().is_empty());
    Ok(())
}

/// The bytes of `file` where `files` stores them (a file of its own, or a range of a pack);
/// none if `files` lacks them.
pub fn stored_bytes<'a>(files: &'a [(String, Vec<u8>)], file: &StoredFile) -> Option<&'a [u8]> {
    let (_, stored) = files.iter().find(|(n, _)| *n == file.stored_in)?;
    file.slice_of(stored, 0).ok()
}
