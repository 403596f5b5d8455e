//! Every parser a hostile file or request reaches, as a fuzz target: a function of
//! arbitrary bytes that must return (an error is fine) and never panic, hang or break the
//! invariant it checks. `fuzz/libfuzzer` runs them coverage-guided (`scripts/fuzz`); the
//! tests replay the committed corpora and regressions, then a seeded mutation smoke run.
//!
//! | target | what reads the bytes |
//! |---|---|
//! | `index_shard` | a shard file of a small index, then box queries and feature rows over it |
//! | `manifest` | `manifest.json`, then the loader's plan of the files a query needs |
//! | `dataset_files` | `dataset.json`, an item chunk, `catalog.json` and `report.json` |
//! | `npy` | `.npy` arrays (read, written, read again) |
//! | `cifar` | CIFAR pickles and binary batches |
//! | `csv_rows` | caption tables (CSV and TSV) |
//! | `safetensors` | safetensors checkpoints (int8 rows included) and the layout probe |
//! | `pytorch` | PyTorch zip and legacy checkpoints |
//! | `tokenizer` | any UTF-8 text through the clean-up and BPE |
//! | `image` | image headers, EXIF and decoding, as ingest inspects a file |
//! | `http_request` | static-server's request path and headers, parsed as hyper parses them |

mod http;
mod index;

use std::io::Write;
use std::sync::OnceLock;

use clip::{END_OF_TEXT, START_OF_TEXT, TensorMap, Tokenizer};
use dataset::items_table::{ItemsDirectory, Located};
use dataset::{Catalog, DatasetManifest, IngestReport, ItemsChunk};
use ingest::{CsvColumns, FilterOptions};
use precompute::npy::{self, Values};

pub use http::http_request;
pub use index::{index_shard, index_shard_seeds, manifest, small_index_manifest};

/// A fuzz target: arbitrary bytes in; panics are the findings.
pub type Target = fn(&[u8]);

/// Every target by name (the names of `fuzz/corpus/*` and `fuzz/libfuzzer/fuzz_targets/*`).
pub const TARGETS: &[(&str, Target)] = &[
    ("index_shard", index_shard),
    ("manifest", manifest),
    ("dataset_files", dataset_files),
    ("npy", npy_array),
    ("cifar", cifar),
    ("csv_rows", csv_rows),
    ("safetensors", safetensors),
    ("pytorch", pytorch),
    ("tokenizer", tokenizer),
    ("image", image),
    ("http_request", http_request),
];

/// The dataset folder's JSON files: the first byte picks which, the rest is its text.
pub fn dataset_files(data: &[u8]) {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    match which % 4 {
        0 => {
            if let Ok(manifest) = DatasetManifest::from_json(text) {
                // What the app asks of it for every id it shows.
                for id in [
                    0,
                    1,
                    manifest.count.saturating_sub(1),
                    manifest.count,
                    u64::MAX,
                ] {
                    if let Some((chunk, offset)) = manifest.chunk_of(id) {
                        assert!(chunk < manifest.items.chunks);
                        assert!(offset < manifest.items.items_per_chunk as usize);
                        // The first file to read for it is the table's top.
                        let directory = ItemsDirectory::new(manifest.items.clone());
                        assert!(matches!(directory.locate(chunk), Some(Located::Table(_))));
                    }
                }
            }
        }
        1 => {
            let _ = serde_json::from_str::<ItemsChunk>(text);
        }
        2 => {
            let _ = Catalog::from_json(text);
        }
        _ => {
            let _ = serde_json::from_str::<IngestReport>(text);
        }
    }
}

/// `.npy` bytes: an array read is written and read back unchanged.
pub fn npy_array(data: &[u8]) {
    let Ok(array) = npy::read_array(data) else {
        return;
    };
    let again = npy::read_array(&npy::write_array(&array)).expect("a written array reads back");
    assert_eq!(array.shape, again.shape);
    match (&array.values, &again.values) {
        (Values::U8(a), Values::U8(b)) => assert_eq!(a, b),
        (Values::F32(a), Values::F32(b)) => {
            assert!(a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits()));
            assert_eq!(a.len(), b.len());
        }
        _ => panic!("the element type changed on the way back"),
    }
    let _ = npy::read(data);
}

/// CIFAR batches: the same bytes as a pickle and as a binary batch.
pub fn cifar(data: &[u8]) {
    let _ = ingest::pickle::parse(data);
    if let Ok(images) = ingest::cifar::parse_pickle_batch(data) {
        for image in images.iter().take(2) {
            let _ = image.to_png();
        }
    }
    let (images, partial) = ingest::cifar::parse_binary_batch(data);
    assert!(images.len() * 3073 + partial.unwrap_or(0) <= data.len());
}

/// A caption table: the first byte picks CSV or TSV.
pub fn csv_rows(data: &[u8]) {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let (delimiter, file) = if which % 2 == 0 {
        (b',', "fuzz.csv")
    } else {
        (b'\t', "fuzz.tsv")
    };
    let _ = ingest::table::parse(
        rest,
        delimiter,
        &CsvColumns::default(),
        std::path::Path::new(file),
    );
}

/// A safetensors checkpoint: every tensor read has as many values as its shape says.
pub fn safetensors(data: &[u8]) {
    let Ok(tensors) = TensorMap::from_safetensors(data) else {
        return;
    };
    for name in tensors.names() {
        let tensor = tensors.get(name).expect("a listed tensor is there");
        assert_eq!(
            tensor.values.len(),
            tensor.shape.iter().product::<usize>(),
            "{name}"
        );
    }
    let _ = tensors.detect_layout();
}

/// A PyTorch checkpoint. The reader takes only a path, so the bytes go to a file of this
/// process and thread first (in memory where `/dev/shm` exists), removed after.
pub fn pytorch(data: &[u8]) {
    let shm = std::path::Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    let thread = format!("{:?}", std::thread::current().id());
    let path = dir.join(format!(
        "fuzz-pytorch-{}-{}.pt",
        std::process::id(),
        thread.trim_start_matches("ThreadId(").trim_end_matches(')')
    ));
    std::fs::File::create(&path)
        .and_then(|mut file| file.write_all(data))
        .expect("the checkpoint file is written");
    for key in [None, Some("state_dict")] {
        if let Ok(tensors) = TensorMap::from_pytorch_file(&path, key) {
            for name in tensors.names() {
                let tensor = tensors.get(name).expect("a listed tensor is there");
                assert_eq!(tensor.values.len(), tensor.shape.iter().product::<usize>());
            }
        }
    }
    let _ = std::fs::remove_file(&path);
}

/// Any UTF-8 text: the clean-up and BPE give context-length ids that start and end right.
pub fn tokenizer(data: &[u8]) {
    static TOKENIZER: OnceLock<Tokenizer> = OnceLock::new();
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let tokenizer = TOKENIZER.get_or_init(|| Tokenizer::new().expect("the bundled vocabulary"));
    let ids = tokenizer.tokenize(text, 77);
    assert_eq!(ids.len(), 77);
    assert_eq!(ids[0], START_OF_TEXT);
    // The text itself may hold "<end_of_text>"; the tokenizer's own end token is the last.
    let end = ids
        .iter()
        .rposition(|&id| id == END_OF_TEXT)
        .expect("an end token");
    assert!(
        ids[end + 1..].iter().all(|&id| id == 0),
        "padding after the end"
    );
    assert!(
        ids[1..end].iter().all(|&id| tokenizer.token(id).is_some()),
        "an id past the vocabulary"
    );
}

/// An image file as ingest inspects it: header, EXIF, decode within limits, upright.
pub fn image(data: &[u8]) {
    let filters = FilterOptions {
        min_size: 1,
        // Small, so one input cannot take seconds; the limit path is what is tested.
        max_pixels: 1 << 20,
        ..FilterOptions::default()
    };
    if let Ok(inspected) = ingest::process::inspect(data, &filters, 64) {
        assert!(u64::from(inspected.width) * u64::from(inspected.height) <= filters.max_pixels);
    }
}
