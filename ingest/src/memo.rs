//! What inspecting an image's bytes gave ([`Outcome`]: its thumbnail, upright size and
//! date, or why it was refused), kept by the bytes' blake3 under `OUT/.work/ingest`, so a
//! rebuild, or the finishing run of a split build whose parts each inspected their share,
//! reads and hashes an image but does not decode it again.
//!
//! The key holds everything else the outcome depends on: the filters, the thumbnail size and
//! [`MEMO_VERSION`] (bumped whenever decoding or thumbnailing changes its output), so a
//! memo of other settings is never read. Each record is written whole (temporary file, then
//! rename): parallel writers of the same record write the same bytes.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::{Deserialize, Serialize};

use crate::IngestError;
use crate::output::write_atomic;
use crate::process::FilterOptions;

/// The version of what an [`Outcome`] says: bump it when inspection or thumbnails change.
pub const MEMO_VERSION: u32 = 1;

/// The folder under a dataset folder that holds the memo.
pub const MEMO_DIR: &str = ".work/ingest";

/// What inspecting one image's bytes gave.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The image passed the filters and was thumbnailed.
    Accepted {
        /// `thumbs/<hash16>.jpg`.
        thumb: String,
        /// Upright width.
        width: u32,
        /// Upright height.
        height: u32,
        /// From the EXIF.
        date_taken: Option<String>,
    },
    /// The image was refused.
    Rejected {
        /// The skip reason (`undecodable`, `too_small`, ...).
        reason: String,
        /// Details for people.
        detail: String,
    },
}

/// The outcomes of one dataset folder's ingest settings, by image content.
#[derive(Debug)]
pub struct OutcomeMemo {
    root: PathBuf,
    /// Outcomes recorded by this memo: the images inspected (decoded) in this run.
    recorded: AtomicUsize,
}

impl OutcomeMemo {
    /// The memo in `out` for these settings.
    pub fn new(out: &Path, filters: &FilterOptions, thumb_size: u32) -> Self {
        let key = format!(
            "v{MEMO_VERSION} min_size {} max_pixels {} bottom_crop {} thumb_size {thumb_size}",
            filters.min_size, filters.max_pixels, filters.bottom_crop
        );
        let key = blake3::hash(key.as_bytes()).to_hex();
        Self {
            root: out.join(MEMO_DIR).join(&key[..16]),
            recorded: AtomicUsize::new(0),
        }
    }

    /// How many outcomes this memo recorded: the images its run inspected.
    pub fn recorded(&self) -> usize {
        self.recorded.load(Ordering::Relaxed)
    }

    fn path(&self, image: &blake3::Hash) -> PathBuf {
        let hex = image.to_hex();
        self.root.join(&hex[..2]).join(format!("{hex}.json"))
    }

    /// The outcome recorded for the image with these bytes' hash; none when there is no
    /// readable record (a damaged one is decoded again, not trusted).
    pub fn get(&self, image: &blake3::Hash) -> Option<Outcome> {
        let bytes = fs::read(self.path(image)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Records `outcome` for the image with these bytes' hash.
    pub fn put(&self, image: &blake3::Hash, outcome: &Outcome) -> Result<(), IngestError> {
        let path = self.path(image);
        let folder = path.parent().expect("a record has a folder");
        fs::create_dir_all(folder).map_err(|source| IngestError::OutputDir {
            path: folder.to_owned(),
            source,
        })?;
        let json = serde_json::to_vec(outcome).expect("an outcome always serialises");
        write_atomic(&path, &json)?;
        self.recorded.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_are_kept_per_settings_and_damaged_records_are_not_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let filters = FilterOptions::default();
        let memo = OutcomeMemo::new(dir.path(), &filters, 256);
        let image = blake3::hash(b"an image");
        assert_eq!(memo.get(&image), None);
        let accepted = Outcome::Accepted {
            thumb: "thumbs/0123456789abcdef.jpg".into(),
            width: 40,
            height: 30,
            date_taken: Some("2024-05-01T10:00:00".into()),
        };
        memo.put(&image, &accepted).unwrap();
        assert_eq!(memo.get(&image), Some(accepted.clone()));
        let rejected = Outcome::Rejected {
            reason: "too_small".into(),
            detail: "10 x 10 is below 32 px on its short side".into(),
        };
        let other = blake3::hash(b"another image");
        memo.put(&other, &rejected).unwrap();
        assert_eq!(memo.get(&other), Some(rejected));
        assert_eq!(memo.recorded(), 2);

        // Other settings see none of it.
        let cropped = FilterOptions {
            bottom_crop: 10,
            ..FilterOptions::default()
        };
        assert_eq!(
            OutcomeMemo::new(dir.path(), &cropped, 256).get(&image),
            None
        );
        assert_eq!(
            OutcomeMemo::new(dir.path(), &filters, 128).get(&image),
            None
        );

        fs::write(memo.path(&image), b"{\"accepted\": {\"thumb\"").unwrap();
        assert_eq!(memo.get(&image), None);
    }
}
