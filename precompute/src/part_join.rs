//! The parts of a split `precompute build` and their join.
//!
//! A part `i/n` inspects its share of the collection's candidates (positions `p` with
//! `p % n == i`: [`ingest::Share`]), writes their thumbnails and ingest outcomes
//! ([`ingest::memo`]) and extracts their features into its feature cache, all in its own
//! folder, and records what it was a part of ([`PartRecord`], `.work/part.json`). Nothing
//! there depends on another part, so tasks run anywhere and in any order.
//!
//! [`join`] (`precompute merge --out DATASET PART_FOLDERS...`) refuses parts of different
//! runs (another listing of the collection, other ingest settings or model) and parts that
//! do not make a whole, then links (or copies) every part's thumbnails, outcomes and cached
//! features into the dataset folder. A build there then decodes no image and extracts no
//! feature again: it reads and hashes each file, finds its outcome and feature by content,
//! and finishes the dataset as a one-machine build would, byte for byte.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::output::write_atomic;
use crate::part::Part;

/// Where a part records itself, under its folder.
pub const PART_RECORD: &str = ".work/part.json";

/// The folders a join links from each part into the dataset folder: content-named files
/// only, so a file already there is the same and is kept.
const JOINED: [&str; 4] = [
    dataset::THUMBS_DIR,
    ingest::memo::MEMO_DIR,
    crate::feature_cache::CACHE_DIR,
    ".work/downloads",
];

/// What a part of a split build was a part of.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartRecord {
    /// This part, `i/n`.
    pub part: String,
    /// The blake3 of the collection's listing as this part read it.
    pub listing_blake3: String,
    /// The ingest settings (filters and thumbnail size) and the feature settings (model
    /// weights' blake3, bottom crop), said as text.
    pub settings: String,
}

impl PartRecord {
    /// Records this part in its folder `out`.
    pub fn write(&self, out: &Path) -> Result<()> {
        write_atomic(&out.join(PART_RECORD), &serde_json::to_vec_pretty(self)?)
    }

    /// The record of the part folder `folder`, if it is one.
    pub fn read(folder: &Path) -> Result<Option<Self>> {
        let path = folder.join(PART_RECORD);
        if !path.is_file() {
            return Ok(None);
        }
        let text =
            fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
        Ok(Some(serde_json::from_str(&text).with_context(|| {
            format!("{} is damaged: rerun that part", path.display())
        })?))
    }
}

/// Whether `folder` is a part of a split build (rather than of a split `extract`).
pub fn is_build_part(folder: &Path) -> bool {
    folder.join(PART_RECORD).is_file()
}

/// Joins the part folders `parts` into the dataset folder `out` (see the module doc).
pub fn join(out: &Path, parts: &[PathBuf]) -> Result<()> {
    let mut first: Option<(&PathBuf, PartRecord)> = None;
    let mut seen: BTreeMap<usize, &PathBuf> = BTreeMap::new();
    let mut count = 0;
    for folder in parts {
        let record = PartRecord::read(folder)?.with_context(|| {
            format!(
                "{} is no part of a split build (it has no {PART_RECORD})",
                folder.display()
            )
        })?;
        let part: Part = record
            .part
            .parse()
            .map_err(|e: String| anyhow::anyhow!("{}: {e}", folder.join(PART_RECORD).display()))?;
        if let Some((first_folder, first_record)) = &first {
            let difference = if first_record.listing_blake3 != record.listing_blake3 {
                Some("another image list: the collection changed between them")
            } else if first_record.settings != record.settings {
                Some("other ingest or model settings")
            } else if part.count != count {
                Some("another number of parts")
            } else {
                None
            };
            if let Some(difference) = difference {
                bail!(
                    "{} and {} are parts of different runs ({difference}), so their \
                     images and features do not mix: rerun every part on the same collection \
                     and model",
                    first_folder.display(),
                    folder.display()
                );
            }
        } else {
            count = part.count;
            first = Some((folder, record));
        }
        if let Some(other) = seen.insert(part.index, folder) {
            bail!(
                "{} and {} are both part {part}: give each part once",
                other.display(),
                folder.display()
            );
        }
    }
    if first.is_none() {
        bail!("no parts given");
    }
    let missing: Vec<String> = (0..count)
        .filter(|i| !seen.contains_key(i))
        .map(|i| format!("{i}/{count}"))
        .collect();
    if !missing.is_empty() {
        bail!(
            "the parts lack {} of {count} (first missing: part {}): run the missing parts",
            missing.len(),
            missing[0]
        );
    }
    let mut linked = 0;
    for folder in parts {
        for sub in JOINED {
            linked += link_tree(&folder.join(sub), &out.join(sub))?;
        }
    }
    eprintln!(
        "joined {} parts into {} ({linked} files new there): build it now, without --part",
        parts.len(),
        out.display()
    );
    Ok(())
}

/// Links every file under `from` to the same place under `to` (a copy, written whole, where
/// the two are on different file systems), keeping files already there; returns how many
/// it added.
fn link_tree(from: &Path, to: &Path) -> Result<usize> {
    let entries = match fs::read_dir(from) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e).with_context(|| format!("cannot list {}", from.display())),
    };
    fs::create_dir_all(to).with_context(|| format!("cannot create {}", to.display()))?;
    let mut added = 0;
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot list {}", from.display()))?;
        let (source, target) = (entry.path(), to.join(entry.file_name()));
        let kind = entry.file_type()?;
        if kind.is_dir() {
            added += link_tree(&source, &target)?;
        } else if kind.is_file()
            && !target.exists()
            && !ingest::output::is_temporary(&entry.file_name().to_string_lossy())
        {
            if fs::hard_link(&source, &target).is_err() {
                let bytes = fs::read(&source)
                    .with_context(|| format!("cannot read {}", source.display()))?;
                write_atomic(&target, &bytes)?;
            }
            added += 1;
        }
    }
    Ok(added)
}
