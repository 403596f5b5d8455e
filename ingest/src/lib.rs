//! Ingest: the first stage of `precompute build`. It turns a collection (an image folder,
//! a CSV/TSV, CIFAR-10 batches or a URL list, see [`InputKind`]) into filtered, captioned
//! items with web thumbnails, and writes into the output folder:
//!
//! - `report.json`: the [`dataset::IngestReport`] (counts per skip reason, every skipped
//!   item, how many kept items have no caption);
//! - `items-NNNN.<hash>.json`: [`dataset::ItemsChunk`]s of the kept items, in id order,
//!   and the table that names them (`items-page-*.bin`, `items-top.*.bin`:
//!   [`dataset::items_table`]);
//! - `thumbs/<16 hex of blake3>.jpg`: the thumbnails;
//! - `.work/ingested.json`: the [`IngestList`] the encoder reads (the image path of each
//!   id), plus `.work/downloads/` (URL cache) and `.work/cifar/` (CIFAR records as PNG).
//!
//! The chunks and thumbnails of an earlier run stay until [`remove_stale_output`]: a
//! rebuild of a served folder removes them only once the new `dataset.json` is in place,
//! so readers of the old one find every file it names meanwhile.
//!
//! Ids are positions among the kept items, in the source's order (sorted paths, file
//! rows, batch records, list lines), so the same input always gives the same ids. Bad
//! input never stops a run: each skipped item is counted with its reason. Only a failure
//! to read the input as a whole or to write the output is an [`IngestError`].
//!
//! Captions are optional where a source may lack them (a folder's sidecars and file names,
//! a URL list line without one: see [`source::SourceCaption`]); a caption a table or list
//! pairs with its image is required, as in the reference's preprocessing.
//!
//! ```no_run
//! let options = ingest::IngestOptions::new("photos".into(), "dataset".into());
//! let ingested = ingest::run(&options, &ingest::NoProgress)?;
//! println!("{} items, {} skipped", ingested.items.len(), ingested.report.skipped);
//! # Ok::<(), ingest::IngestError>(())
//! ```

pub mod caption;
pub mod cifar;
pub mod decode;
pub mod exif;
pub mod folder;
pub mod heif;
pub mod input_kind;
pub mod local_file;
pub mod memo;
pub mod output;
pub mod pickle;
pub mod process;
pub mod progress;
pub mod source;
pub mod table;
pub mod urls;

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use dataset::{IngestReport, SkippedItem};
use rayon::prelude::*;

pub use input_kind::InputKind;
pub use output::{INGEST_LIST_FILE, IngestEntry, IngestList};
pub use process::FilterOptions;
pub use progress::{BarProgress, NoProgress, Progress};
pub use table::CsvColumns;
pub use urls::DownloadOptions;

use crate::memo::OutcomeMemo;
use crate::process::{Accepted, process};
use crate::source::{Candidate, ImageData, SourceCaption, SourceItems};

pub use dataset::items_table::ITEMS_PER_CHUNK;

/// Why an ingest run failed as a whole.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IngestError {
    /// The input (or a part of it that is not one item) cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file or folder.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// An input file (a table, a list, a CIFAR batch) is no regular file or cannot be read.
    #[error("cannot read {path}: {source}")]
    InputFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: local_file::LocalFileError,
    },
    /// An output file cannot be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The output folder cannot be created.
    #[error("cannot create the output folder {path}: {source}")]
    OutputDir {
        /// The folder.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A table's header cannot be read.
    #[error("cannot read the header of {path}: {source}")]
    Csv {
        /// The table.
        path: PathBuf,
        /// The CSV error.
        source: csv::Error,
    },
    /// A required column is not in a table's header.
    #[error("{path}: no column '{column}' in the header")]
    MissingColumn {
        /// The column's name.
        column: String,
        /// The table.
        path: PathBuf,
    },
    /// The input's kind cannot be told from its name.
    #[error(
        "cannot tell what {path} is (expected a folder, .csv, .tsv, .txt, .tar.gz or a CIFAR batch): name it with --input-kind"
    )]
    UnknownInputKind {
        /// The input.
        path: PathBuf,
    },
    /// A CIFAR input holds no batch file.
    #[error("{path}: no CIFAR-10 batch (data_batch_N[.bin], test_batch[.bin]) in it")]
    NoCifarBatches {
        /// The input.
        path: PathBuf,
    },
    /// A JSON file of ingest is malformed.
    #[error("{path}: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// serde's error.
        source: serde_json::Error,
    },
    /// A file of another format version.
    #[error("{path}: format version {found}, this build reads {expected}")]
    Version {
        /// The file.
        path: PathBuf,
        /// The version in the file.
        found: u32,
        /// The version this build reads.
        expected: u32,
    },
}

/// Everything a run needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IngestOptions {
    /// The source: a folder, a `.csv`/`.tsv`, a CIFAR-10 folder, archive or batch, a `.txt`.
    pub input: PathBuf,
    /// The source's kind; `None` tells it from the input ([`InputKind::detect`]).
    pub kind: Option<InputKind>,
    /// The output folder; created if missing.
    pub out: PathBuf,
    /// The columns of a table input.
    pub columns: CsvColumns,
    /// The image and caption filters.
    pub filters: FilterOptions,
    /// Longest side of a thumbnail in pixels.
    pub thumb_size: u32,
    /// How URLs are fetched.
    pub download: DownloadOptions,
    /// Items per metadata chunk.
    pub items_per_chunk: u32,
    /// The candidates this run inspects: all, or one machine's share of a split build.
    pub share: Share,
}

/// Which candidates a run inspects: those at positions `p` (in the source's order) with
/// `p % count == index`. A split build's parts each inspect their share into their own
/// folders; joined, they hold every candidate's [`memo::Outcome`] and thumbnail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Share {
    /// This part, `0..count`.
    pub index: usize,
    /// How many parts.
    pub count: usize,
}

impl Share {
    /// Every candidate.
    pub const WHOLE: Share = Share { index: 0, count: 1 };

    /// Whether the candidate at `position` is this share's.
    pub fn takes(self, position: usize) -> bool {
        position % self.count.max(1) == self.index
    }
}

impl IngestOptions {
    /// The defaults for `input` into `out`.
    pub fn new(input: PathBuf, out: PathBuf) -> Self {
        Self {
            input,
            kind: None,
            out,
            columns: CsvColumns::default(),
            filters: FilterOptions::default(),
            thumb_size: 256,
            download: DownloadOptions::default(),
            items_per_chunk: ITEMS_PER_CHUNK,
            share: Share::WHOLE,
        }
    }
}

/// One kept item: its metadata and what the encoder reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IngestedItem {
    /// Caption, thumbnail, source and size.
    pub item: dataset::Item,
    /// What the encoder reads for this id.
    pub entry: IngestEntry,
}

/// The outcome of a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ingested {
    /// The kept items; the position is the id.
    pub items: Vec<IngestedItem>,
    /// Counts and skipped items (also written to `report.json`).
    pub report: IngestReport,
    /// The metadata chunks written and their table (for `dataset.json`'s `items`).
    pub written: output::WrittenItems,
    /// The blake3 of the source's candidates (their sources, labels and captions, in
    /// order): the parts of a split build must have listed the same collection.
    pub listing_blake3: String,
    /// Images this run decoded; the others' outcomes were known from an earlier run
    /// ([`memo`]).
    pub inspected: usize,
}

/// Runs ingest: reads the source, filters and thumbnails its items in parallel, and
/// writes the report, the metadata chunks and the ingest list into `options.out`.
pub fn run(options: &IngestOptions, progress: &dyn Progress) -> Result<Ingested, IngestError> {
    let out = &options.out;
    for folder in [
        out.clone(),
        out.join(dataset::THUMBS_DIR),
        out.join(".work"),
        out.join(".work/downloads"),
        out.join(".work/cifar"),
    ] {
        fs::create_dir_all(&folder).map_err(|source| IngestError::OutputDir {
            path: folder.clone(),
            source,
        })?;
        output::remove_abandoned_temporaries(&folder)?;
    }
    let source = read_source(options, progress)?;
    let listing_blake3 = listing_blake3(&source.candidates);
    let memo = OutcomeMemo::new(out, &options.filters, options.thumb_size);
    let candidates: Vec<&Candidate> = source
        .candidates
        .iter()
        .enumerate()
        .filter(|&(position, _)| options.share.takes(position))
        .map(|(_, candidate)| candidate)
        .collect();

    progress.begin("thumbnails", candidates.len() as u64);
    let outcomes: Vec<Result<Result<Accepted, SkippedItem>, IngestError>> = candidates
        .par_iter()
        .map(|candidate| {
            let outcome = process(candidate, &options.filters, options.thumb_size, out, &memo);
            progress.advance(1);
            outcome
        })
        .collect();
    progress.end();

    let mut skipped_items = source.skipped;
    let mut items = Vec::new();
    let mut first_of: HashMap<blake3::Hash, String> = HashMap::new();
    for outcome in outcomes {
        match outcome? {
            Err(skip) => skipped_items.push(skip),
            Ok(accepted) => {
                if let Some(first) = first_of.get(&accepted.content_hash) {
                    skipped_items.push(skipped(
                        accepted.item.source.clone(),
                        "duplicate",
                        format!("same bytes as {first}"),
                    ));
                    continue;
                }
                first_of.insert(accepted.content_hash, accepted.item.source.clone());
                items.push(IngestedItem {
                    entry: IngestEntry {
                        path: accepted.image_path,
                        bottom_crop: options.filters.bottom_crop,
                        blake3: accepted.content_hash.to_hex().to_string(),
                    },
                    item: accepted.item,
                });
            }
        }
    }
    let report = report_of(&items, skipped_items);
    let metadata: Vec<dataset::Item> = items.iter().map(|i| i.item.clone()).collect();
    let written = output::write_item_chunks(out, &metadata, options.items_per_chunk)?;
    let list = IngestList {
        format_version: output::INGEST_LIST_VERSION,
        items: items.iter().map(|i| i.entry.clone()).collect(),
    };
    output::write_atomic(&out.join(INGEST_LIST_FILE), &to_json(&list))?;
    output::write_atomic(&out.join(dataset::REPORT_FILE), &to_json(&report))?;
    Ok(Ingested {
        items,
        report,
        written,
        listing_blake3,
        inspected: memo.recorded(),
    })
}

fn listing_blake3(candidates: &[Candidate]) -> String {
    let mut hasher = blake3::Hasher::new();
    for candidate in candidates {
        for field in [
            candidate.source.as_str(),
            candidate.label.as_str(),
            candidate.caption.text(),
        ] {
            hasher.update(&(field.len() as u64).to_le_bytes());
            hasher.update(field.as_bytes());
        }
    }
    hasher.finalize().to_hex().to_string()
}

/// Removes the item chunks and thumbnails in `ingested`'s output folder `out` that it does
/// not name (an earlier run's); returns how many thumbnails went.
pub fn remove_stale_output(out: &Path, ingested: &Ingested) -> Result<usize, IngestError> {
    output::remove_stale_chunks(out, &ingested.written)?;
    output::remove_stale_thumbs(out, ingested.items.iter().map(|i| i.item.thumb.as_str()))
}

fn read_source(
    options: &IngestOptions,
    progress: &dyn Progress,
) -> Result<SourceItems, IngestError> {
    let input = &options.input;
    // A folder is walked once, with progress: its files tell a CIFAR folder from an image
    // folder, and are an image folder's candidates.
    let walked = match options.kind {
        None | Some(InputKind::Folder) if input.is_dir() => Some(folder::walk(input, progress)?),
        _ => None,
    };
    let kind = match (options.kind, &walked) {
        (Some(kind), _) => kind,
        (None, Some(files)) => InputKind::of_folder(files),
        (None, None) => InputKind::detect(input)?,
    };
    let downloads = options.out.join(".work/downloads");
    let read = |path: &Path| {
        local_file::read_regular_file(path, u64::MAX).map_err(|source| IngestError::InputFile {
            path: path.to_owned(),
            source,
        })
    };
    let name = input
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(match kind {
        InputKind::Folder => {
            let files = match walked {
                Some(files) => files,
                // Not a folder: the walk's error names it.
                None => folder::walk(input, progress)?,
            };
            folder::candidates(input, &files, &options.out)
        }
        InputKind::Cifar10 => cifar::read(input)?,
        InputKind::Urls => {
            let text = read(input)?;
            let (entries, skips) = urls::parse_list(&String::from_utf8_lossy(&text), &name);
            let mut items = urls::download(&entries, &downloads, &options.download, progress);
            items.skipped.splice(0..0, skips);
            items
        }
        InputKind::Csv => {
            let bytes = read(input)?;
            let delimiter = table::delimiter_of(input);
            let (rows, skips) = table::parse(&bytes, delimiter, &options.columns, input)?;
            let mut items = if options.columns.url.is_some() {
                let entries: Vec<urls::UrlEntry> = rows
                    .into_iter()
                    .map(|row| urls::UrlEntry {
                        label: format!("{name}:{}", row.line),
                        url: row.image,
                        caption: SourceCaption::Paired(row.caption),
                    })
                    .collect();
                urls::download(&entries, &downloads, &options.download, progress)
            } else {
                let folder = input.parent().unwrap_or(Path::new(""));
                SourceItems {
                    candidates: rows
                        .into_iter()
                        .map(|row| Candidate {
                            label: format!("{name}:{} {}", row.line, row.image),
                            image: ImageData::File(folder.join(&row.image)),
                            source: row.image,
                            caption: SourceCaption::Paired(row.caption),
                        })
                        .collect(),
                    skipped: Vec::new(),
                }
            };
            items.skipped.splice(0..0, skips);
            items
        }
    })
}

fn report_of(items: &[IngestedItem], skipped_items: Vec<SkippedItem>) -> IngestReport {
    let mut report = IngestReport {
        ingested: items.len() as u64,
        uncaptioned: items.iter().filter(|i| i.item.caption.is_empty()).count() as u64,
        skipped: skipped_items.len() as u64,
        ..IngestReport::default()
    };
    for item in &skipped_items {
        *report
            .skipped_by_reason
            .entry(item.reason.clone())
            .or_default() += 1;
    }
    report.skipped_items = skipped_items;
    report
}

fn to_json(value: &impl serde::Serialize) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(value).expect("plain structs serialise");
    bytes.push(b'\n');
    bytes
}

/// A skipped item.
pub(crate) fn skipped(
    source: impl Into<String>,
    reason: &str,
    detail: impl Into<String>,
) -> SkippedItem {
    SkippedItem {
        source: source.into(),
        reason: reason.to_owned(),
        detail: detail.into(),
    }
}
