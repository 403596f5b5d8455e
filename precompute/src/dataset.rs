//! Reading a dataset folder's index (manifest and shard files) and its `.npy` inputs.

use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use dataset::{DATASET_FILE, DatasetManifest};
use index_shards::{LoadedIndex, MANIFEST_NAME, Manifest, quantize};

use crate::npy::{self, Dtype, Matrix};

/// Loads the index manifest of `dir` (the one its `dataset.json` names in a dataset folder,
/// else `manifest.json`) and every shard file it names (a leaf file from its tree's pack),
/// each checked against its size and content hash.
pub fn load_index(dir: &Path) -> Result<LoadedIndex> {
    let (manifest, path) = read_index_manifest(dir)?;
    let mut index = LoadedIndex::new(manifest)
        .with_context(|| format!("invalid manifest {}", path.display()))?;
    // The pack last read: a tree's leaf files come one after another from it.
    let mut pack: Option<(String, Vec<u8>)> = None;
    index.add_missing(|index, file| {
        let path = dir.join(&file.stored_in);
        let read = || fs::read(&path).with_context(|| format!("cannot read {}", path.display()));
        let whole;
        let stored = if file.is_whole() {
            whole = read()?;
            &whole
        } else {
            if pack
                .as_ref()
                .is_none_or(|(name, _)| *name != file.stored_in)
            {
                pack = Some((file.stored_in.clone(), read()?));
            }
            &pack.as_ref().expect("just read").1
        };
        let bytes = file
            .slice_of(stored, 0)
            .with_context(|| format!("cannot read {}", path.display()))?;
        index
            .add_file(&file.name, bytes)
            .with_context(|| format!("invalid shard {} in {}", file.name, path.display()))
    })?;
    Ok(index)
}

/// Reads the index manifest of `dir` (as [`load_index`] finds it) and its path.
pub fn read_index_manifest(dir: &Path) -> Result<(Manifest, PathBuf)> {
    let path = dir.join(index_manifest_name(dir)?);
    let bytes = fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let manifest = Manifest::from_json(&bytes)
        .with_context(|| format!("invalid manifest {}", path.display()))?;
    Ok((manifest, path))
}

/// The index manifest's name in `dir`: a dataset folder's `dataset.json` names it; an index
/// folder (`precompute index`) has none and holds `manifest.json`.
fn index_manifest_name(dir: &Path) -> Result<String> {
    let dataset_path = dir.join(DATASET_FILE);
    match fs::read_to_string(&dataset_path) {
        Ok(text) => Ok(DatasetManifest::from_json(&text)
            .with_context(|| format!("invalid {}", dataset_path.display()))?
            .index),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(MANIFEST_NAME.into()),
        Err(error) => Err(error).with_context(|| format!("cannot read {}", dataset_path.display())),
    }
}

/// Reads an `(n, d)` `.npy` as quantised `u8` rows: `u8` arrays as they are, float arrays
/// L2-normalised and quantised row by row.
pub fn read_u8_rows(path: &Path) -> Result<(Vec<u8>, usize)> {
    let bytes = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let matrix =
        npy::read(&bytes).with_context(|| format!("invalid .npy file {}", path.display()))?;
    let (rows, dims) = matrix.shape();
    if dims == 0 {
        bail!("{}: rows have 0 dims", path.display());
    }
    Ok(match matrix {
        Matrix::U8 { data, .. } => (data, dims),
        Matrix::F32 { data, .. } => {
            if let Some(at) = data.iter().position(|x| !x.is_finite()) {
                bail!(
                    "{}: row {}, dim {} is not a finite number",
                    path.display(),
                    at / dims,
                    at % dims
                );
            }
            let mut quantised = Vec::with_capacity(rows * dims);
            for row in data.chunks_exact(dims) {
                quantised.extend(quantize::quantize_row(row));
            }
            (quantised, dims)
        }
    })
}

/// Reads a 2-D f32/f64 `.npy` file block by block into f32 rows: the file's bytes are never
/// held beside the values, which halves the peak memory on big feature files.
pub fn read_float_rows(path: &Path) -> Result<(Vec<f32>, usize)> {
    let mut file = File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut head = Vec::new();
    (&mut file)
        .take(1 << 20)
        .read_to_end(&mut head)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let header = npy::read_header(&head).with_context(|| path.display().to_string())?;
    let [rows, cols] = header.shape[..] else {
        bail!(
            "{}: shape {:?} is not (rows, dims)",
            path.display(),
            header.shape
        );
    };
    if header.dtype == Dtype::U8 {
        bail!(
            "{}: expected f32 or f64 features, found uint8",
            path.display()
        );
    }
    let expected = header
        .data_len()
        .with_context(|| format!("{}: shape too large", path.display()))?;
    let found = file
        .metadata()?
        .len()
        .saturating_sub(header.data_start as u64);
    if found != expected as u64 {
        bail!(
            "{}: data holds {found} bytes, the shape needs {expected}",
            path.display()
        );
    }
    file.seek(SeekFrom::Start(header.data_start as u64))?;
    let mut values = Vec::with_capacity(rows * cols);
    // A multiple of 8 bytes, so no element straddles two blocks.
    let mut block = vec![0u8; 16 << 20];
    let mut left = expected;
    while left > 0 {
        let take = left.min(block.len());
        file.read_exact(&mut block[..take])
            .with_context(|| format!("cannot read {}", path.display()))?;
        values.extend(npy::floats(header.dtype, &block[..take]));
        left -= take;
    }
    Ok((values, cols))
}
