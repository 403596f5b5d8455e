//! `precompute verify DIR`: checks a dataset folder as a client would read it and lists
//! every fault, one line each, naming the file: `dataset.json`, the index manifest and
//! every shard (size, blake3 and archive validation by `index_shards::LoadedIndex`), the
//! partitioned k-NN's centroids and lists (as `index_shards::PartitionedKnn` adds them),
//! every file `dataset.json` names (size and blake3), every item chunk (parses, ids and counts
//! agree), every thumbnail the items name (exists, and its bytes match its
//! content-hashed name), and whether the text encoder's config fits its weights.
//!
//! Every file is checked as a static host serves it: a name must be relative and stay in
//! the folder (no `..`, no absolute path, no hidden segment), resolve (links followed)
//! inside the folder, and be a regular file; reads are bounded (by the size the manifest
//! gives, or a cap), so a link to `/dev/zero` or a FIFO is a fault, not a hang.

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use clap::Args;
use dataset::items_table::{ItemsDirectory, Located};
use dataset::{
    DATASET_FILE, DatasetManifest, FileRef, ImageEncoder, ItemsChunk, Reduction, TextEncoder,
};
use index_shards::{IndexError, LazyFile, LoadedIndex, MANIFEST_NAME, Manifest, PartitionedKnn};
use ingest::local_file::read_regular_file;
use rayon::prelude::*;

/// Check a dataset folder: manifests, shards, hashes, item chunks and thumbnails.
#[derive(Args)]
pub struct VerifyArgs {
    /// The dataset folder.
    dir: PathBuf,
    /// The folder is an index alone (`precompute index`'s output): no `dataset.json`.
    #[arg(long)]
    index_only: bool,
}

/// Largest `dataset.json`, index manifest or item chunk read whole.
const MAX_METADATA_BYTES: u64 = 64 << 20;
/// Largest thumbnail read (they are JPEGs of 256 pixels a side by default).
const MAX_THUMB_BYTES: u64 = ingest::local_file::MAX_IMAGE_FILE_BYTES;

/// Runs the subcommand: prints each fault on stdout and fails if there is any.
pub fn run(args: &VerifyArgs) -> Result<()> {
    let expected = if args.index_only {
        Expected::IndexOnly
    } else {
        Expected::Dataset
    };
    let faults = faults(&args.dir, expected);
    for fault in &faults {
        println!("{fault}");
    }
    if !faults.is_empty() {
        bail!(
            "{} fault{} in {}",
            faults.len(),
            if faults.len() == 1 { "" } else { "s" },
            args.dir.display()
        );
    }
    eprintln!("{}: no faults", args.dir.display());
    Ok(())
}

/// What a folder should hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expected {
    /// A dataset the app opens: `dataset.json` and what it names.
    Dataset,
    /// An index alone: its manifest and shards.
    IndexOnly,
}

/// Every fault of the dataset folder `dir`, one line each (empty: the folder is valid).
pub fn faults(dir: &Path, expected: Expected) -> Vec<String> {
    let mut faults = Vec::new();
    let folder = match ServedFolder::new(dir) {
        Ok(folder) => folder,
        Err(error) => return vec![format!("{}: {error}", dir.display())],
    };
    let dataset = match expected {
        Expected::IndexOnly => None,
        Expected::Dataset => match folder
            .read(DATASET_FILE, MAX_METADATA_BYTES)
            .and_then(|bytes| {
                let text = String::from_utf8(bytes).map_err(|_| "not UTF-8".to_owned())?;
                DatasetManifest::from_json(&text).map_err(|e| e.to_string())
            }) {
            Ok(manifest) => Some(manifest),
            Err(error) => {
                faults.push(format!("{}: {error}", dir.join(DATASET_FILE).display()));
                None
            }
        },
    };
    let index_file = dataset
        .as_ref()
        .map_or(MANIFEST_NAME.to_owned(), |d| d.index.clone());
    let index_path = dir.join(&index_file);
    if let Some(index) = check_index(&folder, &index_file, &mut faults)
        && let Some(dataset) = &dataset
    {
        if index.len() as u64 != dataset.count {
            faults.push(format!(
                "{}: {} images, {} says {}",
                index_path.display(),
                index.len(),
                DATASET_FILE,
                dataset.count
            ));
        }
        if index.dims() != dataset.dims {
            faults.push(format!(
                "{}: {} dims, {} says {}",
                index_path.display(),
                index.dims(),
                DATASET_FILE,
                dataset.dims
            ));
        }
    }
    if let Some(dataset) = &dataset {
        check_dataset_files(&folder, dataset, &mut faults);
    }
    faults
}

/// A dataset folder as a static host serves it.
struct ServedFolder {
    /// The folder as named (for messages).
    dir: PathBuf,
    /// Its real path: every file served must resolve inside it.
    root: PathBuf,
}

impl ServedFolder {
    fn new(dir: &Path) -> Result<Self, String> {
        let root = dir
            .canonicalize()
            .map_err(|e| format!("cannot open the folder: {e}"))?;
        Ok(Self {
            dir: dir.to_owned(),
            root,
        })
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The bytes a static host serves as `name`, at most `max_bytes` of them; a message
    /// when it serves none (a bad name, a link out of the folder, no regular file, too
    /// large).
    fn read(&self, name: &str, max_bytes: u64) -> Result<Vec<u8>, String> {
        if let Some(fault) = served_name_fault(name) {
            return Err(format!("the name {name:?} {fault}"));
        }
        let real = self
            .path(name)
            .canonicalize()
            .map_err(|e| format!("cannot read: {e}"))?;
        if !real.starts_with(&self.root) {
            return Err(format!(
                "resolves to {}, outside the folder (a static host serves nothing there)",
                real.display()
            ));
        }
        read_regular_file(&real, max_bytes).map_err(|e| format!("cannot read: {e}"))
    }
}

/// Why `name` is no name a static host serves inside the folder, if it is not.
fn served_name_fault(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        return Some("is empty");
    }
    if name.starts_with('/') || Path::new(name).is_absolute() {
        return Some("is absolute");
    }
    if name.contains('\\') || name.chars().any(char::is_control) {
        return Some("holds a backslash or a control character");
    }
    for segment in name.split('/') {
        match segment {
            "" => return Some("has an empty segment"),
            "." | ".." => return Some("has a dot segment and may leave the folder"),
            hidden if hidden.starts_with('.') => return Some("names a hidden file"),
            _ => {}
        }
    }
    None
}

/// Loads the index manifest and every shard; `None` when the manifest cannot be read or a
/// shard is faulty. A client cannot search an index of no image or no tree.
fn check_index(folder: &ServedFolder, name: &str, faults: &mut Vec<String>) -> Option<LoadedIndex> {
    let path = folder.path(name);
    let mut index = match folder.read(name, MAX_METADATA_BYTES).and_then(|bytes| {
        named_hash_fault(name, &bytes).map_or(Ok(()), Err)?;
        LoadedIndex::from_manifest_json(&bytes).map_err(|e| e.to_string())
    }) {
        Ok(index) => index,
        Err(error) => {
            faults.push(format!("{}: {error}", path.display()));
            return None;
        }
    };
    if index.is_empty() {
        faults.push(format!("{}: 0 images", path.display()));
    }
    if index.subsets().is_empty() {
        faults.push(format!(
            "{}: no tree (every --subsets group has 0 trees)",
            path.display()
        ));
    }
    // The manifest's files, then the leaf files the tree tops name, as a client adds them;
    // each tree's pack is read and checked whole once, when its first leaf file is added.
    let mut complete = true;
    let mut pack: Option<(String, Option<Vec<u8>>)> = None;
    let added = index.add_missing(|index, file| {
        if file.is_whole() {
            complete &= add_served(folder, &file.name, file.bytes, faults, |bytes| {
                index.add_file(&file.name, bytes)
            });
            return Ok::<_, std::convert::Infallible>(());
        }
        if pack
            .as_ref()
            .is_none_or(|(name, _)| *name != file.stored_in)
        {
            let bytes = read_pack(folder, index, &file.stored_in, faults);
            pack = Some((file.stored_in.clone(), bytes));
        }
        let Some(stored) = pack.as_ref().and_then(|(_, bytes)| bytes.as_ref()) else {
            complete = false;
            return Ok(());
        };
        let added = file
            .slice_of(stored, 0)
            .and_then(|bytes| index.add_file(&file.name, bytes))
            .map_err(|e| format!("leaf file at byte {}: {e}", file.offset));
        if let Err(error) = added {
            let path = folder.path(&file.stored_in);
            faults.push(format!("{}: {error}", path.display()));
            complete = false;
        }
        Ok(())
    });
    let Ok(()) = added;
    complete &= check_row_files(folder, &mut index, faults);
    check_knn_files(folder, index.manifest(), faults);
    complete.then_some(index)
}

/// Checks the row blocks' pool, top table, pages and blocks, a layer at a time as a client
/// adds them (each names the next); false when one is faulty.
fn check_row_files(
    folder: &ServedFolder,
    index: &mut LoadedIndex,
    faults: &mut Vec<String>,
) -> bool {
    // The pool and the top table, the pages, then the blocks.
    for _ in 0..3 {
        let Some(rows) = index.row_blocks() else {
            return true;
        };
        let mut missing: Vec<LazyFile> = rows.missing_pool().cloned().into_iter().collect();
        missing.extend(rows.missing_files());
        for file in missing {
            if !add_served(folder, &file.name, file.bytes, faults, |bytes| {
                index.add_file(&file.name, bytes)
            }) {
                return false;
            }
        }
    }
    true
}

/// Checks the partitioned k-NN's centroids and every list, as a client adds them.
fn check_knn_files(folder: &ServedFolder, manifest: &Manifest, faults: &mut Vec<String>) {
    let Some(knn) = &manifest.knn else { return };
    let centroids = &knn.centroids;
    let opened = folder
        .read(&centroids.name, centroids.bytes)
        .and_then(|bytes| {
            PartitionedKnn::new(knn, manifest.dims, manifest.n_points, &bytes)
                .map_err(|e| e.to_string())
        });
    let mut index = match opened {
        Ok(index) => index,
        Err(error) => {
            faults.push(format!(
                "{}: {error}",
                folder.path(&centroids.name).display()
            ));
            return;
        }
    };
    for list in &knn.lists {
        add_served(folder, &list.name, list.bytes, faults, |bytes| {
            index.add_list(&list.name, bytes)
        });
    }
}

/// Reads file `name` (at most `max_bytes`) and hands it to `add`, as a client adds what
/// it fetched; a file that cannot be read or is refused is a fault naming it. Whether it
/// was added.
fn add_served(
    folder: &ServedFolder,
    name: &str,
    max_bytes: u64,
    faults: &mut Vec<String>,
    add: impl FnOnce(&[u8]) -> Result<(), IndexError>,
) -> bool {
    let added = folder
        .read(name, max_bytes)
        .and_then(|bytes| add(&bytes).map_err(|e| e.to_string()));
    if let Err(error) = &added {
        faults.push(format!("{}: {error}", folder.path(name).display()));
    }
    added.is_ok()
}

/// The bytes of the pack `name` of a loaded tree top, when they are the size and blake3
/// the top gives ([`LoadedIndex::check_leaf_pack`]); else none, and the fault.
fn read_pack(
    folder: &ServedFolder,
    index: &LoadedIndex,
    name: &str,
    faults: &mut Vec<String>,
) -> Option<Vec<u8>> {
    let listed_bytes = index
        .leaf_packs()
        .find(|pack| pack.name == name)
        .map_or(0, |pack| pack.bytes);
    let checked = folder.read(name, listed_bytes).and_then(|bytes| {
        index
            .check_leaf_pack(name, &bytes)
            .map(|()| bytes)
            .map_err(|e| e.to_string())
    });
    checked
        .map_err(|error| faults.push(format!("{}: {error}", folder.path(name).display())))
        .ok()
}

/// Why the bytes of a content-named file (`<stem>.<16 hex>.<ext>`, as a dataset's index
/// manifest is) do not match its name, if they do not: a host serves such a file as
/// immutable, so a corrupted one would stay in caches for good.
fn named_hash_fault(name: &str, bytes: &[u8]) -> Option<String> {
    let mut parts = name.rsplitn(3, '.');
    let (_ext, short) = (parts.next()?, parts.next()?);
    parts.next()?;
    let named = short.len() == 16 && short.bytes().all(|b| b.is_ascii_hexdigit());
    let hash = blake3::hash(bytes).to_hex();
    (named && !hash.starts_with(short)).then(|| {
        format!(
            "its content hashes to {}, not the {short} its name says",
            &hash[..16]
        )
    })
}

/// Checks one file that `dataset.json` names; returns its bytes when they match.
fn check_ref(folder: &ServedFolder, file: &FileRef, faults: &mut Vec<String>) -> Option<Vec<u8>> {
    let path = folder.path(&file.name);
    let bytes = match folder.read(&file.name, file.bytes) {
        Ok(bytes) => bytes,
        Err(error) => {
            faults.push(format!("{}: {error}", path.display()));
            return None;
        }
    };
    if bytes.len() as u64 != file.bytes {
        faults.push(format!(
            "{}: {} bytes, {DATASET_FILE} says {}",
            path.display(),
            bytes.len(),
            file.bytes
        ));
        return None;
    }
    let hash = blake3::hash(&bytes).to_hex();
    if hash.as_str() != file.blake3 {
        faults.push(format!(
            "{}: blake3 {hash}, {DATASET_FILE} says {}",
            path.display(),
            file.blake3
        ));
        return None;
    }
    Some(bytes)
}

/// Largest item chunk read: far above any chunk ingest writes (about 15 KB at 128 items).
const MAX_CHUNK_BYTES: u64 = 64 << 20;

/// Checks the items table and every item chunk it names (hash, id range); returns the
/// thumbnails the chunks name. A table file that fails is one fault, and its chunks are
/// not read.
fn check_item_chunks(
    folder: &ServedFolder,
    dataset: &DatasetManifest,
    faults: &mut Vec<String>,
) -> BTreeSet<String> {
    let mut thumbs = BTreeSet::new();
    let table = &dataset.items;
    if let Err(error) = table.check(dataset.count) {
        faults.push(error.to_string());
        return thumbs;
    }
    let per = u64::from(table.items_per_chunk);
    let mut directory = ItemsDirectory::new(table.clone());
    let mut unreadable = HashSet::new();
    for k in 0..table.chunks {
        let file = loop {
            match directory.locate(k) {
                Some(Located::Chunk(file)) => break Some(file),
                Some(Located::Table(file)) if !unreadable.contains(&file.name) => {
                    let added = folder
                        .read(&file.name, MAX_CHUNK_BYTES)
                        .and_then(|bytes| directory.add(&file, &bytes).map_err(|e| e.to_string()));
                    if let Err(error) = added {
                        faults.push(format!("{}: {error}", folder.path(&file.name).display()));
                        unreadable.insert(file.name);
                    }
                }
                Some(Located::Table(_)) | None => break None,
            }
        };
        let Some(file) = file else {
            continue;
        };
        let path = folder.path(&file.name);
        let bytes = match folder.read(&file.name, MAX_CHUNK_BYTES).and_then(|bytes| {
            file.check(&bytes)
                .map(|()| bytes)
                .map_err(|e| e.to_string())
        }) {
            Ok(bytes) => bytes,
            Err(error) => {
                faults.push(format!("{}: {error}", path.display()));
                continue;
            }
        };
        let chunk: ItemsChunk = match serde_json::from_slice(&bytes) {
            Ok(chunk) => chunk,
            Err(error) => {
                faults.push(format!("{}: {error}", path.display()));
                continue;
            }
        };
        let first = k * per;
        let expected = per.min(dataset.count.saturating_sub(first));
        if chunk.first_id != first {
            faults.push(format!(
                "{}: first_id {}, expected {first}",
                path.display(),
                chunk.first_id
            ));
        }
        if chunk.items.len() as u64 != expected {
            faults.push(format!(
                "{}: {} items, expected {expected}",
                path.display(),
                chunk.items.len()
            ));
        }
        thumbs.extend(chunk.items.into_iter().map(|item| item.thumb));
    }
    thumbs
}

fn check_dataset_files(folder: &ServedFolder, dataset: &DatasetManifest, faults: &mut Vec<String>) {
    if let Some(text) = &dataset.text {
        if let Some(weights) = check_ref(folder, &text.weights, faults)
            && let Err(error) = text_tower_fits(text, &weights)
        {
            faults.push(format!(
                "{}: the text config does not fit the weights: {error}",
                folder.path(&text.weights.name).display()
            ));
        }
        check_reduction(folder, &text.reduction, faults);
    }
    if let Some(image) = &dataset.image {
        if let Some(weights) = check_ref(folder, &image.weights, faults)
            && let Err(error) = image_tower_fits(image, &weights)
        {
            faults.push(format!(
                "{}: the image config does not fit the weights: {error}",
                folder.path(&image.weights.name).display()
            ));
        }
        check_reduction(folder, &image.reduction, faults);
    }
    if let Some(full) = &dataset.full_features {
        for file in &full.files {
            check_ref(folder, file, faults);
        }
    }
    let thumbs = check_item_chunks(folder, dataset, faults);
    let thumbs: Vec<String> = thumbs.into_iter().collect();
    let thumb_faults: Vec<String> = thumbs
        .par_iter()
        .filter_map(|thumb| check_thumb(folder, thumb))
        .collect();
    faults.extend(thumb_faults);
}

fn check_reduction(folder: &ServedFolder, reduction: &Reduction, faults: &mut Vec<String>) {
    match reduction {
        Reduction::Pca { file } | Reduction::Head { file } => {
            check_ref(folder, file, faults);
        }
        Reduction::Identity => {}
    }
}

/// A thumbnail must exist and hold the bytes its name hashes (`thumbs/<16 hex>.jpg`).
fn check_thumb(folder: &ServedFolder, thumb: &str) -> Option<String> {
    let path = folder.path(thumb);
    let bytes = match folder.read(thumb, MAX_THUMB_BYTES) {
        Ok(bytes) => bytes,
        Err(error) => return Some(format!("{}: {error}", path.display())),
    };
    let stem = Path::new(thumb).file_stem()?.to_string_lossy().into_owned();
    let hash = blake3::hash(&bytes).to_hex();
    (!hash.starts_with(&stem)).then(|| {
        format!(
            "{}: content hash {} does not match its name",
            path.display(),
            &hash[..16]
        )
    })
}

/// Builds the text tower from `weights` with the config `dataset.json` gives, as the
/// app does: a config that does not fit (other widths, layers or vocabulary) fails here
/// rather than in every visitor's browser.
fn text_tower_fits(text: &TextEncoder, weights: &[u8]) -> Result<(), String> {
    let config: clip::TextConfig =
        serde_json::from_value(text.config.clone()).map_err(|e| e.to_string())?;
    let tensors = clip::TensorMap::from_safetensors(weights).map_err(|e| e.to_string())?;
    tensors
        .into_text_tower(&config, text.projection_dim, &burn::tensor::Device::flex())
        .map(drop)
        .map_err(|e| e.to_string())
}

/// [`text_tower_fits`] for the image tower.
fn image_tower_fits(image: &ImageEncoder, weights: &[u8]) -> Result<(), String> {
    let config: clip::VisionConfig =
        serde_json::from_value(image.config.clone()).map_err(|e| e.to_string())?;
    let tensors = clip::TensorMap::from_safetensors(weights).map_err(|e| e.to_string())?;
    tensors
        .into_image_tower(&config, image.projection_dim, &burn::tensor::Device::flex())
        .map(drop)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_relative_names_inside_the_folder_are_served() {
        for served in ["dataset.json", "thumbs/0123456789abcdef.jpg", "a..b.shard"] {
            assert_eq!(served_name_fault(served), None, "{served}");
        }
        for (name, fault) in [
            ("", "is empty"),
            ("/etc/passwd", "is absolute"),
            (
                "../outside.json",
                "has a dot segment and may leave the folder",
            ),
            (
                "thumbs/../../x.jpg",
                "has a dot segment and may leave the folder",
            ),
            (
                "./dataset.json",
                "has a dot segment and may leave the folder",
            ),
            ("thumbs//x.jpg", "has an empty segment"),
            (".work/ingested.json", "names a hidden file"),
            (
                "thumbs\\..\\x.jpg",
                "holds a backslash or a control character",
            ),
            ("x\n.json", "holds a backslash or a control character"),
        ] {
            assert_eq!(served_name_fault(name), Some(fault), "{name:?}");
        }
    }
}
