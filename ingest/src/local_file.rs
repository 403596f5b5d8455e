//! Local input files, opened only when they are regular files and read whole only when
//! their size allows: a FIFO would block the open, a device such as `/dev/zero` would be
//! read until memory runs out, and a 3 GiB file named `.png` would be read whole before
//! its header said it was no image.

use std::fs;
use std::io::{self, Read};
use std::path::Path;

/// Largest local image file read: the largest download accepted
/// ([`crate::DownloadOptions`]'s default), so a folder and a URL list take the same images.
pub const MAX_IMAGE_FILE_BYTES: u64 = 64 << 20;

/// Why a local file was not read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LocalFileError {
    /// The file cannot be opened or read.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// The name is a folder, FIFO, device or socket.
    #[error("not a regular file but a {kind}")]
    NotRegular {
        /// What it is.
        kind: &'static str,
    },
    /// The file is larger than the cap.
    #[error("{bytes} bytes, over the limit of {max_bytes}")]
    TooLarge {
        /// Its size (at least; a growing file may hold more).
        bytes: u64,
        /// The cap.
        max_bytes: u64,
    },
}

/// Opens `path` (links followed) for reading if it is a regular file.
pub fn open_regular_file(path: &Path) -> Result<fs::File, LocalFileError> {
    // Checked before opening, which would block on a FIFO; and again on what was opened,
    // in case the name was replaced in between.
    regular(&fs::metadata(path)?)?;
    let file = fs::File::open(path)?;
    regular(&file.metadata()?)?;
    Ok(file)
}

/// The bytes of the regular file `path`, refused without reading when it holds more than
/// `max_bytes`.
pub fn read_regular_file(path: &Path, max_bytes: u64) -> Result<Vec<u8>, LocalFileError> {
    let file = open_regular_file(path)?;
    let bytes = file.metadata()?.len();
    if bytes > max_bytes {
        return Err(LocalFileError::TooLarge { bytes, max_bytes });
    }
    // The size only guides the allocation: a file growing meanwhile is read up to one byte
    // past the cap, and refused.
    let mut read = Vec::with_capacity(usize::try_from(bytes).unwrap_or(0));
    file.take(max_bytes.saturating_add(1))
        .read_to_end(&mut read)?;
    if read.len() as u64 > max_bytes {
        return Err(LocalFileError::TooLarge {
            bytes: read.len() as u64,
            max_bytes,
        });
    }
    Ok(read)
}

fn regular(metadata: &fs::Metadata) -> Result<(), LocalFileError> {
    let file_type = metadata.file_type();
    if file_type.is_file() {
        return Ok(());
    }
    let kind = if file_type.is_dir() {
        "folder"
    } else {
        special_kind(file_type)
    };
    Err(LocalFileError::NotRegular { kind })
}

#[cfg(unix)]
fn special_kind(file_type: fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if file_type.is_fifo() {
        "FIFO"
    } else if file_type.is_char_device() {
        "character device"
    } else if file_type.is_block_device() {
        "block device"
    } else if file_type.is_socket() {
        "socket"
    } else {
        "special file"
    }
}

#[cfg(not(unix))]
fn special_kind(_: fs::FileType) -> &'static str {
    "special file"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regular_files_are_read_up_to_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.png");
        fs::write(&path, b"12345").unwrap();
        assert_eq!(read_regular_file(&path, 5).unwrap(), b"12345");
        let refused = read_regular_file(&path, 4).unwrap_err();
        assert!(
            matches!(
                refused,
                LocalFileError::TooLarge {
                    bytes: 5,
                    max_bytes: 4
                }
            ),
            "{refused}"
        );
        let missing = read_regular_file(&dir.path().join("b.png"), 5).unwrap_err();
        assert!(
            matches!(&missing, LocalFileError::Io(e) if e.kind() == io::ErrorKind::NotFound),
            "{missing}"
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn devices_fifos_and_folders_are_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe.csv");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        for (path, kind) in [
            (Path::new("/dev/zero"), "character device"),
            (fifo.as_path(), "FIFO"),
            (dir.path(), "folder"),
        ] {
            let refused = read_regular_file(path, u64::MAX).unwrap_err();
            assert_eq!(
                refused.to_string(),
                format!("not a regular file but a {kind}")
            );
        }
    }
}
