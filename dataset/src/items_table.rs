//! Where a dataset's item chunks are, at any collection size.
//!
//! `dataset.json` lists no chunk: its [`ItemsTable`] names one top file, the top holds
//! the blake3 of each page, a page the blake3 of each of up to
//! [`ItemsTable::chunks_per_page`] chunks, and a chunk's name is its number and the first
//! 16 hex of its hash ([`chunk_name`]). So `dataset.json` is the same size at any N
//! (listing every chunk made it 3.4 MB at 10M images and about 89 MB at 262.5M), opening a
//! dataset reads the top (32 bytes per page), a tile's caption costs at most one page
//! (8 KiB at the default 256 chunks per page) beside its chunk, and every byte read is
//! checked against a hash its parent holds.
//!
//! File formats: the top and a page are 32-byte blake3 hashes back to back.
//!
//! A reader keeps what it has read in an [`ItemsDirectory`] and asks it, chunk by chunk,
//! which file to read next ([`ItemsDirectory::locate`]):
//!
//! ```
//! use dataset::items_table::{ItemsDirectory, Located, table_files};
//!
//! let chunks: Vec<Vec<u8>> = (0..5u8).map(|k| vec![k; 10]).collect();
//! let hashes: Vec<[u8; 32]> = chunks.iter().map(|c| *blake3::hash(c).as_bytes()).collect();
//! let (table, files) = table_files(&hashes, 100, 2);
//! let files: std::collections::HashMap<String, Vec<u8>> = files.into_iter().collect();
//! let mut directory = ItemsDirectory::new(table);
//! let chunk = loop {
//!     match directory.locate(3).expect("chunk 3 exists") {
//!         Located::Chunk(file) => break file,
//!         Located::Table(file) => directory.add(&file, &files[&file.name])?,
//!     }
//! };
//! assert_eq!(chunk.name, dataset::items_table::chunk_name(3, &blake3::hash(&chunks[3]).to_hex()));
//! chunk.check(&chunks[3])?;
//! # Ok::<(), dataset::items_table::ItemsTableError>(())
//! ```

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::{FileRef, hashed_name};

/// Items per metadata chunk by default: small, because a k-NN page of 60 ids touches up to
/// 60 chunks (about 15 KB each at 128 items).
pub const ITEMS_PER_CHUNK: u32 = 128;

/// Chunk hashes per page by default: 8 KiB pages, so a page of 60 scattered neighbours
/// costs at most 480 KiB of pages, and the top stays 256 KiB at 262.5M images (128 items
/// per chunk).
pub const CHUNKS_PER_PAGE: u32 = 256;

/// Bytes of one hash in the top and the pages.
const HASH_BYTES: usize = 32;

/// `dataset.json`'s `items`: how the item metadata is cut and where its table starts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemsTable {
    /// Items per chunk (the last chunk may hold fewer): chunk `k` holds the ids from
    /// `k * items_per_chunk`.
    pub items_per_chunk: u32,
    /// Chunk hashes per page (the last page may hold fewer).
    pub chunks_per_page: u32,
    /// The number of chunks.
    pub chunks: u64,
    /// The top: the pages' hashes.
    pub top: FileRef,
}

/// Why a table or a chunk was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ItemsTableError {
    /// `dataset.json`'s `items` do not fit together or with its `count`.
    #[error("dataset.json: items: {0}")]
    Table(String),
    /// A file's bytes are not what its parent says.
    #[error("{file}: {reason}")]
    Corrupt {
        /// The file's name.
        file: String,
        /// What is wrong.
        reason: String,
    },
}

/// What a listed file is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TableFile {
    /// The top: the pages' hashes.
    Top,
    /// Page `p`: the hashes of chunks `p * chunks_per_page ..`.
    Page(u64),
    /// Item chunk `k`.
    Chunk(u64),
}

/// A file named by its parent, with the hash its bytes must have.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedFile {
    /// Its name in the dataset folder.
    pub name: String,
    /// What it is.
    pub role: TableFile,
    /// The blake3 its parent holds.
    pub blake3: [u8; 32],
}

impl ListedFile {
    /// Checks `bytes` against the hash the parent holds.
    ///
    /// # Errors
    /// [`ItemsTableError::Corrupt`] naming the file and both hashes.
    pub fn check(&self, bytes: &[u8]) -> Result<(), ItemsTableError> {
        let actual = blake3::hash(bytes);
        if actual.as_bytes() != &self.blake3 {
            return Err(ItemsTableError::Corrupt {
                file: self.name.clone(),
                reason: format!(
                    "blake3 is {}, its table says {}",
                    actual.to_hex(),
                    blake3::Hash::from_bytes(self.blake3).to_hex()
                ),
            });
        }
        Ok(())
    }
}

/// The name of item chunk `chunk` whose blake3 is `blake3_hex`: `items-NNNN.<16 hex>.json`.
pub fn chunk_name(chunk: u64, blake3_hex: &str) -> String {
    hashed_name(&format!("items-{chunk:04}"), blake3_hex, "json")
}

fn page_name(page: u64, blake3_hex: &str) -> String {
    hashed_name(&format!("items-page-{page:05}"), blake3_hex, "bin")
}

/// Whether `name` is a file of an items table or an item chunk (`items-*.json`,
/// `items-page-*.bin`, `items-top.*.bin`), which a rebuild replaces.
pub fn is_items_file(name: &str) -> bool {
    name.starts_with("items-") && (name.ends_with(".json") || name.ends_with(".bin"))
}

/// The table over chunks whose blake3s are `chunk_hashes` (in chunk order), and its files
/// (`(name, bytes)`: the pages, then the top) for the caller to write.
pub fn table_files(
    chunk_hashes: &[[u8; 32]],
    items_per_chunk: u32,
    chunks_per_page: u32,
) -> (ItemsTable, Vec<(String, Vec<u8>)>) {
    let per_page = chunks_per_page.max(1) as usize;
    let mut files = Vec::new();
    let mut top = Vec::new();
    for (p, page) in chunk_hashes.chunks(per_page).enumerate() {
        let bytes = page.concat();
        let hash = blake3::hash(&bytes);
        top.extend_from_slice(hash.as_bytes());
        files.push((page_name(p as u64, &hash.to_hex()), bytes));
    }
    let hash = blake3::hash(&top);
    let top_ref = FileRef {
        name: hashed_name("items-top", &hash.to_hex(), "bin"),
        bytes: top.len() as u64,
        blake3: hash.to_hex().to_string(),
    };
    files.push((top_ref.name.clone(), top));
    let table = ItemsTable {
        items_per_chunk,
        chunks_per_page: per_page as u32,
        chunks: chunk_hashes.len() as u64,
        top: top_ref,
    };
    (table, files)
}

/// The number of pages of a table over `chunks` chunks.
fn pages_for(chunks: u64, chunks_per_page: u32) -> u64 {
    chunks.div_ceil(u64::from(chunks_per_page.max(1)))
}

/// The sizes of the table over `count` items, from the rules [`table_files`] writes by:
/// what `precompute layout` reports at sizes no machine here builds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableShape {
    /// Item chunks.
    pub chunks: u64,
    /// Pages.
    pub pages: u64,
    /// Bytes of the top.
    pub top_bytes: u64,
    /// Bytes of a full page.
    pub page_bytes: u64,
}

impl TableShape {
    /// The table over `count` items in chunks of `items_per_chunk`, `chunks_per_page` to a
    /// page.
    pub fn of(count: u64, items_per_chunk: u32, chunks_per_page: u32) -> Self {
        let chunks = count.div_ceil(u64::from(items_per_chunk.max(1)));
        let pages = pages_for(chunks, chunks_per_page);
        Self {
            chunks,
            pages,
            top_bytes: pages * HASH_BYTES as u64,
            page_bytes: u64::from(chunks_per_page.max(1)).min(chunks) * HASH_BYTES as u64,
        }
    }
}

impl ItemsTable {
    /// Checks that the table fits a collection of `count` items: as many chunks as
    /// `count` needs, and a top of 32 bytes per page.
    ///
    /// # Errors
    /// [`ItemsTableError::Table`] saying which field disagrees.
    pub fn check(&self, count: u64) -> Result<(), ItemsTableError> {
        if self.items_per_chunk == 0 || self.chunks_per_page == 0 {
            return Err(ItemsTableError::Table(
                "items_per_chunk and chunks_per_page must be above 0".into(),
            ));
        }
        let needed = count.div_ceil(u64::from(self.items_per_chunk));
        if self.chunks != needed {
            return Err(ItemsTableError::Table(format!(
                "{} chunks, {count} items at {} per chunk need {needed}",
                self.chunks, self.items_per_chunk
            )));
        }
        let top_bytes = self.pages() * HASH_BYTES as u64;
        if self.top.bytes != top_bytes {
            return Err(ItemsTableError::Table(format!(
                "the top {} is {} bytes, {} pages need {top_bytes}",
                self.top.name,
                self.top.bytes,
                self.pages()
            )));
        }
        Ok(())
    }

    /// The number of pages.
    pub fn pages(&self) -> u64 {
        pages_for(self.chunks, self.chunks_per_page)
    }

    /// The chunk that holds `id` and the id's position in it (`None` past the chunks).
    pub fn chunk_of(&self, id: u64) -> Option<(u64, usize)> {
        let per = u64::from(self.items_per_chunk);
        if per == 0 {
            return None;
        }
        let chunk = id / per;
        (chunk < self.chunks).then(|| (chunk, (id % per) as usize))
    }

    /// The hashes page `page` holds.
    fn page_len(&self, page: u64) -> u64 {
        let per = u64::from(self.chunks_per_page);
        per.min(self.chunks.saturating_sub(page * per))
    }
}

/// What to read next for a chunk: its table file, or the chunk itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Located {
    /// The top or a page must be read first ([`ItemsDirectory::add`]).
    Table(ListedFile),
    /// The chunk's file.
    Chunk(ListedFile),
}

/// An items table as far as it has been read: the top and the pages so far.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItemsDirectory {
    table: ItemsTable,
    top: Option<Vec<[u8; 32]>>,
    pages: HashMap<u64, Vec<[u8; 32]>>,
}

impl ItemsDirectory {
    /// A directory that has read nothing yet.
    pub fn new(table: ItemsTable) -> Self {
        Self {
            table,
            top: None,
            pages: HashMap::new(),
        }
    }

    /// The table it reads.
    pub fn table(&self) -> &ItemsTable {
        &self.table
    }

    /// The file to read next for chunk `chunk` (`None` past the chunks): the top, its
    /// page, or, once those are read, the chunk.
    pub fn locate(&self, chunk: u64) -> Option<Located> {
        if chunk >= self.table.chunks {
            return None;
        }
        let Some(top) = &self.top else {
            let hash =
                blake3::Hash::from_hex(&self.table.top.blake3).map_or([0; 32], |h| *h.as_bytes());
            return Some(Located::Table(ListedFile {
                name: self.table.top.name.clone(),
                role: TableFile::Top,
                blake3: hash,
            }));
        };
        let per = u64::from(self.table.chunks_per_page);
        let page = chunk / per;
        let hash = *top.get(page as usize)?;
        match self.pages.get(&page) {
            None => Some(Located::Table(ListedFile {
                name: page_name(page, &blake3::Hash::from_bytes(hash).to_hex()),
                role: TableFile::Page(page),
                blake3: hash,
            })),
            Some(hashes) => {
                let hash = *hashes.get((chunk % per) as usize)?;
                Some(Located::Chunk(ListedFile {
                    name: chunk_name(chunk, &blake3::Hash::from_bytes(hash).to_hex()),
                    role: TableFile::Chunk(chunk),
                    blake3: hash,
                }))
            }
        }
    }

    /// Checks `bytes` as the table file `file` ([`Located::Table`]) and returns the hashes
    /// it holds, without keeping them (see [`ItemsDirectory::insert`]).
    ///
    /// # Errors
    /// [`ItemsTableError::Corrupt`]: another hash, or another number of hashes than the
    /// table needs there.
    pub fn read(&self, file: &ListedFile, bytes: &[u8]) -> Result<Vec<[u8; 32]>, ItemsTableError> {
        file.check(bytes)?;
        let expected = match file.role {
            TableFile::Top => self.table.pages(),
            TableFile::Page(page) => self.table.page_len(page),
            TableFile::Chunk(_) => {
                return Err(ItemsTableError::Corrupt {
                    file: file.name.clone(),
                    reason: "an item chunk, not a table file".into(),
                });
            }
        };
        if bytes.len() as u64 != expected * HASH_BYTES as u64 {
            return Err(ItemsTableError::Corrupt {
                file: file.name.clone(),
                reason: format!(
                    "{} bytes, {expected} hashes of {HASH_BYTES} bytes expected",
                    bytes.len()
                ),
            });
        }
        Ok(bytes
            .chunks_exact(HASH_BYTES)
            .map(|h| h.try_into().expect("32 bytes"))
            .collect())
    }

    /// Keeps the hashes [`ItemsDirectory::read`] returned for `file`.
    pub fn insert(&mut self, file: &ListedFile, hashes: Vec<[u8; 32]>) {
        match file.role {
            TableFile::Top => self.top = Some(hashes),
            TableFile::Page(page) => {
                self.pages.insert(page, hashes);
            }
            TableFile::Chunk(_) => {}
        }
    }

    /// [`ItemsDirectory::read`], then [`ItemsDirectory::insert`].
    ///
    /// # Errors
    /// As [`ItemsDirectory::read`].
    pub fn add(&mut self, file: &ListedFile, bytes: &[u8]) -> Result<(), ItemsTableError> {
        let hashes = self.read(file, bytes)?;
        self.insert(file, hashes);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hashes(n: u8) -> Vec<[u8; 32]> {
        (0..n).map(|k| *blake3::hash(&[k]).as_bytes()).collect()
    }

    fn read_all(
        directory: &mut ItemsDirectory,
        files: &HashMap<String, Vec<u8>>,
        chunk: u64,
    ) -> ListedFile {
        loop {
            match directory.locate(chunk).unwrap() {
                Located::Chunk(file) => return file,
                Located::Table(file) => directory.add(&file, &files[&file.name]).unwrap(),
            }
        }
    }

    #[test]
    fn every_chunk_is_found_through_its_page() {
        let chunk_hashes = hashes(7);
        let (table, files) = table_files(&chunk_hashes, 10, 3);
        table.check(65).unwrap();
        assert_eq!(table.pages(), 3);
        assert_eq!(files.len(), 4, "3 pages and the top");
        let shape = TableShape::of(65, 10, 3);
        assert_eq!((shape.chunks, shape.pages), (7, 3));
        assert_eq!(shape.top_bytes, table.top.bytes);
        assert_eq!(shape.page_bytes, files[0].1.len() as u64);
        let files: HashMap<String, Vec<u8>> = files.into_iter().collect();
        let mut directory = ItemsDirectory::new(table);
        for (k, hash) in chunk_hashes.iter().enumerate() {
            let file = read_all(&mut directory, &files, k as u64);
            assert_eq!(file.blake3, *hash);
            assert_eq!(file.role, TableFile::Chunk(k as u64));
            assert_eq!(
                file.name,
                chunk_name(k as u64, &blake3::Hash::from_bytes(*hash).to_hex())
            );
        }
        assert_eq!(directory.locate(7), None);
        assert_eq!(directory.table().chunk_of(64), Some((6, 4)));
        assert_eq!(directory.table().chunk_of(70), None);
    }

    #[test]
    fn a_table_that_does_not_fit_the_count_is_refused() {
        let (table, _) = table_files(&hashes(7), 10, 3);
        for count in [60, 71] {
            let error = table.check(count).unwrap_err().to_string();
            assert!(error.contains("7 chunks"), "{error}");
        }
        let mut wrong = table.clone();
        wrong.top.bytes += 1;
        assert!(wrong.check(65).unwrap_err().to_string().contains("the top"));
    }

    #[test]
    fn a_corrupt_or_cut_table_file_is_refused_and_nothing_kept() {
        let (table, files) = table_files(&hashes(7), 10, 3);
        let files: HashMap<String, Vec<u8>> = files.into_iter().collect();
        let mut directory = ItemsDirectory::new(table);
        let Some(Located::Table(top)) = directory.locate(0) else {
            panic!("the top comes first");
        };
        let mut flipped = files[&top.name].clone();
        flipped[5] ^= 1;
        let error = directory.add(&top, &flipped).unwrap_err().to_string();
        assert!(
            error.starts_with(&top.name) && error.contains("blake3"),
            "{error}"
        );
        assert_eq!(directory.locate(0), Some(Located::Table(top.clone())));
        directory.add(&top, &files[&top.name]).unwrap();
        let Some(Located::Table(page)) = directory.locate(6) else {
            panic!("then the page");
        };
        // Page 2 (one hash) read in the place of page 0 (three): refused by its length.
        let other = ListedFile {
            role: TableFile::Page(0),
            ..page.clone()
        };
        assert!(directory.read(&other, &files[&page.name]).is_err());
    }
}
