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

/// A file of the index to add, and where its bytes are stored: `bytes` bytes at `offset`
/// of the file `stored_in` on the host. A file of its own is stored in itself at offset 0;
/// a leaf file lies within its tree's pack.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredFile {
    /// Its name in the index: the name [`crate::LoadedIndex::add_file`] takes.
    pub name: String,
    /// The file on the host that holds its bytes.
    pub stored_in: String,
    /// Where its bytes start in `stored_in`.
    pub offset: u64,
    /// Its size in bytes.
    pub bytes: u64,
}

impl From<&LazyFile> for StoredFile {
    fn from(file: &LazyFile) -> Self {
        Self::whole(&file.name, file.bytes)
    }
}

impl StoredFile {
    /// A file stored on its own.
    pub fn whole(name: &str, bytes: u64) -> Self {
        Self {
            name: name.to_owned(),
            stored_in: name.to_owned(),
            offset: 0,
            bytes,
        }
    }

    /// Whether its bytes are the whole of `stored_in`.
    pub fn is_whole(&self) -> bool {
        self.name == self.stored_in
    }

    /// Its bytes within `stored`, the bytes of `stored_in` (the whole file, or a range of
    /// it that starts at `from`). A file stored on its own is all of `stored`, so that its
    /// size check sees every byte.
    ///
    /// # Errors
    /// [`IndexError::Corrupt`] naming `stored_in` when `stored` does not hold its bytes.
    pub fn slice_of<'a>(&self, stored: &'a [u8], from: u64) -> Result<&'a [u8], IndexError> {
        let slice = if self.is_whole() {
            (from == 0).then_some(stored)
        } else {
            self.offset
                .checked_sub(from)
                .and_then(|start| usize::try_from(start).ok())
                .and_then(|start| {
                    stored.get(start..start.checked_add(usize::try_from(self.bytes).ok()?)?)
                })
        };
        slice.ok_or_else(|| IndexError::Corrupt {
            file: self.stored_in.clone(),
            reason: format!(
                "{} bytes from byte {from} do not hold {} (bytes {}..{})",
                stored.len(),
                self.name,
                self.offset,
                self.offset.saturating_add(self.bytes)
            ),
        })
    }
}
