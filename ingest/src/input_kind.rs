//! [`InputKind`]: the kinds of input ingest reads, and how an input's kind is told from
//! the input itself (a folder's files, a file's extension). It looks into the sources
//! ([`crate::folder`], [`crate::cifar`]); they do not look back.

use std::path::Path;

use crate::{IngestError, NoProgress};

/// The kinds of input ingest reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputKind {
    /// A folder of images, recursive.
    Folder,
    /// A `.csv` or `.tsv` file naming files or URLs and captions.
    Csv,
    /// CIFAR-10 batches: a folder, a `.tar.gz` or a batch file.
    Cifar10,
    /// A `.txt` list of URLs, one per line, optionally with a tab and a caption.
    Urls,
}

impl InputKind {
    /// The kind of a folder holding `files` (its [`crate::folder::walk`]): CIFAR-10 when a
    /// batch file is among them, else an image folder.
    pub fn of_folder(files: &[String]) -> Self {
        let has_batches = files
            .iter()
            .any(|f| crate::cifar::batch_format(f.rsplit('/').next().unwrap_or(f)).is_some());
        if has_batches {
            Self::Cifar10
        } else {
            Self::Folder
        }
    }

    /// Tells the kind of `input` from what it is: a folder holding CIFAR batches, another
    /// folder, or a file by its extension.
    pub fn detect(input: &Path) -> Result<Self, IngestError> {
        let name = input
            .file_name()
            .map(|n| n.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        if input.is_dir() {
            return Ok(Self::of_folder(&crate::folder::walk(input, &NoProgress)?));
        }
        if !input.exists() {
            return Err(IngestError::Read {
                path: input.to_owned(),
                source: std::io::ErrorKind::NotFound.into(),
            });
        }
        if name.ends_with(".csv") || name.ends_with(".tsv") {
            Ok(Self::Csv)
        } else if name.ends_with(".txt") {
            Ok(Self::Urls)
        } else if name.ends_with(".tar.gz")
            || name.ends_with(".tgz")
            || crate::cifar::batch_format(&name).is_some()
        {
            Ok(Self::Cifar10)
        } else {
            Err(IngestError::UnknownInputKind {
                path: input.to_owned(),
            })
        }
    }
}

impl std::str::FromStr for InputKind {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "folder" => Ok(Self::Folder),
            "csv" => Ok(Self::Csv),
            "cifar10" => Ok(Self::Cifar10),
            "urls" => Ok(Self::Urls),
            _ => Err(format!(
                "'{text}' is not an input kind (folder, csv, cifar10, urls)"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn kinds_are_told_from_the_input() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("photos")).unwrap();
        fs::create_dir_all(root.join("cifar/cifar-10-batches-py")).unwrap();
        fs::write(root.join("cifar/cifar-10-batches-py/test_batch"), b"").unwrap();
        for file in [
            "a.csv",
            "b.TSV",
            "c.txt",
            "d.tar.gz",
            "data_batch_2.bin",
            "e.zip",
        ] {
            fs::write(root.join(file), b"").unwrap();
        }
        let kind = |name: &str| InputKind::detect(&root.join(name));
        assert_eq!(kind("photos").unwrap(), InputKind::Folder);
        assert_eq!(kind("cifar").unwrap(), InputKind::Cifar10);
        assert_eq!(kind("a.csv").unwrap(), InputKind::Csv);
        assert_eq!(kind("b.TSV").unwrap(), InputKind::Csv);
        assert_eq!(kind("c.txt").unwrap(), InputKind::Urls);
        assert_eq!(kind("d.tar.gz").unwrap(), InputKind::Cifar10);
        assert_eq!(kind("data_batch_2.bin").unwrap(), InputKind::Cifar10);
        assert!(matches!(
            kind("e.zip"),
            Err(IngestError::UnknownInputKind { .. })
        ));
        assert!(matches!(kind("gone"), Err(IngestError::Read { .. })));
        assert_eq!("urls".parse(), Ok(InputKind::Urls));
        assert!(
            "zip"
                .parse::<InputKind>()
                .unwrap_err()
                .contains("folder, csv")
        );
    }
}
