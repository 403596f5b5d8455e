//! `precompute ingest`: a folder, a CSV/TSV, CIFAR-10 batches or a URL list to filtered,
//! captioned items with thumbnails, a report and the ingest list (see the `ingest` crate).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Args;
use ingest::{
    BarProgress, CsvColumns, DownloadOptions, FilterOptions, IngestOptions, Ingested, InputKind,
};

/// Read a collection, filter it and write thumbnails, item metadata and a report.
#[derive(Args)]
pub struct IngestArgs {
    /// A folder of images, a .csv/.tsv, a CIFAR-10 folder, .tar.gz or batch, or a .txt of URLs.
    #[arg(long)]
    input: PathBuf,
    /// The input's kind: folder, csv, cifar10 or urls (default: told from the input).
    #[arg(long)]
    input_kind: Option<InputKind>,
    /// Output folder; created if missing.
    #[arg(long)]
    out: PathBuf,
    /// Table column of image paths, relative to the table's folder.
    #[arg(long, default_value = "filename", allow_hyphen_values = true)]
    file_column: String,
    /// Table column of image URLs (downloads them instead of reading files).
    #[arg(long, allow_hyphen_values = true)]
    url_column: Option<String>,
    /// Table column of captions.
    #[arg(long, default_value = "caption", allow_hyphen_values = true)]
    caption_column: String,
    /// Least short side in pixels (after the bottom crop).
    #[arg(long, default_value_t = FilterOptions::default().min_size)]
    min_size: u32,
    /// Largest width x height decoded; larger images are refused from their header.
    #[arg(long, default_value_t = FilterOptions::default().max_pixels)]
    max_pixels: u64,
    /// Rows cut from the bottom of every image (e.g. a watermark strip).
    #[arg(long, default_value_t = 0)]
    bottom_crop: u32,
    /// Keep items whose caption given in a table or URL list is empty or junk (with an empty
    /// caption) instead of skipping them; a sidecar or file-name caption never skips an item.
    #[arg(long)]
    allow_empty_captions: bool,
    /// Longest side of a thumbnail in pixels.
    #[arg(long, default_value_t = 256)]
    thumb_size: u32,
    /// Downloads in flight at once.
    #[arg(long, default_value_t = DownloadOptions::default().concurrency)]
    concurrency: usize,
    /// Limit for one download, in milliseconds.
    #[arg(long, default_value_t = 30_000)]
    timeout_ms: u64,
    /// Further attempts after a 5xx, 429, timeout or network error.
    #[arg(long, default_value_t = DownloadOptions::default().retries)]
    retries: u32,
    /// Wait before the first retry in milliseconds, doubled before each next one.
    #[arg(long, default_value_t = 500)]
    backoff_ms: u64,
    /// Least time between two requests to one host, in milliseconds.
    #[arg(long, default_value_t = 100)]
    per_host_interval_ms: u64,
    /// Largest download accepted, in bytes.
    #[arg(long, default_value_t = DownloadOptions::default().max_bytes)]
    max_download_bytes: u64,
}

impl IngestArgs {
    /// The output folder.
    pub fn out(&self) -> &std::path::Path {
        &self.out
    }

    /// The collection.
    pub fn input(&self) -> &std::path::Path {
        &self.input
    }

    /// The library's options for these arguments.
    pub fn options(&self) -> IngestOptions {
        IngestOptions {
            kind: self.input_kind,
            columns: CsvColumns {
                file: self.file_column.clone(),
                url: self.url_column.clone(),
                caption: self.caption_column.clone(),
            },
            filters: FilterOptions {
                min_size: self.min_size,
                max_pixels: self.max_pixels,
                bottom_crop: self.bottom_crop,
                allow_empty_captions: self.allow_empty_captions,
            },
            thumb_size: self.thumb_size,
            download: DownloadOptions {
                concurrency: self.concurrency,
                timeout: Duration::from_millis(self.timeout_ms),
                retries: self.retries,
                backoff: Duration::from_millis(self.backoff_ms),
                per_host_interval: Duration::from_millis(self.per_host_interval_ms),
                max_bytes: self.max_download_bytes,
            },
            ..IngestOptions::new(self.input.clone(), self.out.clone())
        }
    }
}

/// Runs the subcommand: ingests, then removes what an earlier run left that this one
/// does not name.
pub fn run(args: &IngestArgs) -> Result<()> {
    let ingested = ingest(args, ingest::Share::WHOLE)?;
    ingest::remove_stale_output(&args.out, &ingested)
        .with_context(|| format!("cannot remove stale files from {}", args.out.display()))?;
    Ok(())
}

/// Ingests the collection's `share` of candidates, prints a summary and returns the kept
/// items (the files of an earlier run stay: see [`ingest::remove_stale_output`]).
pub fn ingest(args: &IngestArgs, share: ingest::Share) -> Result<Ingested> {
    let started = Instant::now();
    let options = IngestOptions {
        share,
        ..args.options()
    };
    let ingested = ingest::run(&options, &BarProgress::default())
        .with_context(|| format!("cannot ingest {}", args.input.display()))?;
    let seconds = started.elapsed().as_secs_f64();
    let report = &ingested.report;
    let reasons: Vec<String> = report
        .skipped_by_reason
        .iter()
        .map(|(reason, count)| format!("{reason} {count}"))
        .collect();
    let seen = report.ingested + report.skipped;
    eprintln!(
        "ingested {} items{}, skipped {}{} into {} in {seconds:.2} s ({:.1} images/s)",
        report.ingested,
        if report.uncaptioned > 0 {
            format!(" ({} without a caption)", report.uncaptioned)
        } else {
            String::new()
        },
        report.skipped,
        if reasons.is_empty() {
            String::new()
        } else {
            format!(" ({})", reasons.join(", "))
        },
        args.out.display(),
        seen as f64 / seconds.max(1e-9),
    );
    Ok(ingested)
}
