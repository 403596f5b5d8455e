//! `precompute verify DIR`: checks a dataset folder as a client would read it and lists
//! every fault, one line each, naming the file: `dataset.json` (if present), the index
//! manifest and every shard (size, blake3 and archive validation by
//! `index_shards::LoadedIndex`), every file `dataset.json` names (size and blake3), every
//! item chunk (parses, ids and counts agree) and every thumbnail the items name (exists,
//! and its bytes match its content-hashed name).

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use clap::Args;
use dataset::{DATASET_FILE, DatasetManifest, FileRef, ItemsChunk, Reduction};
use index_shards::{LoadedIndex, MANIFEST_NAME};
use rayon::prelude::*;

/// Check a dataset folder: manifests, shards, hashes, item chunks and thumbnails.
#[derive(Args)]
pub struct VerifyArgs {
    /// The dataset folder.
    dir: PathBuf,
}

/// Runs the subcommand: prints each fault on stdout and fails if there is any.
pub fn run(args: &VerifyArgs) -> Result<()> {
    let faults = faults(&args.dir);
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

/// Every fault of the dataset folder `dir`, one line each (empty: the folder is valid).
pub fn faults(dir: &Path) -> Vec<String> {
    let mut faults = Vec::new();
    let dataset_path = dir.join(DATASET_FILE);
    let dataset = if dataset_path.exists() {
        match read(&dataset_path).and_then(|bytes| {
            let text = String::from_utf8(bytes).map_err(|_| "not UTF-8".to_owned())?;
            DatasetManifest::from_json(&text).map_err(|e| e.to_string())
        }) {
            Ok(manifest) => Some(manifest),
            Err(error) => {
                faults.push(format!("{}: {error}", dataset_path.display()));
                None
            }
        }
    } else {
        None
    };
    let index_file = dataset
        .as_ref()
        .map_or(MANIFEST_NAME.to_owned(), |d| d.index.clone());
    let index_path = dir.join(&index_file);
    // A dataset always has an index; a folder without dataset.json is checked as an index.
    {
        if let Some(index) = check_index(dir, &index_path, &mut faults)
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
    }
    if let Some(dataset) = &dataset {
        check_dataset_files(dir, dataset, &mut faults);
    }
    faults
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    fs::read(path).map_err(|e| format!("cannot read: {e}"))
}

/// Loads the index manifest and every shard; `None` when the manifest cannot be read.
fn check_index(dir: &Path, path: &Path, faults: &mut Vec<String>) -> Option<LoadedIndex> {
    let mut index = match read(path)
        .and_then(|bytes| LoadedIndex::from_manifest_json(&bytes).map_err(|e| e.to_string()))
    {
        Ok(index) => index,
        Err(error) => {
            faults.push(format!("{}: {error}", path.display()));
            return None;
        }
    };
    let names: Vec<String> = index.missing_files().map(str::to_owned).collect();
    let mut complete = true;
    for name in names {
        let shard = dir.join(&name);
        let added =
            read(&shard).and_then(|bytes| index.add_file(&name, &bytes).map_err(|e| e.to_string()));
        if let Err(error) = added {
            faults.push(format!("{}: {error}", shard.display()));
            complete = false;
        }
    }
    complete.then_some(index)
}

/// Checks one file that `dataset.json` names; returns its bytes when they match.
fn check_ref(dir: &Path, file: &FileRef, faults: &mut Vec<String>) -> Option<Vec<u8>> {
    let path = dir.join(&file.name);
    let bytes = match read(&path) {
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

fn check_dataset_files(dir: &Path, dataset: &DatasetManifest, faults: &mut Vec<String>) {
    if let Some(text) = &dataset.text {
        check_ref(dir, &text.weights, faults);
        match &text.reduction {
            Reduction::Pca { file } | Reduction::Head { file } => {
                check_ref(dir, file, faults);
            }
            Reduction::Identity => {}
        }
    }
    if let Some(full) = &dataset.full_features {
        for file in &full.files {
            check_ref(dir, file, faults);
        }
    }
    let per = u64::from(dataset.items_per_chunk);
    if per == 0 {
        faults.push(format!("{DATASET_FILE}: items_per_chunk is 0"));
        return;
    }
    let mut thumbs = BTreeSet::new();
    for (k, file) in dataset.items.iter().enumerate() {
        let Some(bytes) = check_ref(dir, file, faults) else {
            continue;
        };
        let path = dir.join(&file.name);
        let chunk: ItemsChunk = match serde_json::from_slice(&bytes) {
            Ok(chunk) => chunk,
            Err(error) => {
                faults.push(format!("{}: {error}", path.display()));
                continue;
            }
        };
        let first = k as u64 * per;
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
    let chunks_needed = dataset.count.div_ceil(per);
    if dataset.items.len() as u64 != chunks_needed {
        faults.push(format!(
            "{DATASET_FILE}: {} item chunks for {} images of {per} per chunk, expected {chunks_needed}",
            dataset.items.len(),
            dataset.count
        ));
    }
    let thumbs: Vec<String> = thumbs.into_iter().collect();
    let thumb_faults: Vec<String> = thumbs
        .par_iter()
        .filter_map(|thumb| check_thumb(dir, thumb))
        .collect();
    faults.extend(thumb_faults);
}

/// A thumbnail must exist and hold the bytes its name hashes (`thumbs/<16 hex>.jpg`).
fn check_thumb(dir: &Path, thumb: &str) -> Option<String> {
    let path = dir.join(thumb);
    let bytes = match read(&path) {
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
