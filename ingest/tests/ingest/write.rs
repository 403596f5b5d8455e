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

/// A killed run leaves `.NAME.tmp-PID-N` files; the next run into that folder removes
/// them, and nothing else that merely looks alike.
#[test]
fn a_rerun_removes_the_temporaries_of_a_killed_run_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    fs::create_dir_all(&input).unwrap();
    fs::write(input.join("a.jpg"), jpeg(1)).unwrap();
    let out = dir.path().join("out");
    fs::create_dir_all(out.join(".work")).unwrap();
    // No process has a pid over Linux's largest pid_max (2^22).
    let abandoned = [
        ".items-0000.0123456789abcdef.json.tmp-4194305-0",
        ".work/.ingested.json.tmp-4194305-12",
    ];
    let running = format!(".report.json.tmp-{}-0", std::process::id());
    let others = [
        "notes.tmp-4194305-0",
        ".notes.tmp",
        ".notes.tmp-4194305",
        ".notes.tmp-x-1",
    ];
    for name in abandoned.iter().chain(&others).chain([&running.as_str()]) {
        fs::write(out.join(name), b"partial").unwrap();
    }
    run(&IngestOptions::new(input, out.clone()));
    for name in abandoned {
        assert!(!out.join(name).exists(), "{name} was left");
    }
    for name in others.iter().chain([&running.as_str()]) {
        assert!(out.join(name).exists(), "{name} was removed");
    }
}
