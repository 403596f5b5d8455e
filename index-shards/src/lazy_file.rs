//! [`LazyFile`]: a file of the index fetched only when a query needs it, as its parent
//! (the manifest, or a table of hashes) names it, and the one check of its bytes.

use serde::{Deserialize, Serialize};

use crate::IndexError;

/// A file fetched on demand: a k-NN list or its centroids, a row-block table, the pool.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LazyFile {
    /// `<stem>.<first 16 hex of blake3>.shard`.
    pub name: String,
    /// Entries it holds: a list's rows, the centroids' lists, a table's pages, the pool's
    /// rows.
    pub rows: u64,
    /// Size in bytes.
    pub bytes: u64,
    /// blake3 of the whole file, 64 lower-case hex digits.
    pub blake3: String,
}

/// Checks `bytes` against `entry`'s size and blake3.
pub(crate) fn check_listed(entry: &LazyFile, bytes: &[u8]) -> Result<(), IndexError> {
    if bytes.len() as u64 != entry.bytes {
        return Err(IndexError::SizeMismatch {
            file: entry.name.clone(),
            expected: entry.bytes,
            actual: bytes.len() as u64,
        });
    }
    let hash = blake3::hash(bytes).to_hex();
    if hash.as_str() != entry.blake3 {
        return Err(IndexError::HashMismatch {
            file: entry.name.clone(),
            expected: entry.blake3.clone(),
            actual: hash.to_string(),
        });
    }
    Ok(())
}
