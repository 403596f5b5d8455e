//! Reading a dataset folder's index (manifest and shard files) and its `.npy` inputs.

use std::fs;
use std::path::Path;

use anyhow::{Context, Result, bail};
use index_shards::{LoadedIndex, MANIFEST_NAME, quantize};

use crate::npy::{self, Matrix};

/// Loads the manifest of `dir` and every shard file it names, each checked against its
/// size and content hash.
pub fn load_index(dir: &Path) -> Result<LoadedIndex> {
    let manifest_path = dir.join(MANIFEST_NAME);
    let manifest = fs::read(&manifest_path)
        .with_context(|| format!("cannot read {}", manifest_path.display()))?;
    let mut index = LoadedIndex::from_manifest_json(&manifest)
        .with_context(|| format!("invalid manifest {}", manifest_path.display()))?;
    let names: Vec<String> = index.missing_files().map(str::to_owned).collect();
    for name in names {
        let path = dir.join(&name);
        let bytes = fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        index
            .add_file(&name, &bytes)
            .with_context(|| format!("invalid shard {}", path.display()))?;
    }
    Ok(index)
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
