//! What the server serves and how: folders, cross-origin settings and limits.

use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use axum::http::HeaderValue;

/// Everything [`crate::app`](fn@crate::app) and [`crate::serve`] need. Built by [`Config::new`], which
/// checks the two folders, so a `Config` always names existing directories.
#[derive(Clone, Debug)]
pub struct Config {
    dist: PathBuf,
    data: PathBuf,
    /// Send `Cross-Origin-Opener-Policy: same-origin` and
    /// `Cross-Origin-Embedder-Policy: require-corp` on every response, so the app may
    /// use `SharedArrayBuffer` and wasm threads. On by default.
    pub cross_origin_isolation: bool,
    /// Answer CORS requests (and preflights) for `/data/*` from this origin, and mark
    /// `/data/*` responses `Cross-Origin-Resource-Policy: cross-origin`. Off by default.
    pub cors: Option<CorsOrigin>,
    /// With [`Self::cors`], answer the same way for the app's own files (`dist`), so a
    /// page on that origin can embed the app (`clip-branches.js`, its wasm and workers).
    /// Off by default.
    pub cors_app: bool,
    /// Connection and header limits, shutdown grace.
    pub limits: Limits,
}

impl Config {
    /// A configuration serving the built frontend in `dist` at `/` and the dataset
    /// folders in `data` under `/data/`, with default headers and limits.
    ///
    /// Both folders are resolved to canonical paths now: files reached through
    /// symlinks that leave them are refused later.
    pub fn new(dist: &Path, data: &Path) -> Result<Self, ConfigError> {
        Ok(Self {
            dist: canonical_dir(dist, "dist")?,
            data: canonical_dir(data, "data")?,
            cross_origin_isolation: true,
            cors: None,
            cors_app: false,
            limits: Limits::default(),
        })
    }

    /// The canonical frontend folder, served at `/`.
    pub fn dist(&self) -> &Path {
        &self.dist
    }

    /// The canonical dataset folder, served under `/data/`.
    pub fn data(&self) -> &Path {
        &self.data
    }
}

fn canonical_dir(path: &Path, role: &'static str) -> Result<PathBuf, ConfigError> {
    let canonical = path
        .canonicalize()
        .map_err(|source| ConfigError::Unreadable {
            role,
            path: path.to_owned(),
            source,
        })?;
    if !canonical.is_dir() {
        return Err(ConfigError::NotADirectory {
            role,
            path: path.to_owned(),
        });
    }
    Ok(canonical)
}

/// Resource limits of [`crate::serve`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Connections open at once; further clients wait in the listen backlog.
    pub max_connections: NonZeroUsize,
    /// Request line plus headers, in bytes; larger requests get 431.
    pub max_header_bytes: NonZeroUsize,
    /// Header fields per request; more get 431.
    pub max_headers: NonZeroUsize,
    /// Time a client has to send a complete request head, counted from the moment the
    /// connection is ready for one, so it also closes idle keep-alive connections.
    pub header_read_timeout: Duration,
    /// Time requests in flight get to finish after a shutdown signal.
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: NonZeroUsize::new(10_240).unwrap_or(NonZeroUsize::MIN),
            max_header_bytes: NonZeroUsize::new(16 * 1024).unwrap_or(NonZeroUsize::MIN),
            max_headers: NonZeroUsize::new(64).unwrap_or(NonZeroUsize::MIN),
            header_read_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

/// Which origin may read `/data/*` cross-origin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CorsOrigin {
    /// Any origin (`Access-Control-Allow-Origin: *`).
    Any,
    /// One origin, such as `https://example.org` or `http://localhost:3000`.
    Exact(HeaderValue),
}

impl FromStr for CorsOrigin {
    type Err = ConfigError;

    /// Parses `*` or an origin `scheme://host[:port]` (no path, no trailing slash).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text == "*" {
            return Ok(Self::Any);
        }
        let invalid = || ConfigError::InvalidCorsOrigin {
            origin: text.to_owned(),
        };
        let (scheme, host) = text.split_once("://").ok_or_else(invalid)?;
        let scheme_ok = matches!(scheme, "http" | "https");
        let host_ok = !host.is_empty()
            && host.bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']')
            });
        if !scheme_ok || !host_ok {
            return Err(invalid());
        }
        HeaderValue::from_str(text)
            .map(Self::Exact)
            .map_err(|_| invalid())
    }
}

/// A configuration that cannot be served.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A folder does not exist or cannot be resolved.
    #[error("{role} folder {path} cannot be read")]
    Unreadable {
        /// `dist` or `data`.
        role: &'static str,
        /// The path as given.
        path: PathBuf,
        /// Why it could not be resolved.
        source: std::io::Error,
    },
    /// A folder is a file or something else.
    #[error("{role} folder {path} is not a directory")]
    NotADirectory {
        /// `dist` or `data`.
        role: &'static str,
        /// The path as given.
        path: PathBuf,
    },
    /// `--cors` is neither `*` nor an `http(s)://host[:port]` origin.
    #[error("CORS origin {origin:?} is neither `*` nor `http(s)://host[:port]`")]
    InvalidCorsOrigin {
        /// The text as given.
        origin: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cors_origin_accepts_star_and_plain_origins() {
        assert_eq!("*".parse::<CorsOrigin>().ok(), Some(CorsOrigin::Any));
        for origin in [
            "https://example.org",
            "http://localhost:3000",
            "http://[::1]:8080",
        ] {
            assert_eq!(
                origin.parse::<CorsOrigin>().ok(),
                Some(CorsOrigin::Exact(HeaderValue::from_static(origin))),
                "{origin}"
            );
        }
    }

    #[test]
    fn cors_origin_refuses_paths_schemes_and_junk() {
        for origin in [
            "",
            "example.org",
            "https://example.org/",
            "https://example.org/app",
            "ftp://example.org",
            "https://",
            "https://exa mple.org",
            "https://example.org\r\nX-Evil: 1",
        ] {
            assert!(
                matches!(
                    origin.parse::<CorsOrigin>(),
                    Err(ConfigError::InvalidCorsOrigin { .. })
                ),
                "{origin:?}"
            );
        }
    }

    #[test]
    fn config_refuses_missing_and_non_directory_folders() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        std::fs::write(&file, b"x").unwrap();
        assert!(matches!(
            Config::new(&dir.path().join("missing"), dir.path()),
            Err(ConfigError::Unreadable { role: "dist", .. })
        ));
        assert!(matches!(
            Config::new(dir.path(), &file),
            Err(ConfigError::NotADirectory { role: "data", .. })
        ));
        let config = Config::new(dir.path(), dir.path()).unwrap();
        assert!(config.dist().is_absolute());
    }
}
