//! An image folder, recursive: every file except hidden ones and `.txt` sidecars is a
//! candidate, in the order of its `/`-separated relative path. Captions are optional: one
//! comes from the sidecar `<stem>.txt` beside the image (which wins, even when it describes
//! nothing), or else from the file name's descriptive words (none for `IMG_1234`).

use std::collections::{BTreeSet, HashSet};
use std::fs;
use std::path::Path;

use crate::IngestError;
use crate::caption::caption_from_file_name;
use crate::local_file::read_regular_file;
use crate::progress::Progress;
use crate::source::{Candidate, ImageData, SourceCaption, SourceItems};

/// Every file under `root` (hidden files and folders left out), as sorted `/`-separated
/// paths relative to `root`.
///
/// Symbolic links are followed, but each real folder is walked once: the folders of the
/// tree itself first, then those only links reach, each under the first link (in name
/// order) that reaches it. A link back to an ancestor (`self -> .`, `up -> ..`) or to a
/// folder already walked adds nothing, so link loops end.
///
/// Each file found is a step of the uncounted `walking` stage of `progress`.
pub fn walk(root: &Path, progress: &dyn Progress) -> Result<Vec<String>, IngestError> {
    progress.begin_uncounted("walking");
    let mut files = Vec::new();
    let mut walked = HashSet::new();
    let mut folders = vec![String::new()];
    let mut linked_folders = BTreeSet::new();
    while let Some(relative) = folders.pop().or_else(|| linked_folders.pop_first()) {
        let dir = root.join(&relative);
        let read = |source| IngestError::Read {
            path: dir.clone(),
            source,
        };
        if !walked.insert(dir.canonicalize().map_err(read)?) {
            continue;
        }
        for entry in fs::read_dir(&dir).map_err(read)? {
            let entry = entry.map_err(read)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let path = if relative.is_empty() {
                name
            } else {
                format!("{relative}/{name}")
            };
            let is_link = entry.file_type().is_ok_and(|t| t.is_symlink());
            // `metadata` follows links; a dangling or looping link is a candidate whose
            // read fails and is reported.
            match entry.path().metadata() {
                Ok(meta) if meta.is_dir() && is_link => {
                    linked_folders.insert(path);
                }
                Ok(meta) if meta.is_dir() => folders.push(path),
                _ => {
                    files.push(path);
                    progress.advance(1);
                }
            }
        }
    }
    progress.end();
    files.sort();
    Ok(files)
}

/// Largest sidecar caption read; a larger one, or one that is no regular file, counts as
/// missing (captions are cut to 1000 characters anyway).
const MAX_SIDECAR_BYTES: u64 = 64 << 10;

/// The candidates among `files`, the [`walk`] of the folder `root`, leaving out the files
/// under `exclude` (the output folder, when it lies inside the input: its thumbnails are
/// no input).
pub fn candidates(root: &Path, files: &[String], exclude: &Path) -> SourceItems {
    let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_owned());
    let (root_abs, exclude) = (absolute(root), absolute(exclude));
    let mut items = SourceItems::default();
    for file in files {
        if root_abs.join(file).starts_with(&exclude) {
            continue;
        }
        let (stem, ext) = split_name(file.rsplit('/').next().unwrap_or(file));
        if ext.eq_ignore_ascii_case("txt") {
            continue;
        }
        let sidecar = root.join(file).with_file_name(format!("{stem}.txt"));
        let caption = match read_regular_file(&sidecar, MAX_SIDECAR_BYTES) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(_) => caption_from_file_name(stem),
        };
        items.candidates.push(Candidate {
            source: file.clone(),
            label: file.clone(),
            caption: SourceCaption::Optional(caption),
            image: ImageData::File(root.join(file)),
        });
    }
    items
}

/// `("a.b", "jpg")` for `a.b.jpg`; `("name", "")` without an extension.
fn split_name(name: &str) -> (&str, &str) {
    match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => (stem, ext),
        _ => (name, ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_sorted_with_sidecars_and_names() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("b/c")).unwrap();
        fs::create_dir_all(root.join(".hidden")).unwrap();
        for file in [
            "b/c/z.png",
            "a_red-car.jpg",
            "b/x.jpg",
            ".hidden/y.jpg",
            "b/x.txt",
        ] {
            fs::write(root.join(file), b"x").unwrap();
        }
        fs::write(root.join("b/x.txt"), "a sidecar caption").unwrap();
        fs::create_dir_all(root.join("out/thumbs")).unwrap();
        fs::write(root.join("out/thumbs/t.jpg"), b"x").unwrap();
        let files = walk(root, &crate::NoProgress).unwrap();
        let items = candidates(root, &files, &root.join("out"));
        let got: Vec<(&str, &str)> = items
            .candidates
            .iter()
            .map(|c| (c.source.as_str(), c.caption.text()))
            .collect();
        assert_eq!(
            got,
            [
                ("a_red-car.jpg", "a red car"),
                ("b/c/z.png", "z"),
                ("b/x.jpg", "a sidecar caption")
            ]
        );
    }

    /// The probe: `self -> .` and `sub/up -> ..` made the walk grow without end.
    /// A link to a folder of the tree adds nothing; a folder only a link reaches is
    /// walked once, under the first such link.
    #[cfg(unix)]
    #[test]
    fn link_loops_end_and_each_real_folder_is_walked_once() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("in");
        fs::create_dir_all(root.join("sub")).unwrap();
        fs::create_dir_all(dir.path().join("shared/deeper")).unwrap();
        fs::write(root.join("img.png"), b"x").unwrap();
        fs::write(root.join("sub/b.png"), b"x").unwrap();
        fs::write(dir.path().join("shared/deeper/c.png"), b"x").unwrap();
        symlink(".", root.join("self")).unwrap();
        symlink("..", root.join("sub/up")).unwrap();
        symlink("sub", root.join("a-link-to-sub")).unwrap();
        symlink(dir.path().join("shared"), root.join("shared-1")).unwrap();
        symlink(dir.path().join("shared"), root.join("shared-2")).unwrap();
        symlink("../shared-2", root.join("sub/back-to-shared")).unwrap();
        symlink("loop", root.join("loop")).unwrap();

        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || sender.send(walk(&root, &crate::NoProgress).unwrap()));
        let files = receiver
            .recv_timeout(std::time::Duration::from_secs(20))
            .expect("the walk ends");
        assert_eq!(
            files,
            ["img.png", "loop", "shared-1/deeper/c.png", "sub/b.png"]
        );
    }

    #[test]
    fn a_missing_folder_is_an_error_naming_it() {
        let error = walk(Path::new("/no/such/folder"), &crate::NoProgress).unwrap_err();
        assert!(error.to_string().contains("/no/such/folder"), "{error}");
    }
}
