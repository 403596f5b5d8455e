//! CSV and TSV tables: bad rows, missing files, missing columns.

use super::*;
use ingest::{CsvColumns, IngestError, InputKind};

#[test]
fn bad_rows_and_missing_files_are_skipped_with_line_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    fs::create_dir_all(input.join("img")).unwrap();
    fs::write(input.join("img/a.jpg"), jpeg(1)).unwrap();
    fs::write(input.join("img/b.png"), png(2)).unwrap();
    fs::write(
        input.join("list.csv"),
        "filename,caption\n\
         img/a.jpg,\"a red, wide gradient\"\n\
         img/gone.jpg,a missing file\n\
         img/b.png,\"bad\" \"quoting\",extra\n\
         img/b.png,   \n\
         img/b.png,a green square\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let ingested = run(&IngestOptions::new(input.join("list.csv"), out.clone()));
    check_output(&out, &ingested);
    assert_eq!(
        kept(&ingested),
        [
            ("img/a.jpg", "a red, wide gradient"),
            ("img/b.png", "a green square")
        ]
    );
    assert_eq!(
        skips(&ingested.report),
        [
            ("list.csv:4", "bad_csv_row"),
            ("list.csv:3 img/gone.jpg", "missing_file"),
            ("list.csv:5 img/b.png", "empty_caption"),
        ]
    );
}

#[test]
fn tsv_with_named_columns() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("x.jpg"), jpeg(1)).unwrap();
    fs::write(dir.path().join("t.tsv"), "text\tpath\na, b and c\tx.jpg\n").unwrap();
    let mut options = IngestOptions::new(dir.path().join("t.tsv"), dir.path().join("out"));
    options.columns = CsvColumns {
        file: "path".into(),
        url: None,
        caption: "text".into(),
    };
    let ingested = run(&options);
    assert_eq!(ingested.items.len(), 1);
    assert_eq!(ingested.items[0].item.caption, "a, b and c");
}

#[test]
fn a_missing_column_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("t.csv"), "file,caption\nx.jpg,a cat\n").unwrap();
    let mut options = IngestOptions::new(dir.path().join("t.csv"), dir.path().join("out"));
    options.kind = Some(InputKind::Csv);
    let error = ingest::run(&options, &NoProgress).unwrap_err();
    assert!(
        matches!(&error, IngestError::MissingColumn { column, .. } if column == "filename"),
        "{error}"
    );
    assert!(error.to_string().contains("t.csv"), "{error}");
    assert!(!dir.path().join("out/report.json").exists());
}

/// A table pairs each image with its caption: a row whose caption describes nothing is a
/// bad pair and is dropped, unlike a folder's file names (`--allow-empty-captions` keeps it).
#[test]
fn a_table_still_drops_junk_captions() {
    let dir = tempfile::tempdir().unwrap();
    for (name, seed) in [
        ("IMG_0001.jpg", 1),
        ("b.jpg", 2),
        ("c.jpg", 3),
        ("d.jpg", 4),
    ] {
        fs::write(dir.path().join(name), jpeg(seed)).unwrap();
    }
    fs::write(
        dir.path().join("list.csv"),
        "filename,caption\n\
         IMG_0001.jpg,IMG_0001\n\
         b.jpg,untitled\n\
         c.jpg,a red gradient\n\
         d.jpg,DSC01234\n",
    )
    .unwrap();
    let mut options = IngestOptions::new(dir.path().join("list.csv"), dir.path().join("out"));
    let ingested = run(&options);
    assert_eq!(kept(&ingested), [("c.jpg", "a red gradient")]);
    assert_eq!(
        reasons(&ingested.report),
        BTreeMap::from([("junk_caption", 3)])
    );
    assert_eq!(ingested.report.uncaptioned, 0);

    options.filters.allow_empty_captions = true;
    let ingested = run(&options);
    assert_eq!(
        kept(&ingested),
        [
            ("IMG_0001.jpg", ""),
            ("b.jpg", ""),
            ("c.jpg", "a red gradient"),
            ("d.jpg", "")
        ]
    );
    assert_eq!(ingested.report.skipped, 0);
    assert_eq!(ingested.report.uncaptioned, 3);
}

fn mkfifo(path: &Path) {
    let made = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(made.success());
}

/// The probe: `/dev/zero` in a table was read until memory ran out, a FIFO
/// blocked the run, a 3 GiB `.png` was read whole. Each is skipped without being read.
#[cfg(target_os = "linux")]
#[test]
fn devices_fifos_and_huge_files_in_a_table_are_skipped_unread() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("a.jpg"), jpeg(1)).unwrap();
    mkfifo(&dir.path().join("pipe.png"));
    // Sparse: 65 MiB on paper, nothing on disk.
    let huge = fs::File::create(dir.path().join("huge.png")).unwrap();
    huge.set_len(65 << 20).unwrap();
    fs::write(
        dir.path().join("list.csv"),
        "filename,caption\n\
         /dev/zero,endless zeros\n\
         pipe.png,a pipe\n\
         huge.png,a huge file\n\
         a.jpg,a red gradient\n",
    )
    .unwrap();
    let ingested = run(&IngestOptions::new(
        dir.path().join("list.csv"),
        dir.path().join("out"),
    ));
    assert_eq!(kept(&ingested), [("a.jpg", "a red gradient")]);
    assert_eq!(
        skips(&ingested.report),
        [
            ("list.csv:2 /dev/zero", "not_a_file"),
            ("list.csv:3 pipe.png", "not_a_file"),
            ("list.csv:4 huge.png", "too_large"),
        ]
    );
}

/// A table that is a FIFO or a device is refused as a whole, naming it, without reading.
#[cfg(target_os = "linux")]
#[test]
fn a_table_that_is_no_regular_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("list.csv");
    mkfifo(&fifo);
    let mut options = IngestOptions::new(fifo, dir.path().join("out"));
    let error = ingest::run(&options, &NoProgress).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("list.csv: not a regular file but a FIFO"),
        "{error}"
    );
    options.input = "/dev/zero".into();
    options.kind = Some(InputKind::Csv);
    let error = ingest::run(&options, &NoProgress).unwrap_err();
    assert!(
        error.to_string().contains("/dev/zero: not a regular file"),
        "{error}"
    );
}
