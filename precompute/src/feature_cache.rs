//! CLIP image features kept between builds, one file per image, named by the blake3 of
//! the image's bytes under a folder named by the model (the weights' blake3), the bottom
//! crop and the feature width: a rebuild after adding photos extracts only the new ones,
//! and a photo renamed or moved is not extracted again.
//!
//! A cached row is the bytes a clean build computes: a feature row does not depend on the
//! other images of its batch (`build_after_adding_images_extracts_only_them` in the CLI
//! tests checks the whole dataset against a clean build's, byte for byte).

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::npy;
use crate::output::write_atomic;

/// The cached features of one model, crop and width.
pub struct FeatureCache {
    folder: PathBuf,
    dims: usize,
}

impl FeatureCache {
    /// The cache under `root` for rows of `dims` made by the weights whose blake3 is
    /// `weights_blake3` after cutting `bottom_crop` rows.
    pub fn new(root: &Path, weights_blake3: &str, bottom_crop: usize, dims: usize) -> Self {
        let key = blake3::hash(format!("{weights_blake3} {bottom_crop} {dims}").as_bytes());
        Self {
            folder: root.join(&key.to_hex()[..16]),
            dims,
        }
    }

    fn path(&self, image_blake3: &str) -> PathBuf {
        self.folder.join(format!("{image_blake3}.f32"))
    }

    /// The row of the image whose blake3 is `image_blake3`, if cached whole (a file of
    /// another length is no row).
    pub fn get(&self, image_blake3: &str) -> Option<Vec<f32>> {
        let bytes = fs::read(self.path(image_blake3)).ok()?;
        (bytes.len() == self.dims * 4).then(|| npy::floats(npy::Dtype::F32, &bytes))
    }

    /// Keeps `row` (little-endian f32) as the features of the image `image_blake3`.
    pub fn put(&self, image_blake3: &str, row: &[f32]) -> Result<()> {
        fs::create_dir_all(&self.folder)
            .with_context(|| format!("cannot create {}", self.folder.display()))?;
        let bytes: Vec<u8> = row.iter().flat_map(|v| v.to_le_bytes()).collect();
        write_atomic(&self.path(image_blake3), &bytes)
    }

    /// Removes the rows of images not among `kept` (photos removed from the collection);
    /// returns how many went.
    pub fn keep_only(&self, kept: &HashSet<&str>) -> Result<usize> {
        let Ok(entries) = fs::read_dir(&self.folder) else {
            return Ok(0);
        };
        let mut removed = 0;
        for entry in entries {
            let path = entry
                .with_context(|| format!("cannot list {}", self.folder.display()))?
                .path();
            let image = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
            if !kept.contains(image) {
                fs::remove_file(&path)
                    .with_context(|| format!("cannot remove {}", path.display()))?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}
