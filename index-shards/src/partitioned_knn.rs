//! k-NN through a partitioned index, for collections too big to fetch whole.
//!
//! Coarse centroids, trained by seeded k-means on the `u8` grid over a seeded sample of
//! the rows ([`Centroids::train`]), cut the collection into lists: each row goes to its
//! nearest centroid. The centroids are one small file and each list another
//! ([`write_knn_lists`]), content-named and listed in the manifest's [`KnnManifest`].
//! A query ranks the centroids and probes the lists nearest first
//! ([`PartitionedKnn::missing_lists`] names those to fetch next); the caller fetches those
//! files however it fetches and hands their bytes over ([`PartitionedKnn::add_list`]:
//! checked against the manifest and validated); [`PartitionedKnn::nearest`] then ranks
//! the probed rows by the exact scan's own rule ([`crate::knn_exact`]). The probe grows
//! (8 lists, then doubling, at most `nprobe`) until no list left can hold a row nearer than
//! the k-th found, or reads at once the few lists that still can: each list's rows'
//! distances are bounded from below by its radius (its farthest row from its centroid) and
//! by the planes halfway between its centroid and those nearest the query (each row is
//! nearest its own centroid). A probe that stops so gives the exact scan's result; one
//! that reaches `nprobe` gives the exact order of the probed candidates. Either depends on the
//! query, `k` and `nprobe` alone, and asking for more neighbours of the same query extends
//! the list already shown (the next page).
//!
//! File format (little-endian): a 28-byte header, the magic `CBKNNIX\0`, the format
//! version ([`KNN_FORMAT_VERSION`], `u32`), the kind (`u32`: 1 centroids, 2 list), dims,
//! the count (lists for the centroids, rows for a list) and the list number (0 for the
//! centroids), each a `u32`; then the centroids' `lists x dims` bytes and each list's
//! squared radius (`u32`), or a list's ids (`rows` of `u32`, ascending) and its
//! `rows x dims` bytes.
//!
//! ```
//! use index_shards::{Centroids, Features, PartitionConfig, PartitionedKnn, knn_exact};
//! use index_shards::{KnnManifest, write_knn_lists};
//!
//! let data: Vec<u8> = (0..4000u32).map(|i| (i * 37 % 251) as u8).collect();
//! let features = Features::new(&data, 4)?;
//! let config = PartitionConfig { lists: 8, ..PartitionConfig::for_rows(1000) };
//! let centroids = Centroids::train(features, &config)?;
//! let mut files = std::collections::HashMap::new();
//! let knn: KnnManifest = write_knn_lists(features, &centroids, |name, bytes| {
//!     files.insert(name.to_owned(), bytes.to_vec());
//!     Ok::<_, std::io::Error>(())
//! })?;
//! let mut index = PartitionedKnn::new(&knn, 4, 1000, &files[&knn.centroids.name])?;
//! let query = [10, 20, 30, 40];
//! // A batch of lists at a time, until the probe is complete.
//! loop {
//!     let next: Vec<String> = index.missing_lists(&query, 8, 5)?.into_iter().map(|f| f.name.clone()).collect();
//!     if next.is_empty() { break; }
//!     for list in next { index.add_list(&list, &files[&list])?; }
//! }
//! assert_eq!(index.nearest(&query, 8, 5)?, knn_exact(features, &query, 5)?);
//! # Ok::<(), index_shards::IndexError>(())
//! ```

use std::collections::{HashMap, HashSet};
use std::error::Error as StdError;
use std::num::NonZeroU64;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rustc_hash::FxHashMap;
use seeded::below;
use serde::{Deserialize, Serialize};

use crate::knn::{TopK, check_query, offer_rows, row_distances};
use crate::lazy_file::{LazyFile, check_listed};
use crate::width::with_width;
use crate::write::write_content_named;
use crate::{Features, IndexError, Neighbour};

/// The version of the centroids and list files and of [`KnnManifest`].
pub const KNN_FORMAT_VERSION: u32 = 2;

/// Lists a query probes unless the caller says otherwise, per `sqrt(lists)`
/// ([`default_nprobe`]). `precompute bench-knn` measured the nprobe that reaches a
/// recall@60 of 0.95 for text-like queries on the benchmark's sets to grow as
/// `sqrt(lists)`: about 165 of 1,000 lists at 1M rows, 300 of 3,162 at 10M; 6 leaves a
/// margin.
pub const NPROBE_PER_SQRT_LISTS: usize = 6;

/// Collections below this many rows are left to the exact scan: all their rows weigh
/// less than a few probed lists of a large collection.
pub const MIN_PARTITIONED_ROWS: usize = 100_000;

const MAGIC: [u8; 8] = *b"CBKNNIX\0";

/// The stem of the centroids file.
pub(crate) const CENTROIDS_STEM: &str = "knn-centroids";

/// The stem of list `list`'s file.
pub(crate) fn list_stem(list: usize) -> String {
    format!("knn-list-{list:05}")
}
pub(crate) const HEADER_LEN: usize = 28;

/// What a file of the partitioned index holds; the code is stored in its header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FileKind {
    Centroids = 1,
    List = 2,
}

/// How to partition a collection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionConfig {
    /// Number of lists (coarse centroids); at most the number of rows.
    pub lists: usize,
    /// Training rows per list: k-means runs on a seeded sample of `lists` times this many
    /// rows (all rows when fewer), so its cost does not grow with the collection.
    pub sample_per_list: usize,
    /// Lloyd iterations at most (fewer once no sample row changes list).
    pub iterations: usize,
    /// Seed of the sample, the initial centroids and the reseeding of empty lists.
    pub seed: u64,
}

impl PartitionConfig {
    /// The measured default for `n` rows: about `sqrt(n)` lists of about `sqrt(n)` rows,
    /// a middle between the files a query fetches and the bytes it fetches.
    pub fn for_rows(n: usize) -> Self {
        Self {
            lists: n.isqrt().max(1),
            sample_per_list: 64,
            iterations: 12,
            seed: 0x6b6e_6e6c,
        }
    }
}

/// The partitioned k-NN section of the index manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KnnManifest {
    /// [`KNN_FORMAT_VERSION`] of the files below.
    pub format_version: u32,
    /// The coarse centroids, one per list.
    pub centroids: LazyFile,
    /// List `l` holds the rows nearest centroid `l`.
    pub lists: Vec<LazyFile>,
}

/// The coarse centroids: `len() x dims()` points on the `u8` grid, and each list's squared
/// radius once its rows are known ([`write_knn_lists`]; `u32::MAX`, no bound, before).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Centroids {
    dims: usize,
    data: Vec<u8>,
    radii: Vec<u32>,
}

/// Centroids nearest a query whose planes bound the other lists ([`Centroids::lower_bound`]).
const BISECTOR_CENTROIDS: usize = 4;

/// Lists a probe reads first; it doubles from there ([`PartitionedKnn::nearest`]).
const FIRST_PROBE: usize = 8;

/// Rows assigned per parallel task.
const ASSIGN_CHUNK_ROWS: usize = 16_384;

impl Centroids {
    /// Seeded k-means on the `u8` grid over a seeded sample of `features` (see
    /// [`PartitionConfig`]): the initial centroids are distinct sample rows, each Lloyd
    /// step moves a centroid to the rounded mean of its rows and reseeds an empty one with
    /// a drawn sample row. Integer arithmetic only, so the same input gives the same
    /// centroids everywhere.
    ///
    /// # Errors
    /// [`IndexError::Config`] for no lists or no rows.
    pub fn train(features: Features<'_>, config: &PartitionConfig) -> Result<Self, IndexError> {
        let (n, dims) = (features.len(), features.dims());
        if config.lists == 0 || n == 0 {
            return Err(IndexError::Config {
                reason: format!("k-NN lists: {} lists over {n} rows", config.lists),
            });
        }
        let lists = config.lists.min(n);
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let sample_len = lists.saturating_mul(config.sample_per_list.max(1)).min(n);
        let mut sample = Vec::with_capacity(sample_len * dims);
        for id in distinct_sorted(&mut rng, n as u32, sample_len as u32) {
            sample.extend_from_slice(features.row(id)?);
        }
        let sample = Features::new(&sample, dims)?;
        let mut centroids = Self {
            dims,
            data: Vec::with_capacity(lists * dims),
            radii: vec![u32::MAX; lists],
        };
        for i in distinct_sorted(&mut rng, sample_len as u32, lists as u32) {
            centroids.data.extend_from_slice(sample.row(i)?);
        }
        let mut assignment = vec![u32::MAX; sample_len];
        for _ in 0..config.iterations {
            let next = centroids.assign(sample);
            if next == assignment {
                break;
            }
            assignment = next;
            let mut sums = vec![0u64; lists * dims];
            let mut counts = vec![0u64; lists];
            for (row, &list) in sample.rows().zip(&assignment) {
                let list = list as usize;
                counts[list] += 1;
                for (sum, &v) in sums[list * dims..(list + 1) * dims].iter_mut().zip(row) {
                    *sum += u64::from(v);
                }
            }
            for (list, &count) in counts.iter().enumerate() {
                let centroid = &mut centroids.data[list * dims..(list + 1) * dims];
                match NonZeroU64::new(count) {
                    None => {
                        let row = sample.row(below(&mut rng, sample_len as u32))?;
                        centroid.copy_from_slice(row);
                    }
                    Some(count) => {
                        for (c, &sum) in centroid.iter_mut().zip(&sums[list * dims..]) {
                            // A mean of u8 values, rounded half up, is a u8.
                            *c = ((sum + count.get() / 2) / count) as u8;
                        }
                    }
                }
            }
        }
        Ok(centroids)
    }

    /// Number of centroids (lists).
    pub fn len(&self) -> usize {
        self.data.len() / self.dims
    }

    /// Whether there are none (never, for trained centroids).
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Values per centroid.
    pub fn dims(&self) -> usize {
        self.dims
    }

    /// Squared distances of `row` to every centroid, by the exact scan's rule.
    fn distances(&self, row: &[u8], out: &mut [u32]) {
        with_width!(self.dims, w => row_distances(w, &self.data, row, out));
    }

    /// The nearest centroid of each row of `features` (ties to the lower list), in
    /// parallel natively.
    ///
    /// # Panics
    /// If `features` has other dims than the centroids (callers check).
    fn assign(&self, features: Features<'_>) -> Vec<u32> {
        assert_eq!(
            features.dims(),
            self.dims,
            "rows and centroids differ in dims"
        );
        let starts: Vec<usize> = (0..features.len()).step_by(ASSIGN_CHUNK_ROWS).collect();
        let d = self.dims;
        let per_chunk = crate::par::map_ordered(&starts, |&start| {
            let end = (start + ASSIGN_CHUNK_ROWS).min(features.len());
            let mut dists = vec![0u32; self.len()];
            features.data()[start * d..end * d]
                .chunks_exact(d)
                .map(|row| {
                    self.distances(row, &mut dists);
                    // `min_by_key` keeps the first of equal keys: the lower list.
                    dists
                        .iter()
                        .enumerate()
                        .min_by_key(|&(_, &dist)| dist)
                        .map_or(0, |(list, _)| list as u32)
                })
                .collect::<Vec<u32>>()
        });
        per_chunk.concat()
    }

    /// Lists by their centroid's distance in `dists` ([`Self::distances`] of a query),
    /// ties by list.
    fn ranked(dists: &[u32]) -> Vec<u32> {
        let mut lists: Vec<u32> = (0..dists.len() as u32).collect();
        lists.sort_unstable_by_key(|&l| (dists[l as usize], l));
        lists
    }

    /// The centroids file.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(HEADER_LEN + self.data.len() + 4 * self.len());
        put_header(&mut bytes, FileKind::Centroids, self.dims, self.len(), 0);
        bytes.extend_from_slice(&self.data);
        for radius in &self.radii {
            bytes.extend_from_slice(&radius.to_le_bytes());
        }
        bytes
    }

    /// Sets each list's squared radius from `assignment` (each row's list) of `features`.
    fn bound_radii(&mut self, features: Features<'_>, assignment: &[u32]) {
        let d = self.dims;
        self.radii = vec![0; self.len()];
        for (row, &list) in features.rows().zip(assignment) {
            let centroid = &self.data[list as usize * d..(list as usize + 1) * d];
            let mut dist = [0u32];
            with_width!(d, w => row_distances(w, centroid, row, &mut dist));
            let radius = &mut self.radii[list as usize];
            *radius = (*radius).max(dist[0]);
        }
    }

    /// The least distance any row of list `list` can have from a query whose squared
    /// distances to the centroids are `dists`, in `f64`: the larger of two bounds.
    /// - The list's radius: no row is farther than it from the centroid (the triangle
    ///   inequality).
    /// - Its Voronoi cell: each row is at least as near its own centroid `j` as any other
    ///   centroid `i` (rows go to their nearest centroid), so it lies on `j`'s side of the
    ///   plane halfway between them, at least `(dists[j] - dists[i]) / (2 |c_j - c_i|)`
    ///   from the query. Taken over the centroids `nearest` the query, where the plane is
    ///   nearest to it; far tighter than the radius in many dims, where radii are wide.
    fn lower_bound(&self, list: usize, dists: &[u32], nearest: &[u32]) -> f64 {
        let dist = dists[list];
        let mut bound = (f64::from(dist).sqrt() - f64::from(self.radii[list]).sqrt()).max(0.0);
        let centroid = |l: usize| &self.data[l * self.dims..(l + 1) * self.dims];
        for &other in nearest {
            let other = other as usize;
            if dists[other] < dist {
                let mut apart = [0u32];
                with_width!(self.dims, w => row_distances(w, centroid(other), centroid(list), &mut apart));
                let plane = f64::from(dist - dists[other]) / (2.0 * f64::from(apart[0]).sqrt());
                bound = bound.max(plane);
            }
        }
        bound
    }

    /// Reads a centroids file (named `file` in errors) of `dims`-long centroids.
    ///
    /// # Errors
    /// [`IndexError::FormatVersion`], or [`IndexError::Corrupt`] for a bad magic or kind,
    /// other dims, no centroids, or a length that is not the header's.
    pub fn from_bytes(file: &str, bytes: &[u8], dims: usize) -> Result<Self, IndexError> {
        let header = read_header(file, bytes, FileKind::Centroids, dims)?;
        if header.count == 0 {
            return Err(corrupt(file, "no centroids".into()));
        }
        let body = body(file, bytes, header.count, dims + 4)?;
        let (data, radii) = body.split_at(header.count * dims);
        Ok(Self {
            dims,
            data: data.to_vec(),
            radii: radii.chunks_exact(4).map(le_u32).collect(),
        })
    }
}

/// Lists probed per query by default among `lists`: [`NPROBE_PER_SQRT_LISTS`] times the
/// square root of their number, all of them when they are few.
pub fn default_nprobe(lists: usize) -> usize {
    (NPROBE_PER_SQRT_LISTS * lists.isqrt()).clamp(1, lists.max(1))
}

/// `count` distinct values of `0..n`, ascending, drawn by Floyd's algorithm (memory
/// proportional to `count`, not `n`).
fn distinct_sorted(rng: &mut ChaCha8Rng, n: u32, count: u32) -> Vec<u32> {
    let mut chosen = HashSet::with_capacity(count as usize);
    for j in n - count..n {
        let t = below(rng, j + 1);
        if !chosen.insert(t) {
            chosen.insert(j);
        }
    }
    let mut chosen: Vec<u32> = chosen.into_iter().collect();
    chosen.sort_unstable();
    chosen
}

fn put_header(bytes: &mut Vec<u8>, kind: FileKind, dims: usize, count: usize, list: usize) {
    bytes.extend_from_slice(&MAGIC);
    for value in [
        KNN_FORMAT_VERSION,
        kind as u32,
        dims as u32,
        count as u32,
        list as u32,
    ] {
        bytes.extend_from_slice(&value.to_le_bytes());
    }
}

/// The header fields that vary between files of one kind.
struct Header {
    count: usize,
    list: u32,
}

fn corrupt(file: &str, reason: String) -> IndexError {
    IndexError::Corrupt {
        file: file.to_owned(),
        reason,
    }
}

fn le_u32(bytes: &[u8]) -> u32 {
    u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

/// Checks the magic, version, kind and dims of `bytes` (named `file` in errors).
fn read_header(
    file: &str,
    bytes: &[u8],
    kind: FileKind,
    dims: usize,
) -> Result<Header, IndexError> {
    let header = bytes.get(..HEADER_LEN).ok_or_else(|| {
        corrupt(
            file,
            format!(
                "truncated: {} bytes, shorter than the {HEADER_LEN}-byte header",
                bytes.len()
            ),
        )
    })?;
    if header[..8] != MAGIC {
        return Err(corrupt(
            file,
            "bad magic at offset 0: not a k-NN centroids or list file".into(),
        ));
    }
    let version = le_u32(&header[8..]);
    if version != KNN_FORMAT_VERSION {
        return Err(IndexError::FormatVersion {
            file: file.to_owned(),
            found: version,
            expected: KNN_FORMAT_VERSION,
        });
    }
    let found = le_u32(&header[12..]);
    if found != kind as u32 {
        return Err(corrupt(
            file,
            format!("file kind {found} at offset 12, expected {}", kind as u32),
        ));
    }
    let found = le_u32(&header[16..]) as usize;
    if found != dims {
        return Err(corrupt(
            file,
            format!("dims {found} at offset 16, the index has {dims}"),
        ));
    }
    Ok(Header {
        count: le_u32(&header[20..]) as usize,
        list: le_u32(&header[24..]),
    })
}

/// The bytes after the header, which must be `count` entries of `entry_bytes` exactly.
fn body<'b>(
    file: &str,
    bytes: &'b [u8],
    count: usize,
    entry_bytes: usize,
) -> Result<&'b [u8], IndexError> {
    let expected = (count as u64) * (entry_bytes as u64) + HEADER_LEN as u64;
    if bytes.len() as u64 != expected {
        let what = if (bytes.len() as u64) < expected {
            "truncated"
        } else {
            "trailing bytes"
        };
        return Err(corrupt(
            file,
            format!(
                "{what}: {} bytes, the header's {count} entries of {entry_bytes} bytes need {expected}",
                bytes.len()
            ),
        ));
    }
    Ok(&bytes[HEADER_LEN..])
}

/// Ids and their rows back to back: the body of a list file, and the row blocks' pool
/// ([`crate::RowBlocks`]). The ids (`u32`, little-endian) ascend; the rows follow in the
/// same order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct IdRows {
    pub(crate) ids: Vec<u32>,
    pub(crate) rows: Vec<u8>,
}

impl IdRows {
    /// Appends the body of `ids` (ascending) and their rows in `features` to `bytes`.
    pub(crate) fn encode_into(
        ids: &[u32],
        features: Features<'_>,
        bytes: &mut Vec<u8>,
    ) -> Result<(), IndexError> {
        for id in ids {
            bytes.extend_from_slice(&id.to_le_bytes());
        }
        for &id in ids {
            bytes.extend_from_slice(features.row(id)?);
        }
        Ok(())
    }

    /// Reads a body of `count` ids and their rows (the caller has checked its length),
    /// named `file` in errors: the ids must ascend.
    pub(crate) fn decode(file: &str, body: &[u8], count: usize) -> Result<Self, IndexError> {
        let (ids, rows) = body.split_at(count * 4);
        let ids: Vec<u32> = ids.chunks_exact(4).map(le_u32).collect();
        if let Some(at) = ids.windows(2).position(|w| w[0] >= w[1]) {
            return Err(corrupt(
                file,
                format!("ids not ascending at entry {}", at + 1),
            ));
        }
        Ok(Self {
            ids,
            rows: rows.to_vec(),
        })
    }

    /// The row of `id` (of `dims` bytes), if held.
    pub(crate) fn row(&self, id: u32, dims: usize) -> Option<&[u8]> {
        let at = self.ids.binary_search(&id).ok()?;
        Some(&self.rows[at * dims..(at + 1) * dims])
    }

    /// The file of list `list`, whose rows (of `dims`) are `ids` in `features`.
    fn encode_list(
        list: usize,
        ids: &[u32],
        features: Features<'_>,
    ) -> Result<Vec<u8>, IndexError> {
        let dims = features.dims();
        let mut bytes = Vec::with_capacity(HEADER_LEN + ids.len() * (4 + dims));
        put_header(&mut bytes, FileKind::List, dims, ids.len(), list);
        Self::encode_into(ids, features, &mut bytes)?;
        Ok(bytes)
    }

    /// Reads the file of list `list` (named `file` in errors) of a collection of
    /// `n_points` rows of `dims`.
    fn decode_list(
        file: &str,
        bytes: &[u8],
        list: usize,
        dims: usize,
        n_points: u64,
    ) -> Result<Self, IndexError> {
        let header = read_header(file, bytes, FileKind::List, dims)?;
        if header.list as usize != list {
            return Err(corrupt(
                file,
                format!("list {} at offset 24, expected {list}", header.list),
            ));
        }
        let body = body(file, bytes, header.count, 4 + dims)?;
        let decoded = Self::decode(file, body, header.count)?;
        if let Some(&last) = decoded.ids.last()
            && u64::from(last) >= n_points
        {
            return Err(IndexError::IdOutOfRange {
                id: last.into(),
                n: n_points,
            });
        }
        Ok(decoded)
    }
}

/// Writes the centroids file, then every list file, to `sink(name, bytes)` and returns
/// the manifest section naming them. Names are `knn-centroids.<hash>.shard` and
/// `knn-list-<list>.<hash>.shard` (the first 16 hex of blake3). Besides `features`, it
/// holds two `u32` per row (each row's list, then the ids grouped by list) while it runs.
///
/// # Errors
/// [`IndexError::Mismatch`] if the centroids have other dims than `features`,
/// [`IndexError::Sink`] if the sink fails (naming the file).
pub fn write_knn_lists<E>(
    features: Features<'_>,
    centroids: &Centroids,
    mut sink: impl FnMut(&str, &[u8]) -> Result<(), E>,
) -> Result<KnnManifest, IndexError>
where
    E: Into<Box<dyn StdError + Send + Sync>>,
{
    if features.dims() != centroids.dims() {
        return Err(IndexError::Mismatch {
            what: "feature dims and k-NN centroid dims",
            left: features.dims() as u64,
            right: centroids.dims() as u64,
        });
    }
    let mut put = |stem: String, rows: usize, bytes: Vec<u8>| -> Result<LazyFile, IndexError> {
        let (name, hash) = write_content_named(&stem, &bytes, &mut sink)?;
        Ok(LazyFile {
            name,
            rows: rows as u64,
            bytes: bytes.len() as u64,
            blake3: hash,
        })
    };
    // A counting sort of the ids by list: ascending ids within each list.
    let assignment = centroids.assign(features);
    let mut bounded = centroids.clone();
    bounded.bound_radii(features, &assignment);
    let centroids_file = put(CENTROIDS_STEM.into(), bounded.len(), bounded.to_bytes())?;
    let mut starts = vec![0usize; centroids.len() + 1];
    for &list in &assignment {
        starts[list as usize + 1] += 1;
    }
    for l in 0..centroids.len() {
        starts[l + 1] += starts[l];
    }
    let mut next = starts.clone();
    let mut grouped = vec![0u32; assignment.len()];
    for (id, &list) in (0u32..).zip(&assignment) {
        grouped[next[list as usize]] = id;
        next[list as usize] += 1;
    }
    drop(assignment);

    let mut lists = Vec::with_capacity(centroids.len());
    for (list, range) in starts.windows(2).enumerate() {
        let ids = &grouped[range[0]..range[1]];
        let bytes = IdRows::encode_list(list, ids, features)?;
        lists.push(put(list_stem(list), ids.len(), bytes)?);
    }
    Ok(KnnManifest {
        format_version: KNN_FORMAT_VERSION,
        centroids: centroids_file,
        lists,
    })
}

/// A partitioned index: its centroids, and whichever of its lists have been added.
#[derive(Debug)]
pub struct PartitionedKnn {
    manifest: KnnManifest,
    n_points: u64,
    centroids: Centroids,
    lists: Vec<Option<IdRows>>,
    list_by_name: HashMap<String, usize>,
    /// The list and position of every row of the lists added: a search looks up the rows
    /// of thousands of images, too many for a search of each list.
    row_at: FxHashMap<u32, (u32, u32)>,
}

impl PartitionedKnn {
    /// The index of `manifest` (the section of an index of `n_points` rows of `dims`) with
    /// no list added yet, from the bytes of its centroids file.
    ///
    /// # Errors
    /// [`IndexError::FormatVersion`], [`IndexError::Manifest`] if the section is not
    /// consistent (list count, rows, names), or as [`Self::add_list`] for the centroids.
    pub fn new(
        manifest: &KnnManifest,
        dims: usize,
        n_points: u64,
        centroids: &[u8],
    ) -> Result<Self, IndexError> {
        if manifest.format_version != KNN_FORMAT_VERSION {
            return Err(IndexError::FormatVersion {
                file: "the manifest's k-NN section".into(),
                found: manifest.format_version,
                expected: KNN_FORMAT_VERSION,
            });
        }
        let bad = |reason: String| IndexError::Manifest { reason };
        if manifest.centroids.rows != manifest.lists.len() as u64 {
            return Err(bad(format!(
                "{} k-NN centroids for {} lists",
                manifest.centroids.rows,
                manifest.lists.len()
            )));
        }
        let rows: u64 = manifest.lists.iter().map(|l| l.rows).sum();
        if rows != n_points {
            return Err(bad(format!(
                "the k-NN lists hold {rows} rows, the index {n_points}"
            )));
        }
        let mut list_by_name = HashMap::with_capacity(manifest.lists.len());
        for (list, entry) in manifest.lists.iter().enumerate() {
            if list_by_name.insert(entry.name.clone(), list).is_some() {
                return Err(bad(format!("{} is listed twice", entry.name)));
            }
        }
        check_listed(&manifest.centroids, centroids)?;
        let centroids = Centroids::from_bytes(&manifest.centroids.name, centroids, dims)?;
        if centroids.len() != manifest.lists.len() {
            return Err(corrupt(
                &manifest.centroids.name,
                format!(
                    "{} centroids, the manifest lists {}",
                    centroids.len(),
                    manifest.lists.len()
                ),
            ));
        }
        Ok(Self {
            manifest: manifest.clone(),
            n_points,
            lists: vec![None; centroids.len()],
            centroids,
            list_by_name,
            row_at: FxHashMap::default(),
        })
    }

    /// Lists probed per query by default ([`default_nprobe`] of this index's lists).
    pub fn default_nprobe(&self) -> usize {
        default_nprobe(self.lists.len())
    }

    /// The lists the k-NN of `query` reads with the lists added so far, nearest centroid
    /// first: [`FIRST_PROBE`] lists, doubling until the `k` nearest rows found are nearer
    /// than any row of a list left can be (each list's radius bounds that), at most
    /// `nprobe`; or, while some of those lists are not added, the ones to fetch.
    fn probe(&self, query: &[u8], nprobe: usize, k: usize) -> Result<Probe, IndexError> {
        check_query(self.centroids.dims(), query)?;
        if nprobe == 0 {
            return Err(IndexError::Config {
                reason: "nprobe must be at least 1".into(),
            });
        }
        let mut dists = vec![0u32; self.centroids.len()];
        self.centroids.distances(query, &mut dists);
        let ranked = Centroids::ranked(&dists);
        let cap = nprobe.min(ranked.len());
        let nearest = &ranked[..BISECTOR_CENTROIDS.min(ranked.len())];
        let bounds: Vec<f64> = (0..ranked.len())
            .map(|list| self.centroids.lower_bound(list, &dists, nearest))
            .collect();
        // The least distance a row of the lists from each rank on can have.
        let mut beyond = vec![f64::INFINITY; ranked.len() + 1];
        for (at, &list) in ranked.iter().enumerate().rev() {
            beyond[at] = beyond[at + 1].min(bounds[list as usize]);
        }
        let mut top = TopK::new(k);
        let mut probed = FIRST_PROBE.min(cap);
        let mut batch = ranked[..probed].to_vec();
        let mut completing = false;
        loop {
            let missing: Vec<u32> = batch
                .iter()
                .copied()
                .filter(|&l| self.lists[l as usize].is_none())
                .collect();
            if !missing.is_empty() {
                return Ok(Probe::Fetch(missing));
            }
            for &list in &batch {
                let loaded = self.lists[list as usize].as_ref().expect("checked above");
                offer_rows(&mut top, &loaded.rows, loaded.ids.iter().copied(), query);
            }
            // Every list not read is bounded beyond the k-th row found before this batch,
            // so beyond the k-th row now.
            if completing {
                return Ok(Probe::Done(top));
            }
            // Strictly nearer, with a margin for the bound's rounding: a row at the same
            // distance in a list left could win the tie by its id.
            let reach = top.bound().map(|kth| f64::from(kth).sqrt() + 1e-9);
            if probed == cap || reach.is_some_and(|reach| reach < beyond[probed]) {
                return Ok(Probe::Done(top));
            }
            // The lists left that could still hold a row nearer than the k-th found: when
            // they are among the `nprobe` nearest and no more than the next doubling
            // reads, reading them completes the probe (a rare cluster's member at 10M: 39
            // lists where doubling read 128). Within the `nprobe` nearest, a larger `k`
            // that reaches `nprobe` still reads every list this one did: its next page
            // extends this one.
            if let Some(reach) = reach.filter(|&reach| reach < beyond[cap]) {
                let open: Vec<u32> = ranked[probed..cap]
                    .iter()
                    .copied()
                    .filter(|&l| bounds[l as usize] <= reach)
                    .collect();
                if open.len() <= probed {
                    batch = open;
                    completing = true;
                    continue;
                }
            }
            let next = (2 * probed).min(cap);
            batch = ranked[probed..next].to_vec();
            probed = next;
        }
    }

    /// The files of the lists [`Self::probe`] reads next for `query`, `nprobe` and `k`
    /// that are not added yet: what to fetch (nothing once the probe is complete).
    ///
    /// # Errors
    /// [`IndexError::QueryDims`], or [`IndexError::Config`] for `nprobe` 0.
    pub fn missing_lists(
        &self,
        query: &[u8],
        nprobe: usize,
        k: usize,
    ) -> Result<Vec<&LazyFile>, IndexError> {
        Ok(match self.probe(query, nprobe, k)? {
            Probe::Done(_) => Vec::new(),
            Probe::Fetch(lists) => lists
                .into_iter()
                .map(|l| &self.manifest.lists[l as usize])
                .collect(),
        })
    }

    /// Adds the list file `name` after checking its size and blake3 against the manifest
    /// and validating its content (header, list number, length, ids ascending and in range).
    ///
    /// # Errors
    /// [`IndexError::UnknownFile`], [`IndexError::SizeMismatch`],
    /// [`IndexError::HashMismatch`], [`IndexError::FormatVersion`],
    /// [`IndexError::IdOutOfRange`], or [`IndexError::Corrupt`] naming the file and what is
    /// wrong in it.
    pub fn add_list(&mut self, name: &str, bytes: &[u8]) -> Result<(), IndexError> {
        let list = *self
            .list_by_name
            .get(name)
            .ok_or_else(|| IndexError::UnknownFile { file: name.into() })?;
        let entry = &self.manifest.lists[list];
        check_listed(entry, bytes)?;
        let decoded = IdRows::decode_list(name, bytes, list, self.centroids.dims(), self.n_points)?;
        if decoded.ids.len() as u64 != entry.rows {
            return Err(corrupt(
                name,
                format!(
                    "{} rows, the manifest says {}",
                    decoded.ids.len(),
                    entry.rows
                ),
            ));
        }
        for (at, &id) in decoded.ids.iter().enumerate() {
            self.row_at.insert(id, (list as u32, at as u32));
        }
        self.lists[list] = Some(decoded);
        Ok(())
    }

    /// Whether `name` is one of this index's list files.
    pub fn is_list(&self, name: &str) -> bool {
        self.list_by_name.contains_key(name)
    }

    /// The row of image `id` when a list added so far holds it (a neighbour shown from
    /// those lists, whose "more like this" then needs no other file).
    pub fn loaded_row(&self, id: u32) -> Option<&[u8]> {
        let dims = self.centroids.dims();
        let &(list, at) = self.row_at.get(&id)?;
        let list = self.lists[list as usize].as_ref()?;
        Some(&list.rows[at as usize * dims..(at as usize + 1) * dims])
    }

    /// The exact `k` nearest of the rows of the lists probed for `query` (see
    /// [`Self::probe`]: at most `nprobe`, fewer when they prove the rest cannot hold a
    /// nearer row), sorted by `(dist, id)` as [`crate::knn_exact`] sorts; with every list
    /// probed, or a probe that stopped early, its result.
    ///
    /// # Errors
    /// As [`Self::missing_lists`], and [`IndexError::NotLoaded`] naming the first list to
    /// fetch.
    pub fn nearest(
        &self,
        query: &[u8],
        nprobe: usize,
        k: usize,
    ) -> Result<Vec<Neighbour>, IndexError> {
        match self.probe(query, nprobe, k)? {
            Probe::Done(top) => Ok(top.into_sorted()),
            Probe::Fetch(lists) => Err(IndexError::NotLoaded {
                file: self.manifest.lists[lists[0] as usize].name.clone(),
            }),
        }
    }
}

/// How far a probe got with the lists added so far.
enum Probe {
    /// Complete: the `k` nearest rows of the lists it read.
    Done(TopK),
    /// These lists are to be added first.
    Fetch(Vec<u32>),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn features(n: usize, dims: usize) -> Vec<u8> {
        (0..n * dims).map(|i| (i * 131 % 253) as u8).collect()
    }

    #[test]
    fn files_round_trip() {
        let data = features(500, 8);
        let f = Features::new(&data, 8).unwrap();
        let config = PartitionConfig {
            lists: 6,
            ..PartitionConfig::for_rows(500)
        };
        let centroids = Centroids::train(f, &config).unwrap();
        assert_eq!(centroids.len(), 6);
        let bytes = centroids.to_bytes();
        // The centroids, then a squared radius per list (unbounded before the lists).
        assert_eq!(bytes.len(), HEADER_LEN + 6 * 8 + 6 * 4);
        assert_eq!(Centroids::from_bytes("c", &bytes, 8).unwrap(), centroids);

        let ids = [3u32, 17, 400];
        let bytes = IdRows::encode_list(4, &ids, f).unwrap();
        let list = IdRows::decode_list("l", &bytes, 4, 8, 500).unwrap();
        assert_eq!(list.ids, ids);
        let rows: Vec<u8> = ids
            .iter()
            .flat_map(|&id| f.row(id).unwrap())
            .copied()
            .collect();
        assert_eq!(list.rows, rows);
    }

    fn reason(error: IndexError) -> String {
        match error {
            IndexError::Corrupt { file, reason } => format!("{file}: {reason}"),
            other => panic!("expected a corrupt-file error, got {other:?}"),
        }
    }

    #[test]
    fn a_row_is_found_in_the_lists_added_and_nowhere_else() {
        let data = features(400, 4);
        let f = Features::new(&data, 4).unwrap();
        let config = PartitionConfig {
            lists: 5,
            ..PartitionConfig::for_rows(400)
        };
        let centroids = Centroids::train(f, &config).unwrap();
        let mut files = HashMap::new();
        let knn = write_knn_lists(f, &centroids, |name, bytes| {
            files.insert(name.to_owned(), bytes.to_vec());
            Ok::<_, std::io::Error>(())
        })
        .unwrap();
        let mut index = PartitionedKnn::new(&knn, 4, 400, &files[&knn.centroids.name]).unwrap();
        assert!(!index.is_list(&knn.centroids.name));
        let list = &knn.lists[2];
        assert!(index.is_list(&list.name));
        let list_file = IdRows::decode_list(&list.name, &files[&list.name], 2, 4, 400).unwrap();
        let (inside, outside) = (
            list_file.ids[0],
            (0..400).find(|id| !list_file.ids.contains(id)).unwrap(),
        );
        assert_eq!(index.loaded_row(inside), None);
        index.add_list(&list.name, &files[&list.name]).unwrap();
        assert_eq!(index.loaded_row(inside), Some(f.row(inside).unwrap()));
        assert_eq!(index.loaded_row(outside), None);
    }

    #[test]
    fn bad_bytes_are_clear_errors() {
        let data = features(100, 8);
        let f = Features::new(&data, 8).unwrap();
        let good = IdRows::encode_list(1, &[2, 5, 9], f).unwrap();
        let decode = |bytes: &[u8]| IdRows::decode_list("knn-list-00001.x.shard", bytes, 1, 8, 100);

        let truncated = reason(decode(&good[..good.len() - 1]).unwrap_err());
        assert!(
            truncated.contains("truncated: 63 bytes, the header's 3 entries of 12 bytes need 64"),
            "{truncated}"
        );
        assert!(
            truncated.starts_with("knn-list-00001.x.shard"),
            "{truncated}"
        );
        let short = reason(decode(&good[..10]).unwrap_err());
        assert!(short.contains("shorter than the 28-byte header"), "{short}");
        let mut longer = good.clone();
        longer.push(0);
        assert!(reason(decode(&longer).unwrap_err()).contains("trailing bytes"));

        let mut magic = good.clone();
        magic[0] = b'X';
        assert!(reason(decode(&magic).unwrap_err()).contains("bad magic"));

        let other_dims = IdRows::decode_list("l", &good, 1, 16, 100).unwrap_err();
        assert!(reason(other_dims).contains("dims 8 at offset 16, the index has 16"));

        let mut version = good.clone();
        version[8] = 9;
        assert!(matches!(
            decode(&version),
            Err(IndexError::FormatVersion {
                found: 9,
                expected: KNN_FORMAT_VERSION,
                ..
            })
        ));
        assert!(reason(IdRows::decode_list("l", &good, 2, 8, 100).unwrap_err()).contains("list 1"));
        assert!(reason(Centroids::from_bytes("c", &good, 8).unwrap_err()).contains("file kind 2"));
        assert!(matches!(
            IdRows::decode_list("l", &good, 1, 8, 9),
            Err(IndexError::IdOutOfRange { id: 9, n: 9 })
        ));
        let mut unsorted = good.clone();
        unsorted[HEADER_LEN..HEADER_LEN + 4].copy_from_slice(&7u32.to_le_bytes());
        assert!(reason(decode(&unsorted).unwrap_err()).contains("not ascending at entry 1"));
    }

    #[test]
    fn distinct_draws_are_distinct_and_in_range() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let all = distinct_sorted(&mut rng, 10, 10);
        assert_eq!(all, (0..10).collect::<Vec<_>>());
        let some = distinct_sorted(&mut rng, 1000, 50);
        assert_eq!(some.len(), 50);
        assert!(some.windows(2).all(|w| w[0] < w[1]) && some[49] < 1000);
    }
}
