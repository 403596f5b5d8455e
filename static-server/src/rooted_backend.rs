//! A file backend for tower-http's `ServeDir` that only opens files whose real path
//! (all symlinks resolved) lies inside the served folder, and only regular files.
//!
//! `ServeDir` follows symlinks wherever they point. Symlinks inside a dataset folder are
//! useful (shared image folders), so they are allowed as long as they resolve inside
//! the root; anything else reads as "not found".
//!
//! On Linux one `openat2(RESOLVE_BENEATH)` call, relative to the root folder held open,
//! resolves and checks a path at once, and the file it opens answers both questions
//! `ServeDir` asks of a request (is it a folder? then open it); it answers most
//! requests. It refuses absolute symlinks and any step above the root without telling
//! which, so those paths (and kernels without `openat2`) take the slow path: resolve
//! the whole path (`canonicalize`, a `readlink` per component), check it, open it.

use std::io::{self, Read, Seek};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncSeek, ReadBuf};
use tower_http::services::fs::{Backend, File};

/// The `ServeDir` backend confined to one canonical root.
///
/// `ServeDir` clones its backend for each request, asks it whether the path is a folder
/// (`metadata`), then opens the path. On the fast path the `metadata` call opens the
/// file for reading and keeps it in [`Self::opened`], which is per clone (so per
/// request), for the `open` call that follows: one path resolution per request.
#[derive(Debug)]
pub(crate) struct RootedBackend {
    root: Arc<Path>,
    /// The root folder, open, for `openat2`; `None` where it could not be opened.
    #[cfg(target_os = "linux")]
    root_dir: Option<Arc<std::os::fd::OwnedFd>>,
    /// The regular file that answered this request's `metadata` call, by path.
    opened: Mutex<Option<(PathBuf, RootedFile)>>,
}

impl Clone for RootedBackend {
    fn clone(&self) -> Self {
        Self {
            root: Arc::clone(&self.root),
            #[cfg(target_os = "linux")]
            root_dir: self.root_dir.clone(),
            opened: Mutex::new(None),
        }
    }
}

/// What a file is opened for.
#[cfg(target_os = "linux")]
#[derive(Clone, Copy)]
enum Access {
    /// Its metadata only (`O_PATH`: no read permission needed, nothing started).
    Metadata,
    /// Its bytes.
    Read,
}

impl RootedBackend {
    /// `root` must be canonical (as [`crate::Config`] makes it). The folder is held open
    /// from now on, so the one served is the one that existed at start, just as the
    /// canonical path of the configuration pins it.
    pub(crate) fn new(root: &Path) -> Self {
        Self {
            root: root.into(),
            #[cfg(target_os = "linux")]
            root_dir: beneath::open_root(root).ok().map(Arc::new),
            opened: Mutex::new(None),
        }
    }

    /// Opens `path`, which `ServeDir` builds below the root, with `openat2`; `None`
    /// where that cannot decide and the slow path must.
    #[cfg(target_os = "linux")]
    fn open_beneath(&self, path: &Path, access: Access) -> Option<io::Result<std::fs::File>> {
        let root_dir = self.root_dir.as_ref()?;
        let relative = path.strip_prefix(&self.root).ok()?;
        beneath::open(root_dir, relative, access)
    }

    /// Opens `path` for reading if it is a regular file inside the root.
    fn open_regular(&self, path: &Path) -> io::Result<RootedFile> {
        #[cfg(target_os = "linux")]
        let fast = self.open_beneath(path, Access::Read);
        #[cfg(not(target_os = "linux"))]
        let fast = None;
        let file = match fast {
            Some(opened) => opened?,
            None => {
                let real = resolve_inside(&self.root, path)?;
                // Checked before opening: opening a FIFO for reading blocks.
                if !std::fs::metadata(&real)?.is_file() {
                    return Err(not_a_regular_file(path));
                }
                std::fs::File::open(real)?
            }
        };
        let metadata = file.metadata()?;
        if !metadata.is_file() {
            return Err(not_a_regular_file(path));
        }
        Ok(RootedFile {
            file,
            metadata,
            position: 0,
        })
    }

    /// The metadata of `path` if it resolves inside the root.
    fn metadata_inside(&self, path: &Path) -> io::Result<std::fs::Metadata> {
        #[cfg(target_os = "linux")]
        if let Some(opened) = self.open_beneath(path, Access::Read) {
            let file = match opened {
                Ok(file) => file,
                // A folder or file without read permission still has metadata.
                Err(error) if error.kind() == io::ErrorKind::PermissionDenied => {
                    return self
                        .open_beneath(path, Access::Metadata)
                        .unwrap_or(Err(error))?
                        .metadata();
                }
                Err(error) => return Err(error),
            };
            let metadata = file.metadata()?;
            if metadata.is_file()
                && let Ok(mut opened) = self.opened.lock()
            {
                let file = RootedFile {
                    file,
                    metadata: metadata.clone(),
                    position: 0,
                };
                *opened = Some((path.to_owned(), file));
            }
            return Ok(metadata);
        }
        std::fs::metadata(resolve_inside(&self.root, path)?)
    }

    /// The file the `metadata` call of this request opened for `path`, if any.
    fn take_opened(&self, path: &Path) -> Option<RootedFile> {
        let mut opened = self.opened.lock().ok()?;
        match opened.take() {
            Some((opened_path, file)) if opened_path == path => Some(file),
            _ => None,
        }
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

fn not_a_regular_file(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{} is not a regular file", path.display()),
    )
}

/// The `openat2` fast path.
#[cfg(target_os = "linux")]
mod beneath {
    use std::io;
    use std::os::fd::OwnedFd;
    use std::path::Path;

    use rustix::fs::{Mode, OFlags, ResolveFlags};
    use rustix::io::Errno;

    use super::Access;

    pub(super) fn open_root(root: &Path) -> io::Result<OwnedFd> {
        Ok(rustix::fs::open(
            root,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?)
    }

    /// Opens `relative` below `root_dir` without leaving it; `None` where `openat2`
    /// cannot decide: an absolute symlink or a step above the root (`EXDEV`, which may
    /// still end inside), or no `openat2` at all (old kernels, seccomp filters).
    pub(super) fn open(
        root_dir: &OwnedFd,
        relative: &Path,
        access: Access,
    ) -> Option<io::Result<std::fs::File>> {
        let relative = if relative.as_os_str().is_empty() {
            Path::new(".")
        } else {
            relative
        };
        let flags = OFlags::CLOEXEC
            | match access {
                Access::Metadata => OFlags::PATH,
                // Non-blocking, so that opening a FIFO does not stall the runtime thread;
                // it is refused as not a regular file right after.
                Access::Read => OFlags::RDONLY | OFlags::NONBLOCK,
            };
        match rustix::fs::openat2(
            root_dir,
            relative,
            flags,
            Mode::empty(),
            ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS,
        ) {
            Ok(fd) => Some(Ok(fd.into())),
            Err(Errno::XDEV | Errno::NOSYS | Errno::PERM) => None,
            Err(errno) => Some(Err(errno.into())),
        }
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
        std::future::ready(
            match self.take_opened(&path) {
                Some(file) => Ok(file),
                None => self.open_regular(&path),
            }
            .map_err(as_not_found_when_no_file_has_the_name),
        )
    }

    fn metadata(&self, path: PathBuf) -> Self::MetadataFuture {
        std::future::ready(
            self.metadata_inside(&path)
                .map_err(as_not_found_when_no_file_has_the_name),
        )
    }
}

/// `ServeDir` answers 404 only for `NotFound` and 500 for every other error. A symlink
/// loop, a file used as a folder (`a.json/x`) or a name too long also mean that no file
/// has that name: a client's mistake, not the server's.
fn as_not_found_when_no_file_has_the_name(error: io::Error) -> io::Error {
    #[cfg(target_os = "linux")]
    let symlink_loop = error.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error());
    #[cfg(not(target_os = "linux"))]
    let symlink_loop = false;
    let no_file = symlink_loop
        || matches!(
            error.kind(),
            io::ErrorKind::NotADirectory | io::ErrorKind::InvalidFilename
        );
    if no_file {
        io::Error::new(io::ErrorKind::NotFound, error)
    } else {
        error
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

    fn read(backend: &RootedBackend, path: &Path) -> io::Result<Vec<u8>> {
        let mut file = backend.open(path.to_owned()).into_inner()?;
        let mut bytes = Vec::new();
        file.file.read_to_end(&mut bytes)?;
        Ok(bytes)
    }

    fn metadata(backend: &RootedBackend, path: &Path) -> io::Result<std::fs::Metadata> {
        backend.metadata(path.to_owned()).into_inner()
    }

    /// Every kind of link the fast path sees (relative, absolute, through a folder,
    /// out of the root by `..` or by an absolute target), read and stat'ed.
    #[cfg(unix)]
    #[test]
    fn the_backend_serves_links_that_stay_inside_and_nothing_else() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::create_dir(dir.path().join("outside")).unwrap();
        std::fs::write(root.join("sub/inside.txt"), b"in").unwrap();
        std::fs::write(dir.path().join("outside/secret.txt"), b"out").unwrap();
        symlink("sub/inside.txt", root.join("relative-in")).unwrap();
        symlink(root.join("sub/inside.txt"), root.join("absolute-in")).unwrap();
        symlink("../relative-in", root.join("sub/up-and-in")).unwrap();
        symlink("sub", root.join("folder-in")).unwrap();
        symlink("../outside/secret.txt", root.join("relative-out")).unwrap();
        symlink(
            dir.path().join("outside/secret.txt"),
            root.join("absolute-out"),
        )
        .unwrap();
        symlink("../outside", root.join("folder-out")).unwrap();
        let root = root.canonicalize().unwrap();
        let backend = RootedBackend::new(&root);

        for inside in [
            "sub/inside.txt",
            "relative-in",
            "absolute-in",
            "sub/up-and-in",
            "folder-in/inside.txt",
        ] {
            let path = root.join(inside);
            assert_eq!(read(&backend, &path).unwrap(), b"in", "{inside}");
            assert_eq!(metadata(&backend, &path).unwrap().len(), 2, "{inside}");
        }
        for outside in [
            "relative-out",
            "absolute-out",
            "folder-out/secret.txt",
            "missing.txt",
        ] {
            let path = root.join(outside);
            let refused = read(&backend, &path).unwrap_err();
            assert_eq!(refused.kind(), io::ErrorKind::NotFound, "{outside}");
            let refused = metadata(&backend, &path).unwrap_err();
            assert_eq!(refused.kind(), io::ErrorKind::NotFound, "{outside}");
        }
        // The root and its folders have metadata (ServeDir asks whether a path is a
        // folder) but are not files to read.
        assert!(metadata(&backend, &root).unwrap().is_dir());
        assert!(
            metadata(&backend, &root.join("folder-in"))
                .unwrap()
                .is_dir()
        );
        let refused = read(&backend, &root.join("sub")).unwrap_err();
        assert_eq!(refused.kind(), io::ErrorKind::NotFound);
    }

    /// The `open` after a `metadata` call for the same path uses the file that call
    /// opened (seen here by removing the file in between), once.
    #[cfg(target_os = "linux")]
    #[test]
    fn open_reuses_the_file_its_metadata_call_opened() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::write(root.join("a.txt"), b"a").unwrap();
        std::fs::write(root.join("b.txt"), b"b").unwrap();
        let backend = RootedBackend::new(&root);

        assert!(metadata(&backend, &root.join("a.txt")).unwrap().is_file());
        std::fs::remove_file(root.join("a.txt")).unwrap();
        assert_eq!(read(&backend, &root.join("a.txt")).unwrap(), b"a");
        let gone = read(&backend, &root.join("a.txt")).unwrap_err();
        assert_eq!(gone.kind(), io::ErrorKind::NotFound);

        // Another path, or another clone (another request), opens afresh.
        assert!(metadata(&backend, &root.join("b.txt")).unwrap().is_file());
        std::fs::remove_file(root.join("b.txt")).unwrap();
        let other_clone = backend.clone();
        assert!(read(&other_clone, &root.join("b.txt")).is_err());
        assert_eq!(read(&backend, &root.join("b.txt")).unwrap(), b"b");
    }

    /// Opening a FIFO for reading would block the runtime thread until a writer comes;
    /// it is refused at once, reached directly (fast path) or by an absolute symlink
    /// (slow path).
    #[cfg(target_os = "linux")]
    #[test]
    fn fifos_are_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let made = std::process::Command::new("mkfifo")
            .arg(root.join("pipe"))
            .status()
            .unwrap();
        assert!(made.success());
        std::os::unix::fs::symlink(root.join("pipe"), root.join("absolute-pipe")).unwrap();
        let backend = RootedBackend::new(&root);
        for name in ["pipe", "absolute-pipe"] {
            let refused = read(&backend, &root.join(name)).unwrap_err();
            assert_eq!(refused.kind(), io::ErrorKind::NotFound, "{name}");
            assert!(refused.to_string().contains("not a regular file"), "{name}");
        }
    }
}
