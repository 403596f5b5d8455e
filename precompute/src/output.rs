//! Writing output files so that a crash, a full disk or a kill never leaves a partial
//! file under its final name: write a temporary file beside it, sync, then rename.

use std::path::Path;

use anyhow::Result;

/// Writes `bytes` to `path` atomically (temporary file in the same folder, then rename):
/// ingest's writer, which every stage shares.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    Ok(ingest::output::write_atomic(path, bytes)?)
}

/// [`write_atomic`] of what `fill` writes, a piece at a time.
pub fn write_atomic_with(
    path: &Path,
    fill: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
) -> Result<()> {
    Ok(ingest::output::write_atomic_with(path, fill)?)
}

/// Writes `bytes` under a content-derived `path` unless a file of that size is there.
pub fn write_content_named(path: &Path, bytes: &[u8]) -> Result<()> {
    Ok(ingest::output::write_content_named(path, bytes)?)
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    #[test]
    fn replaces_the_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("manifest.json");
        write_atomic(&path, b"first").unwrap();
        write_atomic(&path, b"second").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"second");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn an_unwritable_folder_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing-folder").join("manifest.json");
        let error = write_atomic(&path, b"x").unwrap_err();
        assert!(
            format!("{error:#}").contains("missing-folder/manifest.json"),
            "{error:#}"
        );
    }
}
