//! The bytes of one shard file: a 16-byte header, then an rkyv archive read in place.
//!
//! Header: the magic `CBSHARD\0`, the format version (`u32` little-endian) and the shard
//! kind (`u32` little-endian). The version and kind are checked before the archive is
//! touched, so a shard of another version is reported as such rather than as corrupt.
//! The archive starts at byte 16, so a buffer aligned to 16 (an
//! [`rkyv::util::AlignedVec`]) keeps it aligned for [`rkyv::access`], which validates every
//! offset and length with bytecheck before anything is read.

use rkyv::api::high::HighValidator;
use rkyv::bytecheck::CheckBytes;
use rkyv::rancor;

use crate::IndexError;

/// The version of the manifest and shard format this build writes and reads.
pub const FORMAT_VERSION: u32 = 3;

/// Bytes before the archive.
pub(crate) const HEADER_LEN: usize = 16;

const MAGIC: [u8; 8] = *b"CBSHARD\0";

/// Which struct a shard archives; the code is stored in the header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KindCode {
    Features = 1,
    TreeTop = 2,
    TreeLeaves = 3,
}

/// On disk: a run of rows of the `n x dims` feature matrix.
#[derive(rkyv::Archive, rkyv::Serialize)]
pub(crate) struct FeaturesShard {
    pub(crate) dims: u32,
    pub(crate) first_row: u64,
    pub(crate) rows: u64,
    /// `rows x dims`, row-major.
    pub(crate) data: Vec<u8>,
}

/// On disk: a tree's subset, shape, the bounds of its upper levels and the table of its
/// leaf files, enough to tell which leaf files a box needs. The leaf files are named by
/// this table, not by the manifest, so the manifest stays small at any size of leaf file.
///
/// The leaf files are stored one after another in the tree's pack file, in leaf order
/// (file `k` at the sum of the sizes before it), so that a client reads the runs of them a
/// box reaches with a few HTTP range requests: a 10M-image round reaches 3,352 leaf files
/// in 875 runs, and the browser's cost is per request.
#[derive(rkyv::Archive, rkyv::Serialize)]
pub(crate) struct TreeTopShard {
    pub(crate) tree: u32,
    pub(crate) subset: Vec<u16>,
    pub(crate) n_points: u64,
    pub(crate) leaf_size: u64,
    pub(crate) depth: u32,
    pub(crate) leaf_capacity: u64,
    /// The level of the leaf files' roots: leaf file `k` holds the subtree of node `k` of
    /// this level, `2^(depth - chunk_level)` leaves.
    pub(crate) chunk_level: u32,
    /// The bounds of levels `0..=chunk_level`, in the layout of [`crate::kdtree`].
    pub(crate) bounds: Vec<u8>,
    /// Per leaf file, its size in bytes.
    pub(crate) chunk_bytes: Vec<u64>,
    /// Per leaf file, its blake3.
    pub(crate) chunk_hashes: Vec<[u8; 32]>,
    /// The blake3 of the pack file (which names it).
    pub(crate) pack_hash: [u8; 32],
}

/// On disk: the subtree below one node of a tree's `chunk_level`, in the layout of
/// [`crate::kdtree`]: its nodes' bounds and its leaves.
#[derive(rkyv::Archive, rkyv::Serialize)]
pub(crate) struct TreeLeavesShard {
    pub(crate) tree: u32,
    pub(crate) first_leaf: u64,
    pub(crate) leaf_count: u64,
    /// The bounds of the subtree's nodes below its root, level by level
    /// ([`crate::TreeShape::subtree_bounds_len`]).
    pub(crate) bounds: Vec<u8>,
    /// `leaf_count x dims x capacity`: per leaf, its columns.
    pub(crate) points: Vec<u8>,
    /// `leaf_count x capacity`, padding [`crate::PADDING_ID`].
    pub(crate) ids: Vec<u32>,
}

/// Header and archive of `value`, for the shard named `stem` (in errors).
pub(crate) fn encode<T>(stem: &str, kind: KindCode, value: &T) -> Result<Vec<u8>, IndexError>
where
    T: for<'a> rkyv::Serialize<
            rkyv::api::high::HighSerializer<
                rkyv::util::AlignedVec,
                rkyv::ser::allocator::ArenaHandle<'a>,
                rancor::Error,
            >,
        >,
{
    let mut bytes = Vec::new();
    bytes.extend_from_slice(&MAGIC);
    bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    bytes.extend_from_slice(&(kind as u32).to_le_bytes());
    let archive = rkyv::to_bytes::<rancor::Error>(value).map_err(|e| IndexError::Encode {
        stem: stem.to_owned(),
        reason: e.to_string(),
    })?;
    bytes.extend_from_slice(&archive);
    Ok(bytes)
}

/// Checks the header of `bytes` (named `file` in errors) and returns its validated archive.
/// `bytes` must start 16-aligned, as an [`rkyv::util::AlignedVec`] does.
pub(crate) fn open<'b, A>(file: &str, bytes: &'b [u8], kind: KindCode) -> Result<&'b A, IndexError>
where
    A: rkyv::Portable + for<'v> CheckBytes<HighValidator<'v, rancor::Error>>,
{
    let corrupt = |reason: String| IndexError::Corrupt {
        file: file.to_owned(),
        reason,
    };
    let header = bytes
        .get(..HEADER_LEN)
        .ok_or_else(|| corrupt(format!("{} bytes, shorter than the header", bytes.len())))?;
    if header[..8] != MAGIC {
        return Err(corrupt("bad magic at offset 0".into()));
    }
    let version = u32::from_le_bytes([header[8], header[9], header[10], header[11]]);
    if version != FORMAT_VERSION {
        return Err(IndexError::FormatVersion {
            file: file.to_owned(),
            found: version,
            expected: FORMAT_VERSION,
        });
    }
    let found = u32::from_le_bytes([header[12], header[13], header[14], header[15]]);
    if found != kind as u32 {
        return Err(corrupt(format!(
            "shard kind {found} at offset 12, expected {}",
            kind as u32
        )));
    }
    rkyv::access::<A, rancor::Error>(&bytes[HEADER_LEN..])
        .map_err(|e| corrupt(format!("archive invalid: {e}")))
}
