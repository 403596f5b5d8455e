//! CIFAR-10 in both formats, from a folder and from a `.tar.gz`.

use super::*;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/cifar");
const BATCHES: [&str; 3] = ["data_batch_1", "data_batch_1.bin", "data_batch_2"];

/// Captions in batch-name order: pickle (Python 2) labels 1 2 5, binary 0 3 9, pickle
/// (Python 3) 7 8 4; see `fixtures/cifar/make_fixtures.py`.
const CAPTIONS: [&str; 9] = [
    "automobile",
    "bird",
    "dog",
    "airplane",
    "cat",
    "truck",
    "horse",
    "ship",
    "deer",
];

/// Pixel (x, y) of the fixture image drawn with `seed`.
fn fixture_pixel(seed: u32, x: u32, y: u32) -> [u8; 3] {
    [
        ((x * 8 + seed * 40) % 256) as u8,
        ((y * 8 + seed * 70) % 256) as u8,
        (((x + y) * 4 + seed * 90) % 256) as u8,
    ]
}

fn check_cifar(out: &Path, ingested: &Ingested) {
    check_output(out, ingested);
    let captions: Vec<&str> = ingested
        .items
        .iter()
        .map(|i| i.item.caption.as_str())
        .collect();
    assert_eq!(captions, CAPTIONS);
    assert_eq!(ingested.report.skipped, 0);
    // Seeds in the same order: 4 5 6 (pickle), 1 2 3 (binary), 7 8 9 (pickle).
    for (item, seed) in ingested.items.iter().zip([4, 5, 6, 1, 2, 3, 7, 8, 9]) {
        assert!(item.entry.path.starts_with(out.join(".work/cifar")));
        let image = image::open(&item.entry.path).unwrap().to_rgb8();
        assert_eq!(image.dimensions(), (32, 32));
        for (x, y) in [(0, 0), (31, 0), (5, 17)] {
            assert_eq!(image.get_pixel(x, y).0, fixture_pixel(seed, x, y), "{seed}");
        }
    }
}

#[test]
fn folder_of_both_formats() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("cifar-10-batches");
    fs::create_dir_all(&input).unwrap();
    for name in BATCHES {
        fs::copy(Path::new(FIXTURES).join(name), input.join(name)).unwrap();
    }
    fs::write(input.join("batches.meta.txt"), "airplane\n").unwrap();
    let out = dir.path().join("out");
    let ingested = run(&IngestOptions::new(input, out.clone()));
    check_cifar(&out, &ingested);
    assert_eq!(ingested.items[3].item.source, "data_batch_1.bin#0");
}

#[test]
fn tar_gz_archive() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("cifar-10.tar.gz");
    let gz = flate2::write::GzEncoder::new(
        fs::File::create(&archive).unwrap(),
        flate2::Compression::fast(),
    );
    let mut tar = tar::Builder::new(gz);
    // Out of order on purpose: batches are read in name order.
    for name in BATCHES.iter().rev() {
        tar.append_path_with_name(
            Path::new(FIXTURES).join(name),
            format!("cifar-10-batches/{name}"),
        )
        .unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap();
    let out = dir.path().join("out");
    let ingested = run(&IngestOptions::new(archive, out.clone()));
    check_cifar(&out, &ingested);
    assert_eq!(
        ingested.items[0].item.source,
        "cifar-10-batches/data_batch_1#0"
    );
}

#[test]
fn damaged_batches_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    fs::create_dir_all(&input).unwrap();
    let binary = fs::read(Path::new(FIXTURES).join("data_batch_1.bin")).unwrap();
    fs::write(
        input.join("data_batch_1.bin"),
        &binary[..binary.len() - 100],
    )
    .unwrap();
    let pickle = fs::read(Path::new(FIXTURES).join("data_batch_1")).unwrap();
    fs::write(input.join("test_batch"), &pickle[..pickle.len() / 2]).unwrap();
    let ingested = run(&IngestOptions::new(input, dir.path().join("out")));
    assert_eq!(ingested.items.len(), 2);
    assert_eq!(
        reasons(&ingested.report),
        BTreeMap::from([("truncated_record", 1), ("unreadable_batch", 1)])
    );
}
