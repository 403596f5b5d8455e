//! Output files of ingest, each written so that a crash, a full disk or a kill never
//! leaves a partial file under its final name (a unique temporary beside it, then rename):
//! thumbnails, item metadata chunks, the report, and the ingest list for the next stage.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use dataset::items_table::{CHUNKS_PER_PAGE, chunk_name, is_items_file, table_files};
use dataset::{FileRef, Item, ItemsChunk, ItemsTable};
use serde::{Deserialize, Serialize};

use crate::IngestError;

/// What separates a temporary file's target name from its writer: `.NAME.tmp-PID-N`.
const TEMPORARY_MARK: &str = ".tmp-";

/// Writes `bytes` to `path` through a temporary file in the same folder.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), IngestError> {
    write_atomic_with(path, |file| file.write_all(bytes))
}

/// [`write_atomic`] of what `fill` writes, a piece at a time (a file larger than memory).
pub fn write_atomic_with(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<(), IngestError> {
    // Unique per process and call: threads may write the same content-named file at once.
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let temp = path.with_file_name(format!(
        ".{name}{TEMPORARY_MARK}{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let written = (|| {
        let mut writer = std::io::BufWriter::new(fs::File::create(&temp)?);
        fill(&mut writer)?;
        let file = writer.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        fs::rename(&temp, path)
    })();
    written.map_err(|source| {
        // Best effort: the temporary name is never mistaken for output.
        let _ = fs::remove_file(&temp);
        IngestError::Write {
            path: path.to_owned(),
            source,
        }
    })
}

/// Removes the temporary files that [`write_atomic`] left in `dir` when its process was
/// killed (`.NAME.tmp-PID-N` whose process no longer runs; a folder that does not exist
/// has none); returns how many. Nothing else is touched, nor a temporary of a run still
/// going (seen in `/proc`; where there is no `/proc`, only this process counts as running).
pub fn remove_abandoned_temporaries(dir: &Path) -> Result<usize, IngestError> {
    let read = |source| IngestError::Read {
        path: dir.to_owned(),
        source,
    };
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(error) => return Err(read(error)),
    };
    let mut removed = 0;
    for entry in entries {
        let entry = entry.map_err(read)?;
        let abandoned = entry
            .file_name()
            .to_str()
            .and_then(temporary_writer)
            .is_some_and(|pid| !is_running(pid));
        if abandoned && entry.file_type().map_err(read)?.is_file() {
            remove_output_file(&entry.path())?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// Whether `file_name` is one of [`write_atomic`]'s temporary files (never output).
pub fn is_temporary(file_name: &str) -> bool {
    temporary_writer(file_name).is_some()
}

/// The process id in the name of one of [`write_atomic`]'s temporary files.
fn temporary_writer(file_name: &str) -> Option<u32> {
    let (target, writer) = file_name.strip_prefix('.')?.rsplit_once(TEMPORARY_MARK)?;
    let (pid, call) = writer.split_once('-')?;
    let is_number = |text: &str| !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    if target.is_empty() || !is_number(call) {
        return None;
    }
    pid.parse().ok().filter(|_| is_number(pid))
}

fn is_running(pid: u32) -> bool {
    pid == std::process::id() || Path::new("/proc").join(pid.to_string()).exists()
}

/// Writes `bytes` under a content-derived `path` unless a regular file there already
/// holds exactly these bytes. The bytes are compared, not just the size: a file of the
/// right size with a flipped byte would otherwise survive every rerun and be served as
/// immutable.
pub fn write_content_named(path: &Path, bytes: &[u8]) -> Result<(), IngestError> {
    // `symlink_metadata`: a link or a FIFO under the name is replaced, never read.
    let same_size =
        fs::symlink_metadata(path).is_ok_and(|m| m.is_file() && m.len() == bytes.len() as u64);
    if same_size && fs::read(path).is_ok_and(|found| found == bytes) {
        return Ok(());
    }
    write_atomic(path, bytes)
}

/// The item chunks a run wrote and the table that names them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WrittenItems {
    /// The chunks, in id order.
    pub chunks: Vec<FileRef>,
    /// `dataset.json`'s `items`.
    pub table: ItemsTable,
    /// The table's files: its pages and its top.
    pub table_files: Vec<String>,
}

impl WrittenItems {
    /// Every file written: the chunks, the pages and the top.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        let chunks = self.chunks.iter().map(|c| c.name.as_str());
        chunks.chain(self.table_files.iter().map(String::as_str))
    }
}

/// Writes `items` as `items-NNNN.<hash>.json` chunks of `per_chunk` items into `out`, and
/// the table that names them (`dataset::items_table`). Files of earlier runs stay, for
/// readers of the `dataset.json` that names them, until [`remove_stale_chunks`].
pub fn write_item_chunks(
    out: &Path,
    items: &[Item],
    per_chunk: u32,
) -> Result<WrittenItems, IngestError> {
    let per = usize::try_from(per_chunk.max(1)).unwrap_or(usize::MAX);
    let mut chunks = Vec::new();
    let mut hashes = Vec::new();
    for (k, chunk) in items.chunks(per).enumerate() {
        let chunk = ItemsChunk {
            first_id: (k * per) as u64,
            items: chunk.to_vec(),
        };
        let bytes = serde_json::to_vec(&chunk).map_err(|error| IngestError::Write {
            path: out.join(format!("items-{k:04}")),
            source: error.into(),
        })?;
        let hash = blake3::hash(&bytes);
        let name = chunk_name(k as u64, hash.to_hex().as_str());
        write_content_named(&out.join(&name), &bytes)?;
        hashes.push(*hash.as_bytes());
        chunks.push(FileRef {
            name,
            bytes: bytes.len() as u64,
            blake3: hash.to_hex().to_string(),
        });
    }
    let (table, files) = table_files(&hashes, per as u32, CHUNKS_PER_PAGE);
    let mut table_files = Vec::new();
    for (name, bytes) in files {
        write_content_named(&out.join(&name), &bytes)?;
        table_files.push(name);
    }
    Ok(WrittenItems {
        chunks,
        table,
        table_files,
    })
}

/// Removes the item chunks and table files in `out` that `keep` does not name (an earlier
/// run's).
pub fn remove_stale_chunks(out: &Path, keep: &WrittenItems) -> Result<(), IngestError> {
    let read = |source| IngestError::Read {
        path: out.to_owned(),
        source,
    };
    let keep: std::collections::HashSet<&str> = keep.names().collect();
    for entry in fs::read_dir(out).map_err(read)? {
        let entry = entry.map_err(read)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if is_items_file(&name) && !keep.contains(name.as_str()) {
            remove_output_file(&entry.path())?;
        }
    }
    Ok(())
}

/// Removes the thumbnails under `out/thumbs/` that no kept item names (left by an
/// earlier run over other input); returns how many.
pub fn remove_stale_thumbs<'a>(
    out: &Path,
    keep: impl Iterator<Item = &'a str>,
) -> Result<usize, IngestError> {
    let keep: std::collections::HashSet<&str> = keep.collect();
    let dir = out.join(dataset::THUMBS_DIR);
    let read = |source| IngestError::Read {
        path: dir.clone(),
        source,
    };
    let mut removed = 0;
    for entry in fs::read_dir(&dir).map_err(read)? {
        let entry = entry.map_err(read)?;
        let name = format!(
            "{}/{}",
            dataset::THUMBS_DIR,
            entry.file_name().to_string_lossy()
        );
        if !keep.contains(name.as_str()) {
            remove_output_file(&entry.path())?;
            removed += 1;
        }
    }
    Ok(removed)
}

fn remove_output_file(path: &Path) -> Result<(), IngestError> {
    fs::remove_file(path).map_err(|source| IngestError::Write {
        path: path.to_owned(),
        source,
    })
}

/// Version of [`IngestList`]'s layout.
pub const INGEST_LIST_VERSION: u32 = 1;

/// Where the ingest list lives inside the output folder.
pub const INGEST_LIST_FILE: &str = ".work/ingested.json";

/// `OUT/.work/ingested.json`: what the encode stage reads, one entry per id in id order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestList {
    /// [`INGEST_LIST_VERSION`].
    pub format_version: u32,
    /// Entry `i` is the image of id `i`.
    pub items: Vec<IngestEntry>,
}

/// The image of one id, as the encoder should read it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestEntry {
    /// Absolute path of the image file (original, cached download, or written PNG).
    pub path: PathBuf,
    /// Rows to cut from the bottom before encoding.
    pub bottom_crop: u32,
    /// blake3 of the image file, 64 hex digits (for up-to-date checks).
    pub blake3: String,
}

impl IngestList {
    /// Reads the list of the output folder `out`.
    pub fn read(out: &Path) -> Result<Self, IngestError> {
        let path = out.join(INGEST_LIST_FILE);
        let bytes = fs::read(&path).map_err(|source| IngestError::Read {
            path: path.clone(),
            source,
        })?;
        let list: Self = serde_json::from_slice(&bytes).map_err(|source| IngestError::Json {
            path: path.clone(),
            source,
        })?;
        if list.format_version != INGEST_LIST_VERSION {
            return Err(IngestError::Version {
                path,
                found: list.format_version,
                expected: INGEST_LIST_VERSION,
            });
        }
        Ok(list)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(n: u32) -> Item {
        Item {
            caption: format!("c{n}"),
            thumb: format!("thumbs/{n}.jpg"),
            source: format!("{n}.jpg"),
            width: n,
            height: n,
            date_taken: None,
        }
    }

    #[test]
    fn chunks_are_content_named_and_stale_ones_removed() {
        let dir = tempfile::tempdir().unwrap();
        let items: Vec<Item> = (0..5).map(item).collect();
        let first = write_item_chunks(dir.path(), &items, 2).unwrap();
        assert_eq!(first.chunks.len(), 3);
        assert_eq!(first.table_files.len(), 2, "a page and the top");
        first.table.check(5).unwrap();
        let chunk: ItemsChunk =
            serde_json::from_slice(&fs::read(dir.path().join(&first.chunks[2].name)).unwrap())
                .unwrap();
        assert_eq!((chunk.first_id, chunk.items.len()), (4, 1));
        let second = write_item_chunks(dir.path(), &items[..3], 2).unwrap();
        assert_eq!(second.chunks[0], first.chunks[0]);
        assert_ne!(second.chunks[1], first.chunks[1]);
        assert_ne!(second.table, first.table);
        remove_stale_chunks(dir.path(), &second).unwrap();
        let mut names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        let mut kept: Vec<&str> = second.names().collect();
        kept.sort();
        assert_eq!(names, kept);
    }

    #[test]
    fn a_content_named_file_with_other_bytes_of_the_same_size_is_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("items-0000.0123456789abcdef.json");
        write_content_named(&path, b"the right bytes").unwrap();
        fs::write(&path, b"the wrong bytes").unwrap();
        write_content_named(&path, b"the right bytes").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"the right bytes");
    }

    #[test]
    fn only_temporary_names_of_write_atomic_are_taken_for_temporaries() {
        assert_eq!(temporary_writer(".manifest.json.tmp-123-4"), Some(123));
        assert_eq!(temporary_writer(".a.tmp-b.tmp-7-0"), Some(7));
        for other in [
            "manifest.json.tmp-123-4",
            "..tmp-123-4",
            ".notes.tmp",
            ".a.tmp-123",
            ".a.tmp-123-",
            ".a.tmp--4",
            ".a.tmp-12x-4",
            ".a.tmp-+1-4",
            ".a.tmp-99999999999-4",
        ] {
            assert_eq!(temporary_writer(other), None, "{other}");
        }
    }

    #[test]
    fn an_unwritable_path_names_the_file_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing").join("report.json");
        let error = write_atomic(&path, b"x").unwrap_err();
        assert!(error.to_string().contains("missing/report.json"), "{error}");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
