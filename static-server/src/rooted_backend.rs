//! A file backend for tower-http's `ServeDir` that only opens files whose real path
//! (all symlinks resolved) lies inside the served folder.
//!
//! `ServeDir` follows symlinks wherever they point. Symlinks inside a dataset folder are
//! useful (shared image folders), so they are allowed as long as they resolve inside
//! the root; anything else reads as "not found". Resolving and opening happen in one
//! blocking task, and the file is opened by its resolved path.

use std::future::Future;
use std::io;
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

async fn blocking<T: Send + 'static>(
    task: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    tokio::task::spawn_blocking(task)
        .await
        .map_err(io::Error::other)?
}

/// An open file of [`RootedBackend`]: a tokio file (tower-http's own wrapper has no
/// public constructor).
#[derive(Debug)]
pub(crate) struct RootedFile(tokio::fs::File);

impl AsyncRead for RootedFile {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncSeek for RootedFile {
    fn start_seek(mut self: Pin<&mut Self>, position: io::SeekFrom) -> io::Result<()> {
        Pin::new(&mut self.0).start_seek(position)
    }

    fn poll_complete(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<u64>> {
        Pin::new(&mut self.0).poll_complete(cx)
    }
}

impl File for RootedFile {
    type Metadata = std::fs::Metadata;
    type MetadataFuture<'a> =
        Pin<Box<dyn Future<Output = io::Result<std::fs::Metadata>> + Send + 'a>>;

    fn metadata(&self) -> Self::MetadataFuture<'_> {
        Box::pin(self.0.metadata())
    }
}

impl Backend for RootedBackend {
    type File = RootedFile;
    type Metadata = std::fs::Metadata;
    type OpenFuture = Pin<Box<dyn Future<Output = io::Result<RootedFile>> + Send>>;
    type MetadataFuture = Pin<Box<dyn Future<Output = io::Result<std::fs::Metadata>> + Send>>;

    fn open(&self, path: PathBuf) -> Self::OpenFuture {
        let root = self.root.clone();
        Box::pin(async move {
            let file = blocking(move || std::fs::File::open(resolve_inside(&root, &path)?)).await?;
            Ok(RootedFile(tokio::fs::File::from_std(file)))
        })
    }

    fn metadata(&self, path: PathBuf) -> Self::MetadataFuture {
        let root = self.root.clone();
        Box::pin(blocking(move || {
            std::fs::metadata(resolve_inside(&root, &path)?)
        }))
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
