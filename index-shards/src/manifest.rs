//! `manifest.json`: the one unhashed entry file of a dataset's index. It names every shard
//! file with its kind, byte size and blake3 hash, so a client fetches the manifest first and
//! then only the content-hashed shards a query needs (immutable, cacheable forever).

use serde::{Deserialize, Serialize};

use crate::{IndexError, KnnManifest, RowsManifest};

/// File name of the manifest.
pub const MANIFEST_NAME: &str = "manifest.json";

/// Everything a loader needs to know about an index before fetching any shard.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Format of the manifest and every shard ([`crate::FORMAT_VERSION`]).
    pub format_version: u32,
    /// Feature dims.
    pub dims: usize,
    /// Points in the collection.
    pub n_points: u64,
    /// The trees' leaf size.
    pub leaf_size: usize,
    /// Seed the subsets were drawn with.
    pub seed: u64,
    /// The feature subset of each tree, dims ascending.
    pub subsets: Vec<Vec<u16>>,
    /// Every shard file.
    pub files: Vec<ShardFile>,
    /// The partitioned k-NN's files, in indexes built with them (large collections);
    /// readers that do not know the section ignore it and scan every row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub knn: Option<KnnManifest>,
    /// The row blocks and the pool of random negatives, in indexes built with them
    /// (large collections): training and search read rows by id from them instead of
    /// fetching every feature shard. Readers that do not know the section ignore it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<RowsManifest>,
}

/// One shard file of the index.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardFile {
    /// `<stem>.<first 16 hex of blake3>.shard`.
    pub name: String,
    /// What the shard holds.
    #[serde(flatten)]
    pub kind: ShardKind,
    /// Size in bytes.
    pub bytes: u64,
    /// blake3 of the whole file, 64 lower-case hex digits.
    pub blake3: String,
}

/// What a shard file holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ShardKind {
    /// Rows `first_row..first_row + rows` of the feature matrix.
    Features {
        /// First row.
        first_row: u64,
        /// Number of rows.
        rows: u64,
    },
    /// Shape, subset and upper node bounds of tree `tree`, and the table of its leaf
    /// files.
    TreeTop {
        /// Tree index.
        tree: usize,
    },
}

impl Manifest {
    /// The manifest as pretty JSON.
    pub fn to_json(&self) -> Vec<u8> {
        // A struct of strings and integers always serialises.
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }

    /// Names of every file the manifest lists: the shards, the k-NN files, then the
    /// row blocks' top table and pool (the pages and blocks are named by the top table).
    pub fn file_names(&self) -> impl Iterator<Item = &str> {
        let knn = self.knn.iter().flat_map(|knn| {
            std::iter::once(&knn.centroids)
                .chain(&knn.lists)
                .map(|f| f.name.as_str())
        });
        let rows = self
            .rows
            .iter()
            .flat_map(|rows| [rows.top.name.as_str(), rows.pool.name.as_str()]);
        self.files
            .iter()
            .map(|f| f.name.as_str())
            .chain(knn)
            .chain(rows)
    }

    /// Parses `manifest.json` and checks its format version.
    ///
    /// # Errors
    /// [`IndexError::ManifestJson`] for malformed JSON, [`IndexError::FormatVersion`].
    pub fn from_json(bytes: &[u8]) -> Result<Self, IndexError> {
        // The version first: another version's files may not parse as this one's.
        #[derive(Deserialize)]
        struct Version {
            format_version: u32,
        }
        let version: Version = serde_json::from_slice(bytes).map_err(IndexError::ManifestJson)?;
        check_version(version.format_version)?;
        serde_json::from_slice(bytes).map_err(IndexError::ManifestJson)
    }

    pub(crate) fn check_version(&self) -> Result<(), IndexError> {
        check_version(self.format_version)
    }
}

/// [`IndexError::FormatVersion`] unless `found` is the version this build reads.
fn check_version(found: u32) -> Result<(), IndexError> {
    if found == crate::FORMAT_VERSION {
        Ok(())
    } else {
        Err(IndexError::FormatVersion {
            file: MANIFEST_NAME.into(),
            found,
            expected: crate::FORMAT_VERSION,
        })
    }
}
