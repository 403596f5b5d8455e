//! Output that cannot be written: a clear error and no file that looks complete.

use super::*;

#[test]
fn an_output_path_that_is_a_file_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("a.jpg"), jpeg(1)).unwrap();
    let out = dir.path().join("out");
    fs::write(&out, b"a file, not a folder").unwrap();
    let error = ingest::run(
        &IngestOptions::new(dir.path().to_owned(), out.clone()),
        &NoProgress,
    )
    .unwrap_err();
    assert!(
        matches!(error, ingest::IngestError::OutputDir { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("out"), "{error}");
}

#[test]
fn a_failed_write_leaves_no_partial_file() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    fs::create_dir_all(&input).unwrap();
    fs::write(input.join("a.jpg"), jpeg(1)).unwrap();
    let out = dir.path().join("out");
    // report.json cannot be replaced: a non-empty folder holds its name.
    fs::create_dir_all(out.join("report.json/x")).unwrap();
    let error = ingest::run(&IngestOptions::new(input, out.clone()), &NoProgress).unwrap_err();
    assert!(error.to_string().contains("report.json"), "{error}");
    let strays: Vec<String> = fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert_eq!(strays, Vec::<String>::new());
    assert!(out.join("report.json").is_dir());
}
