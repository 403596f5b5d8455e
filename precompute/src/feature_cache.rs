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

use anyhow::{Context, Result, bail};
use rayon::prelude::*;

use crate::npy;
use crate::output::write_atomic;

/// The folder of the feature caches, under a dataset folder.
pub const CACHE_DIR: &str = ".work/features";

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

    /// Whether the row of the image `image_blake3` is cached whole (its file's length, not
    /// its bytes, is read).
    pub fn contains(&self, image_blake3: &str) -> bool {
        fs::metadata(self.path(image_blake3)).is_ok_and(|m| m.len() == self.dims as u64 * 4)
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

/// The feature rows of a build's images, in id order, read from the cache when asked: a
/// build holds the fit sample and a block of rows at a time, never every row (537 GB of
/// f32 at the seed's 262.5M images).
pub struct CachedRows<'a> {
    cache: &'a FeatureCache,
    /// The blake3 of each id's image.
    images: Vec<&'a str>,
}

impl<'a> CachedRows<'a> {
    /// The rows of `images` (each id's image blake3), all of them in `cache`.
    pub fn new(cache: &'a FeatureCache, images: Vec<&'a str>) -> Self {
        Self { cache, images }
    }

    fn len(&self) -> usize {
        self.images.len()
    }

    /// The row of each id in `ids`, one after another.
    fn read(&self, ids: impl IndexedParallelIterator<Item = usize>) -> Result<Vec<f32>> {
        let rows: Vec<Vec<f32>> = ids
            .map(|id| {
                self.cache.get(self.images[id]).with_context(|| {
                    format!(
                        "the features of image {} (id {id}) are not in the cache {}",
                        self.images[id],
                        self.cache.folder.display()
                    )
                })
            })
            .collect::<Result<_>>()?;
        Ok(rows.concat())
    }

    /// The rows a fit uses, as `reduce::fit_sample` picks them from all the rows.
    pub fn fit_sample(&self) -> Result<Vec<f32>> {
        let stride = reduce::fit_stride(self.len());
        self.read(
            (0..self.len().div_ceil(stride))
                .into_par_iter()
                .map(|k| k * stride),
        )
    }

    /// Calls `each` with the first id and the rows of consecutive blocks of
    /// `rows_per_block` ids (the last may be shorter), in id order.
    pub fn for_each_block(
        &self,
        rows_per_block: usize,
        mut each: impl FnMut(usize, &[f32]) -> Result<()>,
    ) -> Result<()> {
        if rows_per_block == 0 {
            bail!("a block of no rows");
        }
        for start in (0..self.len()).step_by(rows_per_block) {
            let end = (start + rows_per_block).min(self.len());
            each(start, &self.read((start..end).into_par_iter())?)?;
        }
        Ok(())
    }
}
