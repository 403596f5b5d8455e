//! Runs of `ingest::run` over small inputs that each test builds: a folder of bad files,
//! tables, the CIFAR-10 fixtures (both formats, folder and archive), URL lists served by a
//! local server that misbehaves, and an output that cannot be written.

use std::collections::BTreeMap;
use std::fs;
use std::io::Cursor;
use std::path::Path;

use dataset::{IngestReport, ItemsChunk};
use ingest::{IngestList, IngestOptions, Ingested, NoProgress};

mod cifar;
mod folder;
mod table;
mod urls;
mod write;

/// A `width` x `height` gradient (varied by `seed`) encoded as `format`.
fn image_bytes(width: u32, height: u32, seed: u32, format: image::ImageFormat) -> Vec<u8> {
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([
            (x * 3 + seed * 40) as u8,
            (y * 5 + seed * 70) as u8,
            ((x + y) * 2 + seed * 90) as u8,
        ])
    });
    let mut bytes = Vec::new();
    image::DynamicImage::ImageRgb8(image)
        .write_to(&mut Cursor::new(&mut bytes), format)
        .unwrap();
    bytes
}

fn jpeg(seed: u32) -> Vec<u8> {
    image_bytes(80, 60, seed, image::ImageFormat::Jpeg)
}

fn png(seed: u32) -> Vec<u8> {
    image_bytes(64, 64, seed, image::ImageFormat::Png)
}

fn run(options: &IngestOptions) -> Ingested {
    ingest::run(options, &NoProgress).unwrap()
}

/// The report's counts per reason, as `(reason, count)` pairs.
fn reasons(report: &IngestReport) -> BTreeMap<&str, u64> {
    report
        .skipped_by_reason
        .iter()
        .map(|(k, v)| (k.as_str(), *v))
        .collect()
}

/// Each skipped item's source and reason, in the report's order.
fn skips(report: &IngestReport) -> Vec<(&str, &str)> {
    report
        .skipped_items
        .iter()
        .map(|s| (s.source.as_str(), s.reason.as_str()))
        .collect()
}

/// Checks what a run wrote against what it returned: report, chunks, thumbnails, list.
/// (source, caption) of every kept item, in id order.
fn kept(ingested: &Ingested) -> Vec<(&str, &str)> {
    ingested
        .items
        .iter()
        .map(|i| (i.item.source.as_str(), i.item.caption.as_str()))
        .collect()
}

fn check_output(out: &Path, ingested: &Ingested) {
    let report: IngestReport =
        serde_json::from_slice(&fs::read(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report, ingested.report);
    assert_eq!(report.ingested as usize, ingested.items.len());
    assert_eq!(report.skipped as usize, report.skipped_items.len());
    assert_eq!(
        report.skipped_by_reason.values().sum::<u64>(),
        report.skipped
    );
    let mut items = Vec::new();
    for chunk in &ingested.written.chunks {
        let bytes = fs::read(out.join(&chunk.name)).unwrap();
        assert_eq!(bytes.len() as u64, chunk.bytes);
        assert_eq!(blake3::hash(&bytes).to_hex().as_str(), chunk.blake3);
        let chunk: ItemsChunk = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(chunk.first_id as usize, items.len());
        items.extend(chunk.items);
    }
    let expected: Vec<dataset::Item> = ingested.items.iter().map(|i| i.item.clone()).collect();
    assert_eq!(items, expected);
    for item in &items {
        let thumb = fs::read(out.join(&item.thumb)).unwrap();
        let name = format!("thumbs/{}.jpg", &blake3::hash(&thumb).to_hex()[..16]);
        assert_eq!(item.thumb, name);
        let decoded = image::load_from_memory(&thumb).unwrap();
        assert!(decoded.width().max(decoded.height()) <= 256);
    }
    let list = IngestList::read(out).unwrap();
    assert_eq!(list.items.len(), items.len());
    for (entry, ingested) in list.items.iter().zip(&ingested.items) {
        assert_eq!(entry, &ingested.entry);
        assert!(entry.path.is_absolute(), "{}", entry.path.display());
        let bytes = fs::read(&entry.path).unwrap();
        assert_eq!(blake3::hash(&bytes).to_hex().as_str(), entry.blake3);
    }
}
