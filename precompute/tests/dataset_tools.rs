//! `precompute ingest`, `verify` and `catalog` as processes: a bad-input folder ingested
//! to a dataset folder that verifies clean, then one fault at a time (a flipped shard
//! byte, a missing thumbnail, a wrong size) that verify must name, and a catalog of two
//! datasets.

use std::fs;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use dataset::{DATASET_FORMAT_VERSION, DatasetManifest, IngestReport, items_table};
use precompute::npy::{self, Matrix};

fn precompute(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_precompute"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn text(output: &Output) -> String {
    format!(
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn jpeg(seed: u32) -> Vec<u8> {
    let image = image::RgbImage::from_fn(72, 48, |x, y| {
        image::Rgb([
            (x * 3 + seed * 40) as u8,
            (y * 5 + seed * 70) as u8,
            seed as u8,
        ])
    });
    let mut bytes = Vec::new();
    image::DynamicImage::ImageRgb8(image)
        .write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Jpeg)
        .unwrap();
    bytes
}

/// A folder of 12 good images and 3 bad files.
fn collection(dir: &Path) -> PathBuf {
    let input = dir.join("photos");
    fs::create_dir_all(&input).unwrap();
    for seed in 0..12 {
        fs::write(input.join(format!("gradient_{seed:02}.jpg")), jpeg(seed)).unwrap();
    }
    fs::write(input.join("empty.jpg"), b"").unwrap();
    fs::write(input.join("notes.md"), b"# notes").unwrap();
    fs::write(input.join("copy.jpg"), jpeg(3)).unwrap();
    input
}

/// Ingests a collection, indexes random features for it and writes `dataset.json`.
fn build_dataset(dir: &Path, name: &str) -> PathBuf {
    let input = collection(dir);
    let out = dir.join(name);
    let ingest = precompute(&["ingest", "--input", path(&input), "--out", path(&out)]);
    assert!(ingest.status.success(), "{}", text(&ingest));
    let report: IngestReport =
        serde_json::from_slice(&fs::read(out.join("report.json")).unwrap()).unwrap();
    assert_eq!((report.ingested, report.skipped), (12, 3));

    let rows = report.ingested as usize;
    let features = Matrix::U8 {
        rows,
        cols: 32,
        data: (0..rows * 32).map(|i| (i * 37 % 256) as u8).collect(),
    };
    let features_path = dir.join("features.npy");
    fs::write(&features_path, npy::write(&features)).unwrap();
    let index = precompute(&[
        "index",
        "--features",
        path(&features_path),
        "--out",
        path(&out),
        "--leaf-size",
        "4",
    ]);
    assert!(index.status.success(), "{}", text(&index));

    // The table over ingest's chunks, as `build` names it (ingest wrote the same files).
    let mut chunks: Vec<String> = fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("items-") && n.ends_with(".json"))
        .collect();
    chunks.sort();
    let hashes: Vec<[u8; 32]> = chunks
        .iter()
        .map(|name| *blake3::hash(&fs::read(out.join(name)).unwrap()).as_bytes())
        .collect();
    let (items, files) = items_table::table_files(&hashes, 128, items_table::CHUNKS_PER_PAGE);
    for (name, bytes) in files {
        assert_eq!(fs::read(out.join(&name)).unwrap(), bytes, "{name}");
    }
    let manifest = DatasetManifest {
        format_version: DATASET_FORMAT_VERSION,
        name: name.into(),
        description: format!("{name}: gradients"),
        count: report.ingested,
        dims: 32,
        index: "manifest.json".into(),
        items,
        text: None,
        image: None,
        full_features: None,
        search: None,
    };
    fs::write(
        out.join("dataset.json"),
        serde_json::to_vec_pretty(&manifest).unwrap(),
    )
    .unwrap();
    out
}

fn verify(dir: &Path) -> Output {
    precompute(&["verify", path(dir)])
}

#[test]
fn a_built_dataset_verifies_clean() {
    let dir = tempfile::tempdir().unwrap();
    let out = build_dataset(dir.path(), "gradients");
    let result = verify(&out);
    assert!(result.status.success(), "{}", text(&result));
}

/// Flips byte `at(len)` of the first file of a fresh dataset that `pick` takes (by name);
/// verify must fail with one line, naming the file; that line.
fn verify_after_flipping(pick: fn(&str) -> bool, at: fn(usize) -> usize) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = build_dataset(dir.path(), "gradients");
    let file = fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| pick(p.file_name().unwrap().to_str().unwrap()))
        .unwrap();
    let mut bytes = fs::read(&file).unwrap();
    let flipped = at(bytes.len());
    bytes[flipped] ^= 0x40;
    fs::write(&file, bytes).unwrap();
    let result = verify(&out);
    assert!(!result.status.success());
    let stdout = String::from_utf8_lossy(&result.stdout);
    let name = file.file_name().unwrap().to_str().unwrap();
    assert_eq!(stdout.lines().count(), 1, "{}", text(&result));
    assert!(stdout.contains(name), "{}", text(&result));
    stdout.into_owned()
}

#[test]
fn verify_names_a_flipped_shard_byte() {
    verify_after_flipping(|name| name.ends_with(".shard"), |len| len / 2);
}

/// A tree's pack is checked whole against its top: a flipped byte is one fault naming the
/// pack, not one per leaf file it stores.
#[test]
fn verify_names_a_flipped_byte_in_a_pack_of_leaf_files() {
    let fault = verify_after_flipping(
        |name| name.starts_with("tree-") && name.contains("-leaves."),
        |len| len - 1,
    );
    assert!(fault.contains("blake3"), "{fault}");
}

/// The probe: a byte flipped in a shard, a thumbnail and an item chunk (sizes
/// unchanged) survived a rerun of `ingest` and `index`, which exit 0, and was then served
/// as immutable. A rerun must repair them.
#[test]
fn a_rerun_repairs_flipped_bytes_in_content_named_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = build_dataset(dir.path(), "gradients");
    let first_with = |folder: &Path, prefix: &str| {
        fs::read_dir(folder)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.file_name().unwrap().to_str().unwrap().starts_with(prefix))
            .unwrap()
    };
    for file in [
        first_with(&out, "features-"),
        first_with(&out, "tree-"),
        first_with(&out, "items-"),
        first_with(&out.join("thumbs"), ""),
    ] {
        let mut bytes = fs::read(&file).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x40;
        fs::write(&file, bytes).unwrap();
    }
    assert!(!verify(&out).status.success());
    build_dataset(dir.path(), "gradients");
    let result = verify(&out);
    assert!(result.status.success(), "{}", text(&result));
}

/// A build killed in the index or export stage leaves `.NAME.tmp-PID-N` files in the
/// dataset folder; `index` (the stage alone, as `build` runs it) removes them.
#[test]
fn index_removes_the_temporaries_of_a_killed_run() {
    let dir = tempfile::tempdir().unwrap();
    let out = build_dataset(dir.path(), "gradients");
    // No process has a pid over Linux's largest pid_max (2^22).
    let abandoned = [
        ".manifest.json.tmp-4194305-0",
        ".text-encoder.0123456789abcdef.safetensors.tmp-4194305-7",
    ];
    for name in abandoned.iter().chain(&[".keep.tmp"]) {
        fs::write(out.join(name), b"partial").unwrap();
    }
    let index = precompute(&[
        "index",
        "--features",
        path(&dir.path().join("features.npy")),
        "--out",
        path(&out),
        "--leaf-size",
        "4",
    ]);
    assert!(index.status.success(), "{}", text(&index));
    for name in abandoned {
        assert!(!out.join(name).exists(), "{name} was left");
    }
    assert!(out.join(".keep.tmp").exists());
}

#[test]
fn verify_names_a_missing_thumbnail_and_a_wrong_size() {
    let dir = tempfile::tempdir().unwrap();
    let out = build_dataset(dir.path(), "gradients");
    let thumb = fs::read_dir(out.join("thumbs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .next()
        .unwrap();
    fs::remove_file(&thumb).unwrap();
    // A byte more in the item chunk: its page's hash no longer fits.
    let wrong = fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .find(|n| n.starts_with("items-0000.") && n.ends_with(".json"))
        .unwrap();
    let chunk = fs::read(out.join(&wrong)).unwrap();
    fs::write(out.join(&wrong), [&chunk[..], b" "].concat()).unwrap();

    let result = verify(&out);
    assert!(!result.status.success());
    let stdout = String::from_utf8_lossy(&result.stdout).into_owned();
    let lines: Vec<&str> = stdout.lines().collect();
    // The chunk's fault hides its thumbnails, so mend it and look again.
    assert_eq!(lines.len(), 1, "{}", text(&result));
    assert!(
        lines[0].contains(&wrong) && lines[0].contains("blake3"),
        "{stdout}"
    );

    fs::write(out.join(&wrong), &chunk).unwrap();
    let result = verify(&out);
    assert!(!result.status.success());
    let stdout = String::from_utf8_lossy(&result.stdout).into_owned();
    let thumb_name = thumb.file_name().unwrap().to_str().unwrap();
    assert_eq!(stdout.lines().count(), 1, "{}", text(&result));
    assert!(stdout.contains(thumb_name), "{stdout}");
}

#[test]
fn catalog_lists_datasets_with_relative_paths() {
    let dir = tempfile::tempdir().unwrap();
    let a = build_dataset(&dir.path().join("one"), "first");
    let b = build_dataset(&dir.path().join("two"), "second");
    let web = dir.path().join("web");
    fs::create_dir_all(&web).unwrap();
    let catalog_path = web.join("catalog.json");
    let result = precompute(&["catalog", "--out", path(&catalog_path), path(&a), path(&b)]);
    assert!(result.status.success(), "{}", text(&result));
    let catalog = dataset::Catalog::from_json(&fs::read_to_string(&catalog_path).unwrap()).unwrap();
    let entries: Vec<(&str, u64, &str)> = catalog
        .datasets
        .iter()
        .map(|d| (d.name.as_str(), d.count, d.path.as_str()))
        .collect();
    assert_eq!(
        entries,
        [
            ("first", 12, "../one/first"),
            ("second", 12, "../two/second")
        ]
    );
    assert!(
        catalog.datasets[0].bytes > 12 * 500,
        "{:?}",
        catalog.datasets[0]
    );

    let missing = precompute(&["catalog", "--out", path(&catalog_path), path(&web)]);
    assert!(!missing.status.success());
    assert!(
        text(&missing).contains("web/dataset.json"),
        "{}",
        text(&missing)
    );
}

#[test]
fn ingest_into_an_unwritable_output_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let input = collection(dir.path());
    let out = dir.path().join("taken");
    fs::write(&out, b"a file").unwrap();
    let result = precompute(&["ingest", "--input", path(&input), "--out", path(&out)]);
    assert!(!result.status.success());
    assert!(
        text(&result).contains("cannot create the output folder"),
        "{}",
        text(&result)
    );
}

/// The probe: verify followed `../` and absolute names from `dataset.json` and
/// thumbnails linked out of the folder, which a static host does not serve, and hung on a
/// FIFO. Each is now a fault naming the file.
#[cfg(target_os = "linux")]
#[test]
fn verify_checks_only_what_a_static_host_serves() {
    use std::os::unix::fs::symlink;
    let dir = tempfile::tempdir().unwrap();
    let out = build_dataset(dir.path(), "gradients");
    let dataset_path = out.join("dataset.json");
    let mut manifest =
        DatasetManifest::from_json(&fs::read_to_string(&dataset_path).unwrap()).unwrap();
    // The same bytes outside the folder, named by `..`, and the index by an absolute path.
    let chunk = manifest.items.top.name.clone();
    fs::copy(out.join(&chunk), dir.path().join(&chunk)).unwrap();
    manifest.items.top.name = format!("../{chunk}");
    manifest.index = path(&out.join(&manifest.index)).to_owned();
    fs::write(&dataset_path, serde_json::to_vec(&manifest).unwrap()).unwrap();
    let result = verify(&out);
    assert!(!result.status.success());
    let stdout = String::from_utf8_lossy(&result.stdout).into_owned();
    assert!(
        stdout.contains(&format!("\"../{chunk}\" has a dot segment")),
        "{}",
        text(&result)
    );
    assert!(stdout.contains("is absolute"), "{}", text(&result));

    // A thumbnail linked out of the folder, another that is a FIFO.
    let dir = tempfile::tempdir().unwrap();
    let out = build_dataset(dir.path(), "gradients");
    let mut thumbs: Vec<PathBuf> = fs::read_dir(out.join("thumbs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    thumbs.sort();
    let outside = dir.path().join("outside.jpg");
    fs::rename(&thumbs[0], &outside).unwrap();
    symlink(&outside, &thumbs[0]).unwrap();
    fs::remove_file(&thumbs[1]).unwrap();
    let made = Command::new("mkfifo").arg(&thumbs[1]).status().unwrap();
    assert!(made.success());
    let result = verify(&out);
    assert!(!result.status.success());
    let stdout = String::from_utf8_lossy(&result.stdout).into_owned();
    let name = |p: &Path| p.file_name().unwrap().to_str().unwrap().to_owned();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", text(&result));
    assert!(
        lines
            .iter()
            .any(|l| l.contains(&name(&thumbs[0])) && l.contains("outside the folder")),
        "{stdout}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains(&name(&thumbs[1])) && l.contains("not a regular file")),
        "{stdout}"
    );
}

/// The probe: verify said "no faults" for folders a client cannot use: no
/// `dataset.json` (a build killed before it), an index of 0 images or of 0 trees.
#[test]
fn verify_faults_folders_a_client_cannot_use() {
    let dir = tempfile::tempdir().unwrap();
    let out = build_dataset(dir.path(), "gradients");
    fs::remove_file(out.join("dataset.json")).unwrap();
    let result = verify(&out);
    assert!(!result.status.success());
    let stdout = String::from_utf8_lossy(&result.stdout).into_owned();
    assert!(
        stdout.contains("dataset.json: cannot read"),
        "{}",
        text(&result)
    );
    let index_only = precompute(&["verify", "--index-only", path(&out)]);
    assert!(index_only.status.success(), "{}", text(&index_only));

    let index = |features: &Matrix, subsets: &str, name: &str| {
        let features_path = dir.path().join(format!("{name}.npy"));
        fs::write(&features_path, npy::write(features)).unwrap();
        let out = dir.path().join(name);
        let indexed = precompute(&[
            "index",
            "--features",
            path(&features_path),
            "--out",
            path(&out),
            "--subsets",
            subsets,
        ]);
        assert!(indexed.status.success(), "{}", text(&indexed));
        let result = precompute(&["verify", "--index-only", path(&out)]);
        assert!(!result.status.success(), "{name}: {}", text(&result));
        String::from_utf8_lossy(&result.stdout).into_owned()
    };
    let empty = Matrix::U8 {
        rows: 0,
        cols: 8,
        data: Vec::new(),
    };
    assert!(index(&empty, "4:2", "empty").contains("0 images"));
    let rows = Matrix::U8 {
        rows: 10,
        cols: 8,
        data: (0..80).map(|i| (i * 37 % 256) as u8).collect(),
    };
    assert!(index(&rows, "4:0", "no-trees").contains("no tree"));
}
