//! An image folder with every kind of bad file, and a camera's folder without captions.

use super::*;

/// A small PNG whose header claims `width` x `height`: an IHDR chunk, then the start of
/// an IDAT chunk (where a decoder starts reading pixels).
fn png_header(width: u32, height: u32) -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut chunk = |kind: &[u8], data: &[u8]| {
        let mut body = kind.to_vec();
        body.extend(data);
        bytes.extend((data.len() as u32).to_be_bytes());
        bytes.extend(&body);
        bytes.extend(crc32(&body).to_be_bytes());
    };
    let mut header = width.to_be_bytes().to_vec();
    header.extend(height.to_be_bytes());
    header.extend([8, 2, 0, 0, 0]);
    chunk(b"IHDR", &header);
    chunk(b"IDAT", &[0x78, 0x9c, 0, 0, 0, 0]);
    bytes
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn bad_folder(root: &Path) {
    fs::create_dir_all(root.join("sub")).unwrap();
    let good = jpeg(1);
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("a_red_gradient.jpg", good.clone()),
        ("b-green.png", png(2)),
        ("sub/c.jpg", jpeg(3)),
        ("sub/c.txt", b"  a <i>blue</i> &amp; teal sky  ".to_vec()),
        ("corrupt.jpg", {
            let mut bytes = vec![0xff, 0xd8, 0xff, 0xe0];
            bytes.extend((0..500u32).map(|i| (i * 37 % 251) as u8));
            bytes
        }),
        ("empty.jpg", Vec::new()),
        ("truncated.jpg", jpeg(4)[..jpeg(4).len() * 2 / 3].to_vec()),
        ("huge.png", png_header(100_000, 100_000)),
        ("notes.md", b"# not an image\n".to_vec()),
        ("sub/copy of red.jpg", good),
        ("IMG_1234.jpg", jpeg(5)),
        ("tiny.png", image_bytes(10, 10, 6, image::ImageFormat::Png)),
    ];
    for (name, bytes) in files {
        fs::write(root.join(name), bytes).unwrap();
    }
}

#[test]
fn bad_files_are_counted_and_the_rest_ingested() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    bad_folder(&input);
    let out = dir.path().join("out");
    let ingested = run(&IngestOptions::new(input.clone(), out.clone()));
    check_output(&out, &ingested);
    assert_eq!(
        kept(&ingested),
        [
            ("IMG_1234.jpg", ""),
            ("a_red_gradient.jpg", "a red gradient"),
            ("b-green.png", "b green"),
            ("sub/c.jpg", "a blue & teal sky"),
        ]
    );
    assert_eq!(ingested.report.uncaptioned, 1);
    assert_eq!(
        (ingested.items[1].item.width, ingested.items[1].item.height),
        (80, 60)
    );
    assert_eq!(
        reasons(&ingested.report),
        BTreeMap::from([
            ("duplicate", 1),
            ("empty_file", 1),
            ("not_an_image", 1),
            ("too_large", 1),
            ("too_small", 1),
            ("truncated", 1),
            ("undecodable", 1),
        ])
    );
    let duplicate = ingested
        .report
        .skipped_items
        .iter()
        .find(|s| s.reason == "duplicate")
        .unwrap();
    assert_eq!(duplicate.source, "sub/copy of red.jpg");
    assert!(duplicate.detail.contains("a_red_gradient.jpg"));
}

#[test]
fn the_same_input_gives_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    bad_folder(&input);
    let first = run(&IngestOptions::new(input.clone(), dir.path().join("a")));
    let second = run(&IngestOptions::new(input.clone(), dir.path().join("b")));
    assert_eq!(first.written, second.written);
    assert_eq!(first.report, second.report);
    // A rerun into the same folder keeps every name and leaves no stray file.
    let again = run(&IngestOptions::new(input, dir.path().join("a")));
    assert_eq!(again.written, first.written);
    let names = |p: &Path| {
        let mut names: Vec<String> = fs::read_dir(p)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    assert_eq!(names(&dir.path().join("a")), names(&dir.path().join("b")));
    assert_eq!(
        names(&dir.path().join("a/thumbs")),
        names(&dir.path().join("b/thumbs"))
    );
}

#[test]
fn a_rerun_over_less_input_keeps_the_old_files_until_told_to_remove_them() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    bad_folder(&input);
    let out = dir.path().join("out");
    let first = run(&IngestOptions::new(input.clone(), out.clone()));
    fs::remove_file(input.join("b-green.png")).unwrap();
    let second = run(&IngestOptions::new(input, out.clone()));
    assert_eq!(second.items.len(), first.items.len() - 1);
    check_output(&out, &second);
    // Until the caller says the new output is in place, readers of the old one still
    // find every file it names.
    for chunk in &first.written.chunks {
        assert!(out.join(&chunk.name).is_file(), "{}", chunk.name);
    }
    for item in &first.items {
        assert!(out.join(&item.item.thumb).is_file(), "{}", item.item.thumb);
    }
    assert_eq!(ingest::remove_stale_output(&out, &second).unwrap(), 1);
    check_output(&out, &second);
    assert_eq!(
        fs::read_dir(out.join("thumbs")).unwrap().count(),
        second.items.len()
    );
    assert!(!out.join(&first.written.chunks[0].name).exists());
}

/// A byte flipped in an item chunk and in a thumbnail (sizes unchanged) is repaired by a
/// rerun: content-named files are compared with what the run makes, not trusted by size.
#[test]
fn a_rerun_repairs_corrupted_chunks_and_thumbnails() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    bad_folder(&input);
    let out = dir.path().join("out");
    let first = run(&IngestOptions::new(input.clone(), out.clone()));
    let flip_a_byte = |path: &Path| {
        let mut bytes = fs::read(path).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x40;
        fs::write(path, bytes).unwrap();
    };
    flip_a_byte(&out.join(&first.written.chunks[0].name));
    flip_a_byte(&out.join(&first.items[0].item.thumb));
    let second = run(&IngestOptions::new(input, out.clone()));
    assert_eq!(second.written, first.written);
    check_output(&out, &second);
}

#[test]
fn bottom_crop_option() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    bad_folder(&input);
    let mut options = IngestOptions::new(input, dir.path().join("out"));
    options.filters.bottom_crop = 30;
    options.thumb_size = 32;
    let ingested = run(&options);
    // 80x60 JPEGs keep 30 rows (short side 30 < 32): too small now; the 64x64 PNG keeps 34.
    let kept: Vec<&str> = ingested
        .items
        .iter()
        .map(|i| i.item.source.as_str())
        .collect();
    assert_eq!(kept, ["b-green.png"]);
    assert_eq!(ingested.items[0].entry.bottom_crop, 30);
    let thumb = image::open(dir.path().join("out").join(&ingested.items[0].item.thumb)).unwrap();
    assert_eq!((thumb.width(), thumb.height()), (32, 17));
}

/// A photo library as a camera and a phone name it: no captions, names that describe
/// nothing, one sidecar, one descriptive name and a few hostile files.
#[test]
fn a_camera_named_folder_without_captions_ingests_every_good_image() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("photos");
    fs::create_dir_all(input.join("2023")).unwrap();
    let mut uncaptioned: Vec<String> = (1..=40).map(|i| format!("IMG_{i:04}.png")).collect();
    uncaptioned.extend(
        [
            "2023/DSC01234.png",
            "2023/DSCF1234.png",
            "2023/P1010001.png",
            "2023/PXL_20240101_123456789.png",
            "2023/IMG_20230501_123456.png",
            "2023/2023-05-01 12.34.56.png",
            "2023/Screenshot 2023-05-01 at 12.34.56.png",
            "2023/WhatsApp Image 2023-05-01 at 12.34.56.png",
            "2023/IMG_1234 (2).png",
            "2023/0042.png",
            "2023/d41d8cd98f00b204e9800998ecf8427e.png",
            "2023/550e8400-e29b-41d4-a716-446655440000.png",
        ]
        .map(String::from),
    );
    let captioned = [
        ("IMG_0100.png", "a sidecar caption"),
        ("beach_holiday_IMG_0200.png", "beach holiday"),
    ];
    let good: Vec<&str> = uncaptioned
        .iter()
        .map(String::as_str)
        .chain(captioned.iter().map(|(name, _)| *name))
        .collect();
    for (seed, name) in good.iter().enumerate() {
        fs::write(input.join(name), png(seed as u32)).unwrap();
    }
    fs::write(input.join("IMG_0100.txt"), "a sidecar caption\n").unwrap();
    let truncated = jpeg(200);
    let hostile: [(&str, Vec<u8>); 5] = [
        ("IMG_0900.jpg", Vec::new()),
        ("IMG_0901.jpg", truncated[..truncated.len() / 2].to_vec()),
        ("IMG_0902.jpg", b"<html>not an image</html>".to_vec()),
        ("IMG_0903.png", png_header(100_000, 100_000)),
        ("IMG_0904.png", png(0)),
    ];
    for (name, bytes) in &hostile {
        fs::write(input.join(name), bytes).unwrap();
    }

    let out = dir.path().join("out");
    let ingested = run(&IngestOptions::new(input, out.clone()));
    check_output(&out, &ingested);
    let mut expected: Vec<(&str, &str)> = uncaptioned.iter().map(|n| (n.as_str(), "")).collect();
    expected.extend(captioned);
    expected.sort();
    assert_eq!(kept(&ingested), expected);
    assert_eq!(
        reasons(&ingested.report),
        BTreeMap::from([
            ("duplicate", 1),
            ("empty_file", 1),
            ("not_an_image", 1),
            ("too_large", 1),
            ("truncated", 1),
        ])
    );
    assert_eq!(
        skips(&ingested.report),
        [
            ("IMG_0900.jpg", "empty_file"),
            ("IMG_0901.jpg", "truncated"),
            ("IMG_0902.jpg", "not_an_image"),
            ("IMG_0903.png", "too_large"),
            ("IMG_0904.png", "duplicate"),
        ]
    );
    assert_eq!(ingested.report.ingested, good.len() as u64);
    assert_eq!(ingested.report.uncaptioned, uncaptioned.len() as u64);
    let report: serde_json::Value =
        serde_json::from_slice(&fs::read(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["uncaptioned"], uncaptioned.len());
}

/// Photos keep the date their EXIF says they were taken, through the item chunks; a date
/// that is no date leaves it unknown and the photo is kept.
#[test]
fn photos_keep_their_exif_date_taken() {
    use ingest::exif::{ExifValue::Ascii, ExifValue::Short, Tag, with_exif};
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("photos");
    fs::create_dir_all(&input).unwrap();
    let photos: [(&str, Vec<u8>, Option<&str>); 4] = [
        (
            "IMG_0001.jpg",
            with_exif(
                &jpeg(1),
                &[
                    (Tag::Orientation, Short(6)),
                    (Tag::DateTimeOriginal, Ascii("2023:05:01 14:02:33")),
                    (Tag::OffsetTimeOriginal, Ascii("+02:00")),
                    (Tag::DateTime, Ascii("2024:01:01 00:00:00")),
                ],
            ),
            Some("2023-05-01T14:02:33+02:00"),
        ),
        (
            "IMG_0002.jpg",
            with_exif(
                &jpeg(2),
                &[(Tag::DateTimeOriginal, Ascii("0000:00:00 00:00:00"))],
            ),
            None,
        ),
        (
            "IMG_0003.jpg",
            with_exif(
                &jpeg(3),
                &[(Tag::DateTimeDigitized, Ascii("2022:12:31 23:59:59"))],
            ),
            Some("2022-12-31T23:59:59"),
        ),
        ("IMG_0004.jpg", jpeg(4), None),
    ];
    for (name, bytes, _) in &photos {
        fs::write(input.join(name), bytes).unwrap();
    }
    let out = dir.path().join("out");
    let ingested = run(&IngestOptions::new(input, out.clone()));
    check_output(&out, &ingested);
    assert_eq!(ingested.report.skipped, 0);
    let dates: Vec<(&str, Option<&str>)> = ingested
        .items
        .iter()
        .map(|i| (i.item.source.as_str(), i.item.date_taken.as_deref()))
        .collect();
    let expected: Vec<(&str, Option<&str>)> = photos
        .iter()
        .map(|(name, _, date)| (*name, *date))
        .collect();
    assert_eq!(dates, expected);
    // The orientation is read from the same block: the sideways 80 x 60 is 60 x 80.
    assert_eq!(
        (ingested.items[0].item.width, ingested.items[0].item.height),
        (60, 80)
    );
}

/// A HEIC photo, told by its header even under a `.jpg` name: decoded upright and dated
/// with the `heif` feature, skipped as `heif_unsupported` without it; the run goes on.
#[test]
fn heic_photos_are_decoded_with_the_heif_feature_and_skipped_without_it() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("photos");
    fs::create_dir_all(&input).unwrap();
    let heic =
        fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/heif/sideways.heic"))
            .unwrap();
    fs::write(input.join("IMG_0001.jpg"), &heic).unwrap();
    fs::write(input.join("IMG_0002.jpg"), jpeg(2)).unwrap();
    let out = dir.path().join("out");
    let ingested = run(&IngestOptions::new(input, out.clone()));
    check_output(&out, &ingested);
    if cfg!(feature = "heif") {
        assert_eq!(ingested.report.skipped, 0);
        let item = &ingested.items[0].item;
        assert_eq!(item.source, "IMG_0001.jpg");
        assert_eq!((item.width, item.height), (96, 64));
        assert_eq!(
            item.date_taken.as_deref(),
            Some("2024-07-14T09:30:00+01:00")
        );
        let thumb = image::open(out.join(&item.thumb)).unwrap();
        assert_eq!((thumb.width(), thumb.height()), (96, 64));
    } else {
        assert_eq!(
            reasons(&ingested.report),
            BTreeMap::from([("heif_unsupported", 1)])
        );
        let skip = &ingested.report.skipped_items[0];
        assert_eq!(skip.source, "IMG_0001.jpg");
        assert!(skip.detail.contains("--features heif"), "{}", skip.detail);
        assert_eq!(kept(&ingested), [("IMG_0002.jpg", "")]);
    }
}

/// A stage a run reported: its name, its total (`None` when uncounted), the steps it
/// advanced and whether it ended.
type Stage = (String, Option<u64>, u64, bool);

/// The stages a run reports.
#[derive(Default)]
struct RecordedStages(std::sync::Mutex<Vec<Stage>>);

impl ingest::Progress for RecordedStages {
    fn begin(&self, stage: &str, total: u64) {
        let mut stages = self.0.lock().unwrap();
        stages.push((stage.to_owned(), Some(total), 0, false));
    }
    fn begin_uncounted(&self, stage: &str) {
        let mut stages = self.0.lock().unwrap();
        stages.push((stage.to_owned(), None, 0, false));
    }
    fn advance(&self, steps: u64) {
        self.0.lock().unwrap().last_mut().unwrap().2 += steps;
    }
    fn end(&self) {
        self.0.lock().unwrap().last_mut().unwrap().3 = true;
    }
}

#[test]
fn the_folder_walk_counts_its_files_once() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("photos");
    fs::create_dir_all(input.join("2023/05")).unwrap();
    for (seed, name) in ["a.png", "2023/b.png", "2023/05/c.png", "2023/05/d.png"]
        .iter()
        .enumerate()
    {
        fs::write(input.join(name), png(seed as u32)).unwrap();
    }
    fs::write(input.join("2023/b.txt"), "a sidecar caption").unwrap();
    let progress = RecordedStages::default();
    ingest::run(
        &IngestOptions::new(input, dir.path().join("out")),
        &progress,
    )
    .unwrap();
    let stages = progress.0.into_inner().unwrap();
    let expected = [
        ("walking".to_owned(), None, 5, true),
        ("thumbnails".to_owned(), Some(4), 4, true),
    ];
    assert_eq!(stages, expected);
}
