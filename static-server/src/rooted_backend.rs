//! A file backend for tower-http's `ServeDir` that only opens files whose real path
//! (all symlinks resolved) lies inside the served folder.
//!
//! `ServeDir` follows symlinks wherever they point. Symlinks inside a dataset folder are
//! useful (shared image folders), so they are allowed as long as they resolve inside
//! the root; anything else reads as "not found". The file is opened by its resolved
//! path.

use std::io::{self, Read, Seek};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncSeek, ReadBuf};
use tower_http::services::fs::{Backend, File};

/// The `ServeDir` backend confined to one canonical root.
#[derive(Clone, Debug)]
pub(crate) struct RootedBackend {
    root: Arc<Path>,
}

impl RootedBackend {
    /// `root` must be canonical (as [`crate::Config`] makes it).
    pub(crate) fn new(root: &Path) -> Self {
        Self { root: root.into() }
    }
}

/// Resolves `path` and refuses it, as not found, when it leaves `root`.
fn resolve_inside(root: &Path, path: &Path) -> io::Result<PathBuf> {
    let real = path.canonicalize()?;
    if real.starts_with(root) {
        Ok(real)
    } else {
        Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("{} resolves outside the served folder", path.display()),
        ))
    }
}

/// An open file of [`RootedBackend`], with the metadata read when it was opened.
///
/// Reads run on the calling runtime thread, as nginx reads without `aio threads`:
/// a read from the page cache takes microseconds, far less than a hop to tokio's
/// blocking pool (which `tokio::fs` makes for every read). On a slow disk or network
/// file system a read stalls the other connections of that thread for its duration.
#[derive(Debug)]
pub(crate) struct RootedFile {
    file: std::fs::File,
    metadata: std::fs::Metadata,
    position: u64,
}

impl AsyncRead for RootedFile {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        // Zero only as much of the buffer as the file can still fill.
        let left_in_file = self.metadata.len().saturating_sub(self.position);
        let wanted = usize::try_from(left_in_file)
            .unwrap_or(usize::MAX)
            .min(buf.remaining());
        let read = (&self.file).read(buf.initialize_unfilled_to(wanted))?;
        buf.advance(read);
        self.position += read as u64;
        Poll::Ready(Ok(()))
    }
}

impl AsyncSeek for RootedFile {
    fn start_seek(mut self: Pin<&mut Self>, position: io::SeekFrom) -> io::Result<()> {
        self.position = (&self.file).seek(position)?;
        Ok(())
    }

    fn poll_complete(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<u64>> {
        Poll::Ready(Ok(self.position))
    }
}

impl File for RootedFile {
    type Metadata = std::fs::Metadata;
    type MetadataFuture<'a> = std::future::Ready<io::Result<std::fs::Metadata>>;

    fn metadata(&self) -> Self::MetadataFuture<'_> {
        std::future::ready(Ok(self.metadata.clone()))
    }
}

impl Backend for RootedBackend {
    type File = RootedFile;
    type Metadata = std::fs::Metadata;
    type OpenFuture = std::future::Ready<io::Result<RootedFile>>;
    type MetadataFuture = std::future::Ready<io::Result<std::fs::Metadata>>;

    fn open(&self, path: PathBuf) -> Self::OpenFuture {
        std::future::ready(resolve_inside(&self.root, &path).and_then(|real| {
            let file = std::fs::File::open(real)?;
            let metadata = file.metadata()?;
            Ok(RootedFile {
                file,
                metadata,
                position: 0,
            })
        }))
    }

    fn metadata(&self, path: PathBuf) -> Self::MetadataFuture {
        std::future::ready(resolve_inside(&self.root, &path).and_then(std::fs::metadata))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn symlinks_inside_pass_and_outside_are_not_found() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir(&root).unwrap();
        std::fs::write(root.join("inside.txt"), b"in").unwrap();
        std::fs::write(dir.path().join("secret.txt"), b"out").unwrap();
        std::os::unix::fs::symlink(root.join("inside.txt"), root.join("link-in")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret.txt"), root.join("link-out")).unwrap();
        let root = root.canonicalize().unwrap();

        assert!(resolve_inside(&root, &root.join("inside.txt")).is_ok());
        assert!(resolve_inside(&root, &root.join("link-in")).is_ok());
        let refused = resolve_inside(&root, &root.join("link-out")).unwrap_err();
        assert_eq!(refused.kind(), io::ErrorKind::NotFound);
        assert!(refused.to_string().contains("link-out"));
    }
}
