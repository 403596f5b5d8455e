//! An image folder, recursive: every file except hidden ones and `.txt` sidecars is a
//! candidate, in the order of its `/`-separated relative path. Captions are optional: one
//! comes from the sidecar `<stem>.txt` beside the image (which wins, even when it describes
//! nothing), or else from the file name's descriptive words (none for `IMG_1234`).

use std::fs;
use std::path::Path;

use crate::IngestError;
use crate::caption::caption_from_file_name;
use crate::source::{Candidate, ImageData, SourceCaption, SourceItems};

/// Every file under `root` (hidden files and folders left out), as sorted `/`-separated
/// paths relative to `root`.
pub fn walk(root: &Path) -> Result<Vec<String>, IngestError> {
    let mut files = Vec::new();
    let mut folders = vec![String::new()];
    while let Some(relative) = folders.pop() {
        let dir = root.join(&relative);
        let entries = fs::read_dir(&dir).map_err(|source| IngestError::Read {
            path: dir.clone(),
            source,
        })?;
        for entry in entries {
            let entry = entry.map_err(|source| IngestError::Read {
                path: dir.clone(),
                source,
            })?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let path = if relative.is_empty() {
                name
            } else {
                format!("{relative}/{name}")
            };
            // `metadata` follows symbolic links, so a linked folder is walked like a folder.
            match entry.path().metadata() {
                Ok(meta) if meta.is_dir() => folders.push(path),
                Ok(_) => files.push(path),
                // A dangling link: a candidate whose read fails and is reported.
                Err(_) => files.push(path),
            }
        }
    }
    files.sort();
    Ok(files)
}

/// The candidates of the folder `root`, leaving out the files under `exclude` (the output
/// folder, when it lies inside the input: its thumbnails are no input).
pub fn read(root: &Path, exclude: &Path) -> Result<SourceItems, IngestError> {
    let files = walk(root)?;
    let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_owned());
    let (root_abs, exclude) = (absolute(root), absolute(exclude));
    let mut items = SourceItems::default();
    for file in &files {
        if root_abs.join(file).starts_with(&exclude) {
            continue;
        }
        let (stem, ext) = split_name(file.rsplit('/').next().unwrap_or(file));
        if ext.eq_ignore_ascii_case("txt") {
            continue;
        }
        let sidecar = root.join(file).with_file_name(format!("{stem}.txt"));
        let caption = match fs::read(&sidecar) {
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
    Ok(items)
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
        let items = read(root, &root.join("out")).unwrap();
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

    #[test]
    fn a_missing_folder_is_an_error_naming_it() {
        let error = read(Path::new("/no/such/folder"), Path::new("/out")).unwrap_err();
        assert!(error.to_string().contains("/no/such/folder"), "{error}");
    }
}
