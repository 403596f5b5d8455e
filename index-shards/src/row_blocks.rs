//! Feature rows by id, for collections too big to fetch whole: training reads the rows of
//! the images a user labelled and of a seeded pool of random negatives, and a search the
//! rows of the images its boxes hold, never every row.
//!
//! The rows are cut into blocks of [`RowBlocksConfig::block_rows`] consecutive ids, each a
//! content-named file. Their hashes are kept in pages of
//! [`RowBlocksConfig::blocks_per_page`] hashes, each a content-named file too, and the
//! pages' hashes in one top table that the manifest names ([`RowsManifest`]). So the
//! manifest stays the same size at any collection size, a row costs at most its page and
//! its block, and every byte is checked against a hash its parent holds. The pool of
//! random negatives (ids given by the caller, ascending) is one more file with its rows.
//!
//! A reader asks [`RowBlocks::missing_for_rows`] which files the rows of some ids need:
//! the top table, then the pages, then the blocks, one layer per call (the next layer's
//! names are in the last one's bytes), until it answers nothing.
//!
//! File formats: the top table and a page are 32-byte blake3 hashes back to back (pages,
//! blocks); a block is its rows (`rows x dims` bytes); the pool is its ids (`u32`,
//! little-endian, ascending), then their rows.
//!
//! ```
//! use index_shards::{Features, RowBlocks, RowBlocksConfig, write_row_blocks};
//!
//! let data: Vec<u8> = (0..4000u32).map(|i| (i * 37 % 251) as u8).collect();
//! let features = Features::new(&data, 4)?;
//! let config = RowBlocksConfig { block_rows: 16, blocks_per_page: 4 };
//! let mut files = std::collections::HashMap::new();
//! let manifest = write_row_blocks(features, &[3, 500], &config, |name, bytes| {
//!     files.insert(name.to_owned(), bytes.to_vec());
//!     Ok::<_, std::io::Error>(())
//! })?;
//! let mut rows = RowBlocks::new(&manifest, 4, 1000)?;
//! loop {
//!     let missing = rows.missing_for_rows([7, 900])?;
//!     if missing.is_empty() {
//!         break;
//!     }
//!     for file in missing {
//!         assert!(rows.add_file(&file.name, &files[&file.name])?);
//!     }
//! }
//! assert_eq!(rows.row(900), Some(features.row(900)?));
//! # Ok::<(), index_shards::IndexError>(())
//! ```

use std::collections::{BTreeSet, HashMap};
use std::error::Error as StdError;

use serde::{Deserialize, Serialize};

use crate::lazy_file::{LazyFile, check_listed};
use crate::partitioned_knn::IdRows;
use crate::write::{content_name, write_content_named};
use crate::{Features, IndexError};

/// The version of the row-block files and of [`RowsManifest`].
pub const ROWS_FORMAT_VERSION: u32 = 1;

/// Bytes of one hash in the top table and the pages.
const HASH_BYTES: usize = 32;

/// How to cut the rows into blocks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowBlocksConfig {
    /// Rows per block (the last one may hold fewer).
    pub block_rows: usize,
    /// Block hashes per page (the last one may hold fewer).
    pub blocks_per_page: usize,
}

impl Default for RowBlocksConfig {
    /// Blocks of 256 rows (8 KiB at 32 dims: a labelled image costs little more than its
    /// row) and pages of 1,024 hashes (32 KiB, 262,144 rows): the top table stays 32 KiB
    /// at 262.5M rows.
    fn default() -> Self {
        Self {
            block_rows: 256,
            blocks_per_page: 1024,
        }
    }
}

/// The row-block section of the index manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowsManifest {
    /// [`ROWS_FORMAT_VERSION`] of the files below.
    pub format_version: u32,
    /// Rows per block.
    pub block_rows: u32,
    /// Block hashes per page.
    pub blocks_per_page: u32,
    /// The pages' hashes (`rows`: the number of pages).
    pub top: LazyFile,
    /// The pool of random negatives: ids and rows (`rows`: ids in the pool).
    pub pool: LazyFile,
}

/// The stem of the top table.
pub(crate) const TOP_STEM: &str = "rows-top";

/// The stem of the pool.
pub(crate) const POOL_STEM: &str = "rows-pool";

fn block_stem(block: u64) -> String {
    format!("rows-{block:07}")
}

fn page_stem(page: u64) -> String {
    format!("rows-page-{page:05}")
}

/// The number after `prefix` in a file name `<prefix><digits>.<hash>.shard`.
fn numbered(name: &str, prefix: &str) -> Option<u64> {
    let digits = name.strip_prefix(prefix)?.split('.').next()?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn corrupt(file: &str, reason: String) -> IndexError {
    IndexError::Corrupt {
        file: file.to_owned(),
        reason,
    }
}

/// Writes every block, every page, the top table and the pool of `pool_ids` (ascending,
/// distinct, below the row count) to `sink(name, bytes)` and returns the manifest section
/// naming the top table and the pool. Names are `rows-<block>.<hash>.shard`,
/// `rows-page-<page>.<hash>.shard`, `rows-top.<hash>.shard` and `rows-pool.<hash>.shard`.
///
/// # Errors
/// [`IndexError::Config`] for an empty block or page, or pool ids that are not ascending
/// ids of `features`; [`IndexError::Sink`] if the sink fails (naming the file).
pub fn write_row_blocks<E>(
    features: Features<'_>,
    pool_ids: &[u32],
    config: &RowBlocksConfig,
    mut sink: impl FnMut(&str, &[u8]) -> Result<(), E>,
) -> Result<RowsManifest, IndexError>
where
    E: Into<Box<dyn StdError + Send + Sync>>,
{
    if config.block_rows == 0 || config.blocks_per_page == 0 {
        return Err(IndexError::Config {
            reason: format!(
                "row blocks of {} rows and pages of {} blocks: both must be at least 1",
                config.block_rows, config.blocks_per_page
            ),
        });
    }
    let (n, dims) = (features.len(), features.dims());
    if !pool_ids.windows(2).all(|w| w[0] < w[1])
        || pool_ids.last().is_some_and(|&id| id as usize >= n)
    {
        return Err(IndexError::Config {
            reason: format!("the pool's ids must ascend, each below the {n} rows"),
        });
    }
    let raw_hash = |hex: &str| -> [u8; HASH_BYTES] {
        // The writer's own hex of a blake3 hash always parses.
        *blake3::Hash::from_hex(hex)
            .expect("blake3 hex from write_content_named")
            .as_bytes()
    };
    let mut block_hashes = Vec::with_capacity(n.div_ceil(config.block_rows) * HASH_BYTES);
    for (block, first) in (0..n).step_by(config.block_rows).enumerate() {
        let rows = config.block_rows.min(n - first);
        let bytes = &features.data()[first * dims..(first + rows) * dims];
        let (_, hash) = write_content_named(&block_stem(block as u64), bytes, &mut sink)?;
        block_hashes.extend_from_slice(&raw_hash(&hash));
    }
    let mut top = Vec::new();
    for (page, hashes) in block_hashes
        .chunks(config.blocks_per_page * HASH_BYTES)
        .enumerate()
    {
        let (_, hash) = write_content_named(&page_stem(page as u64), hashes, &mut sink)?;
        top.extend_from_slice(&raw_hash(&hash));
    }
    let mut put = |stem: &str, rows: usize, bytes: &[u8]| -> Result<LazyFile, IndexError> {
        let (name, blake3) = write_content_named(stem, bytes, &mut sink)?;
        Ok(LazyFile {
            name,
            rows: rows as u64,
            bytes: bytes.len() as u64,
            blake3,
        })
    };
    let top = put(TOP_STEM, top.len() / HASH_BYTES, &top)?;
    let mut pool = Vec::with_capacity(pool_ids.len() * (4 + dims));
    IdRows::encode_into(pool_ids, features, &mut pool)?;
    let pool = put(POOL_STEM, pool_ids.len(), &pool)?;
    Ok(RowsManifest {
        format_version: ROWS_FORMAT_VERSION,
        block_rows: config.block_rows as u32,
        blocks_per_page: config.blocks_per_page as u32,
        top,
        pool,
    })
}

/// The rows of a collection by id: whichever blocks, pages and pool have been added.
#[derive(Debug)]
pub struct RowBlocks {
    manifest: RowsManifest,
    dims: usize,
    n_points: u64,
    /// The top table's bytes once added.
    top: Option<Vec<u8>>,
    /// Each added page's bytes, by page.
    pages: HashMap<u64, Vec<u8>>,
    /// Each added block's rows, by block.
    blocks: HashMap<u64, Vec<u8>>,
    /// The pool's ids (ascending) and their rows, once added.
    pool: Option<IdRows>,
}

impl RowBlocks {
    /// The rows of `manifest` (the section of an index of `n_points` rows of `dims`), none
    /// added yet.
    ///
    /// # Errors
    /// [`IndexError::FormatVersion`], or [`IndexError::Manifest`] naming what does not fit
    /// the collection (block or page size, the top table's or the pool's size).
    pub fn new(manifest: &RowsManifest, dims: usize, n_points: u64) -> Result<Self, IndexError> {
        if manifest.format_version != ROWS_FORMAT_VERSION {
            return Err(IndexError::FormatVersion {
                file: "manifest.json (rows)".into(),
                found: manifest.format_version,
                expected: ROWS_FORMAT_VERSION,
            });
        }
        let bad = |reason: String| Err(IndexError::Manifest { reason });
        if manifest.block_rows == 0 || manifest.blocks_per_page == 0 {
            return bad("rows: blocks and pages must hold at least 1 entry".into());
        }
        let rows = Self {
            manifest: manifest.clone(),
            dims,
            n_points,
            top: None,
            pages: HashMap::new(),
            blocks: HashMap::new(),
            pool: None,
        };
        let pages = rows.pages();
        if manifest.top.rows != pages || manifest.top.bytes != pages * HASH_BYTES as u64 {
            return bad(format!(
                "rows: {} holds {} pages in {} bytes, {n_points} rows need {pages} in {}",
                manifest.top.name,
                manifest.top.rows,
                manifest.top.bytes,
                pages * HASH_BYTES as u64
            ));
        }
        let pool = &manifest.pool;
        if pool.rows > n_points || pool.bytes != pool.rows * (4 + dims as u64) {
            return bad(format!(
                "rows: {} holds {} rows in {} bytes, which does not fit {n_points} rows of {dims}",
                pool.name, pool.rows, pool.bytes
            ));
        }
        Ok(rows)
    }

    /// The manifest section.
    pub fn manifest(&self) -> &RowsManifest {
        &self.manifest
    }

    fn blocks(&self) -> u64 {
        self.n_points.div_ceil(u64::from(self.manifest.block_rows))
    }

    fn pages(&self) -> u64 {
        self.blocks()
            .div_ceil(u64::from(self.manifest.blocks_per_page))
    }

    fn block_of(&self, id: u32) -> u64 {
        u64::from(id) / u64::from(self.manifest.block_rows)
    }

    fn page_of(&self, block: u64) -> u64 {
        block / u64::from(self.manifest.blocks_per_page)
    }

    /// Rows in `block`.
    fn block_len(&self, block: u64) -> u64 {
        let first = block * u64::from(self.manifest.block_rows);
        u64::from(self.manifest.block_rows).min(self.n_points - first)
    }

    /// Hashes in `page`.
    fn page_len(&self, page: u64) -> u64 {
        let first = page * u64::from(self.manifest.blocks_per_page);
        u64::from(self.manifest.blocks_per_page).min(self.blocks() - first)
    }

    /// The file of `page`, once the top table is added.
    fn page_file(&self, page: u64) -> Option<LazyFile> {
        let at = page as usize * HASH_BYTES;
        let hash = self.top.as_ref()?.get(at..at + HASH_BYTES)?;
        let hex = hex(hash);
        let entries = self.page_len(page);
        Some(LazyFile {
            name: content_name(&page_stem(page), &hex),
            rows: entries,
            bytes: entries * HASH_BYTES as u64,
            blake3: hex,
        })
    }

    /// The file of `block`, once its page is added.
    fn block_file(&self, block: u64) -> Option<LazyFile> {
        let page = self.pages.get(&self.page_of(block))?;
        let at = (block % u64::from(self.manifest.blocks_per_page)) as usize * HASH_BYTES;
        let hex = hex(page.get(at..at + HASH_BYTES)?);
        let rows = self.block_len(block);
        Some(LazyFile {
            name: content_name(&block_stem(block), &hex),
            rows,
            bytes: rows * self.dims as u64,
            blake3: hex,
        })
    }

    /// The row of `id` when an added block or the pool holds it.
    pub fn row(&self, id: u32) -> Option<&[u8]> {
        let d = self.dims;
        if let Some(block) = self.blocks.get(&self.block_of(id)) {
            let at = (id % self.manifest.block_rows) as usize * d;
            return block.get(at..at + d);
        }
        self.pool.as_ref()?.row(id, d)
    }

    /// The pool's ids once its file is added.
    pub fn pool_ids(&self) -> Option<&[u32]> {
        self.pool.as_ref().map(|pool| pool.ids.as_slice())
    }

    /// The pool's file while it is not added.
    pub fn missing_pool(&self) -> Option<&LazyFile> {
        self.pool.is_none().then_some(&self.manifest.pool)
    }

    /// The next layer of files that the rows of `ids` need: the top table, else the pages
    /// their blocks are listed in, else the blocks; nothing once every row is here.
    ///
    /// # Errors
    /// [`IndexError::IdOutOfRange`].
    pub fn missing_for_rows(
        &self,
        ids: impl IntoIterator<Item = u32>,
    ) -> Result<Vec<LazyFile>, IndexError> {
        let mut blocks = BTreeSet::new();
        for id in ids {
            if u64::from(id) >= self.n_points {
                return Err(IndexError::IdOutOfRange {
                    id: id.into(),
                    n: self.n_points,
                });
            }
            if self.row(id).is_none() {
                blocks.insert(self.block_of(id));
            }
        }
        Ok(self.missing_for_blocks(blocks))
    }

    /// The next layer of every file not added yet (the pool aside): the top table, else
    /// the pages, else the blocks; what a check of the whole folder reads.
    pub fn missing_files(&self) -> Vec<LazyFile> {
        let blocks = (0..self.blocks())
            .filter(|b| !self.blocks.contains_key(b))
            .collect();
        self.missing_for_blocks(blocks)
    }

    /// The next layer of files that `blocks` need.
    fn missing_for_blocks(&self, blocks: BTreeSet<u64>) -> Vec<LazyFile> {
        if blocks.is_empty() {
            return Vec::new();
        }
        if self.top.is_none() {
            return vec![self.manifest.top.clone()];
        }
        let pages: BTreeSet<u64> = blocks
            .iter()
            .map(|&b| self.page_of(b))
            .filter(|p| !self.pages.contains_key(p))
            .collect();
        if !pages.is_empty() {
            return pages
                .into_iter()
                .filter_map(|p| self.page_file(p))
                .collect();
        }
        blocks
            .into_iter()
            .filter_map(|b| self.block_file(b))
            .collect()
    }

    /// Adds `name` if it is one of these files, after checking it against the hash its
    /// parent holds; `Ok(false)` for a name of another part of the index.
    ///
    /// # Errors
    /// [`IndexError::NotLoaded`] for a page or block whose parent is not added yet,
    /// [`IndexError::UnknownFile`] for a page or block name its parent does not give,
    /// [`IndexError::SizeMismatch`], [`IndexError::HashMismatch`], or
    /// [`IndexError::Corrupt`] for a pool whose ids do not ascend within the collection.
    pub fn add_file(&mut self, name: &str, bytes: &[u8]) -> Result<bool, IndexError> {
        if name == self.manifest.top.name {
            check_listed(&self.manifest.top, bytes)?;
            self.top = Some(bytes.to_vec());
            return Ok(true);
        }
        if name == self.manifest.pool.name {
            check_listed(&self.manifest.pool, bytes)?;
            self.pool = Some(self.decode_pool(name, bytes)?);
            return Ok(true);
        }
        let unknown = || IndexError::UnknownFile { file: name.into() };
        if let Some(page) = numbered(name, "rows-page-") {
            if self.top.is_none() {
                return Err(IndexError::NotLoaded {
                    file: self.manifest.top.name.clone(),
                });
            }
            let entry = self.page_file(page).ok_or_else(unknown)?;
            if entry.name != name {
                return Err(unknown());
            }
            check_listed(&entry, bytes)?;
            self.pages.insert(page, bytes.to_vec());
            return Ok(true);
        }
        if let Some(block) = numbered(name, "rows-") {
            if block >= self.blocks() {
                return Err(unknown());
            }
            let Some(entry) = self.block_file(block) else {
                let page = self.page_of(block);
                let parent = self
                    .page_file(page)
                    .map_or_else(|| self.manifest.top.name.clone(), |file| file.name);
                return Err(IndexError::NotLoaded { file: parent });
            };
            if entry.name != name {
                return Err(unknown());
            }
            check_listed(&entry, bytes)?;
            self.blocks.insert(block, bytes.to_vec());
            return Ok(true);
        }
        Ok(false)
    }

    /// The pool file's ids and rows (its size already checked): ids ascending, each an id
    /// of the collection.
    fn decode_pool(&self, file: &str, bytes: &[u8]) -> Result<IdRows, IndexError> {
        let pool = IdRows::decode(file, bytes, self.manifest.pool.rows as usize)?;
        if let Some(&last) = pool.ids.last()
            && u64::from(last) >= self.n_points
        {
            return Err(corrupt(
                file,
                format!("pool id {last} is past the {} rows", self.n_points),
            ));
        }
        Ok(pool)
    }
}

fn hex(hash: &[u8]) -> String {
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Written {
        data: Vec<u8>,
        files: HashMap<String, Vec<u8>>,
        manifest: RowsManifest,
    }

    const DIMS: usize = 3;

    fn written(n: usize, pool: &[u32]) -> Written {
        let data: Vec<u8> = (0..n * DIMS).map(|i| (i * 31 % 253) as u8).collect();
        let config = RowBlocksConfig {
            block_rows: 10,
            blocks_per_page: 4,
        };
        let mut files = HashMap::new();
        let manifest = write_row_blocks(
            Features::new(&data, DIMS).unwrap(),
            pool,
            &config,
            |name, bytes| {
                files.insert(name.to_owned(), bytes.to_vec());
                Ok::<_, std::io::Error>(())
            },
        )
        .unwrap();
        Written {
            data,
            files,
            manifest,
        }
    }

    /// Fetches what `ids` need layer by layer; returns the names fetched per layer.
    fn fetch(
        rows: &mut RowBlocks,
        files: &HashMap<String, Vec<u8>>,
        ids: &[u32],
    ) -> Vec<Vec<String>> {
        let mut layers = Vec::new();
        loop {
            let missing = rows.missing_for_rows(ids.iter().copied()).unwrap();
            if missing.is_empty() {
                return layers;
            }
            let names: Vec<String> = missing.into_iter().map(|f| f.name).collect();
            for name in &names {
                assert!(rows.add_file(name, &files[name]).unwrap(), "{name}");
            }
            layers.push(names);
        }
    }

    #[test]
    fn rows_are_fetched_through_the_top_a_page_and_a_block_each() {
        // 1,005 rows: 101 blocks (the last of 5 rows), 26 pages (the last of 1 block).
        let w = written(1005, &[]);
        let mut rows = RowBlocks::new(&w.manifest, DIMS, 1005).unwrap();
        assert_eq!(w.manifest.top.rows, 26);
        let ids = [3, 7, 45, 1004];
        let layers = fetch(&mut rows, &w.files, &ids);
        let count: Vec<usize> = layers.iter().map(Vec::len).collect();
        // The top; pages 0, 1 and 25; blocks 0, 4 and 100.
        assert_eq!(count, [1, 3, 3], "{layers:?}");
        for id in 0..1005u32 {
            let expected = &w.data[id as usize * DIMS..(id as usize + 1) * DIMS];
            let fetched = [
                0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 1000, 1001,
                1002, 1003, 1004,
            ];
            assert_eq!(
                rows.row(id),
                fetched.contains(&id).then_some(expected),
                "row {id}"
            );
        }
        assert!(rows.missing_for_rows([1005]).is_err());
    }

    #[test]
    fn the_pool_serves_its_rows_without_blocks() {
        let pool = [2, 19, 600];
        let w = written(1005, &pool);
        let mut rows = RowBlocks::new(&w.manifest, DIMS, 1005).unwrap();
        assert_eq!(rows.missing_pool(), Some(&w.manifest.pool));
        let name = w.manifest.pool.name.clone();
        assert!(rows.add_file(&name, &w.files[&name]).unwrap());
        assert_eq!(rows.pool_ids(), Some(&pool[..]));
        assert!(rows.missing_for_rows(pool).unwrap().is_empty());
        assert_eq!(rows.row(600), Some(&w.data[600 * DIMS..601 * DIMS]));
        assert_eq!(rows.row(601), None);
    }

    #[test]
    fn a_file_out_of_turn_or_damaged_is_refused_and_named() {
        let w = written(100, &[]);
        let mut rows = RowBlocks::new(&w.manifest, DIMS, 100).unwrap();
        let block = w
            .files
            .keys()
            .find(|n| n.starts_with("rows-0000003."))
            .unwrap();
        let err = rows.add_file(block, &w.files[block]).unwrap_err();
        assert!(
            matches!(&err, IndexError::NotLoaded { file } if *file == w.manifest.top.name),
            "{err}"
        );
        let top = w.manifest.top.name.clone();
        let mut damaged = w.files[&top].clone();
        damaged[5] ^= 1;
        assert!(matches!(
            rows.add_file(&top, &damaged),
            Err(IndexError::HashMismatch { .. })
        ));
        assert!(rows.add_file(&top, &w.files[&top]).unwrap());
        let page = w
            .files
            .keys()
            .find(|n| n.starts_with("rows-page-00000."))
            .unwrap();
        assert!(rows.add_file(page, &w.files[page]).unwrap());
        let mut damaged = w.files[block].clone();
        damaged[0] ^= 1;
        let err = rows.add_file(block, &damaged).unwrap_err();
        assert!(err.to_string().contains(block.as_str()), "{err}");
        let renamed = "rows-0000003.0123456789abcdef.shard";
        assert!(matches!(
            rows.add_file(renamed, &w.files[block]),
            Err(IndexError::UnknownFile { .. })
        ));
        assert!(matches!(
            rows.add_file("rows-0000099.0123456789abcdef.shard", &[]),
            Err(IndexError::UnknownFile { .. })
        ));
        assert!(
            !rows
                .add_file("knn-list-00001.0123456789abcdef.shard", &[])
                .unwrap()
        );
        assert!(rows.add_file(block, &w.files[block]).unwrap());
        assert_eq!(rows.row(35), Some(&w.data[35 * DIMS..36 * DIMS]));
    }

    #[test]
    fn a_manifest_that_does_not_fit_the_collection_is_refused() {
        let w = written(100, &[5]);
        assert!(RowBlocks::new(&w.manifest, DIMS, 100).is_ok());
        assert!(matches!(
            RowBlocks::new(&w.manifest, DIMS, 1000),
            Err(IndexError::Manifest { .. })
        ));
        assert!(matches!(
            RowBlocks::new(&w.manifest, DIMS + 1, 100),
            Err(IndexError::Manifest { .. })
        ));
        let mut newer = w.manifest.clone();
        newer.format_version += 1;
        assert!(matches!(
            RowBlocks::new(&newer, DIMS, 100),
            Err(IndexError::FormatVersion { .. })
        ));
    }

    #[test]
    fn every_file_is_named_layer_by_layer_though_the_pool_holds_every_row() {
        let w = written(100, &(0..100).collect::<Vec<_>>());
        let mut rows = RowBlocks::new(&w.manifest, DIMS, 100).unwrap();
        let pool = w.manifest.pool.name.clone();
        rows.add_file(&pool, &w.files[&pool]).unwrap();
        assert!(rows.missing_for_rows(0..100).unwrap().is_empty());
        let mut named = vec![pool];
        loop {
            let missing = rows.missing_files();
            if missing.is_empty() {
                break;
            }
            for file in missing {
                rows.add_file(&file.name, &w.files[&file.name]).unwrap();
                named.push(file.name);
            }
        }
        named.sort();
        let mut all: Vec<String> = w.files.keys().cloned().collect();
        all.sort();
        assert_eq!(named, all);
    }

    #[test]
    fn the_same_rows_give_the_same_files() {
        let (a, b) = (written(333, &[1, 2]), written(333, &[1, 2]));
        assert_eq!(a.files, b.files);
        assert_eq!(a.manifest, b.manifest);
    }
}
