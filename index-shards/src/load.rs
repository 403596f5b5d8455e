//! An index loaded from a manifest and shard bytes, queried in place (zero-copy).
//!
//! Files may be added in any order and only as needed: [`LoadedIndex::needed_leaf_files`]
//! tells from a tree's top shard alone which leaf shards a box needs, so a browser fetches
//! lazily. Every added file is checked against the manifest (size, blake3), its header
//! (magic, version, kind) and its archive (bytecheck), and its content against the
//! manifest's shape (lengths, leaf ranges, every id below `n_points` and padding only where
//! the shape puts it), so a query over loaded shards never indexes out of bounds.

use std::collections::{BTreeSet, HashMap};

use rkyv::util::AlignedVec;

use crate::kdtree::{Emit, LeafIds, LeafRef, LeafStore, range_query, walk_box};
use crate::manifest::{Manifest, ShardKind};
use crate::shard::{
    ArchivedFeaturesShard, ArchivedTreeLeavesShard, ArchivedTreeTopShard, KindCode, open,
};
use crate::{IndexError, PADDING_ID, RangeStats, RowBlocks, TreeShape};

/// Where a manifest file goes once loaded.
#[derive(Clone, Copy, Debug)]
enum Slot {
    Features { chunk: usize },
    TreeTop { tree: usize },
    TreeLeaves { tree: usize, chunk: usize },
}

/// A run of items (rows or leaves) stored in one file, and that file's bytes once loaded.
#[derive(Debug)]
struct Chunk {
    file: usize,
    first: usize,
    count: usize,
    bytes: Option<AlignedVec>,
}

#[derive(Debug)]
struct LoadedTree {
    shape: TreeShape,
    top_file: usize,
    top: Option<AlignedVec>,
    /// Sorted by first leaf, tiling all leaves.
    chunks: Vec<Chunk>,
}

/// An index described by a [`Manifest`], with any subset of its files loaded.
#[derive(Debug)]
pub struct LoadedIndex {
    manifest: Manifest,
    trees: Vec<LoadedTree>,
    /// Sorted by first row, tiling all rows.
    features: Vec<Chunk>,
    /// Index in `manifest.files` of each file name.
    files_by_name: HashMap<String, usize>,
    /// The rows by id, in indexes built with row blocks.
    rows: Option<RowBlocks>,
}

/// Sorts `chunks` by first item and checks that they tile `0..total` (named `what`).
fn check_tiling(chunks: &mut [Chunk], total: usize, what: &str) -> Result<(), IndexError> {
    chunks.sort_by_key(|c| c.first);
    let mut next = 0;
    for chunk in chunks.iter() {
        if chunk.first != next || chunk.count == 0 {
            return Err(IndexError::Manifest {
                reason: format!("{what} files do not tile 0..{total}: a gap or overlap at {next}"),
            });
        }
        next += chunk.count;
    }
    if next != total {
        return Err(IndexError::Manifest {
            reason: format!("{what} files cover 0..{next}, expected 0..{total}"),
        });
    }
    Ok(())
}

impl LoadedIndex {
    /// An index with no file loaded yet, after checking that the manifest describes a
    /// whole, consistent index.
    ///
    /// # Errors
    /// [`IndexError::FormatVersion`], [`IndexError::Manifest`] naming the inconsistency, or
    /// a shape error for impossible dims or sizes.
    pub fn new(manifest: Manifest) -> Result<Self, IndexError> {
        manifest.check_version()?;
        let bad = |reason: String| IndexError::Manifest { reason };
        let n = usize::try_from(manifest.n_points)
            .map_err(|_| bad(format!("n_points {} too large", manifest.n_points)))?;
        crate::Features::new(&[], manifest.dims)?;
        let mut shapes = Vec::with_capacity(manifest.subsets.len());
        for (t, subset) in manifest.subsets.iter().enumerate() {
            if subset.is_empty()
                || !subset.windows(2).all(|w| w[0] < w[1])
                || usize::from(subset[subset.len() - 1]) >= manifest.dims
            {
                return Err(bad(format!(
                    "subset {t} is not ascending dims below {}",
                    manifest.dims
                )));
            }
            shapes.push(TreeShape::new(n, subset.len(), manifest.leaf_size)?);
        }
        let mut top_files: Vec<Option<usize>> = vec![None; shapes.len()];
        let mut leaf_chunks: Vec<Vec<Chunk>> = shapes.iter().map(|_| Vec::new()).collect();
        let mut features = Vec::new();
        let mut files_by_name = HashMap::new();
        for (file, entry) in manifest.files.iter().enumerate() {
            if files_by_name.insert(entry.name.clone(), file).is_some() {
                return Err(bad(format!("{} is listed twice", entry.name)));
            }
            let tree_of = |tree: usize| {
                if tree < shapes.len() {
                    Ok(tree)
                } else {
                    Err(bad(format!(
                        "{}: tree {tree} of {}",
                        entry.name,
                        shapes.len()
                    )))
                }
            };
            match entry.kind {
                ShardKind::Features { first_row, rows } => {
                    let (Ok(first), Ok(count)) =
                        (usize::try_from(first_row), usize::try_from(rows))
                    else {
                        return Err(bad(format!("{}: row range too large", entry.name)));
                    };
                    features.push(Chunk {
                        file,
                        first,
                        count,
                        bytes: None,
                    });
                }
                ShardKind::TreeTop { tree } => {
                    if top_files[tree_of(tree)?].replace(file).is_some() {
                        return Err(bad(format!("tree {tree} has two top files")));
                    }
                }
                ShardKind::TreeLeaves {
                    tree,
                    first_leaf,
                    last_leaf,
                } => {
                    let count = last_leaf
                        .checked_sub(first_leaf)
                        .map(|c| c + 1)
                        .ok_or_else(|| bad(format!("{}: last leaf before first", entry.name)))?;
                    leaf_chunks[tree_of(tree)?].push(Chunk {
                        file,
                        first: first_leaf,
                        count,
                        bytes: None,
                    });
                }
            }
        }
        check_tiling(&mut features, n, "features")?;
        let mut trees = Vec::with_capacity(shapes.len());
        for (t, ((shape, top_file), mut chunks)) in shapes
            .into_iter()
            .zip(top_files)
            .zip(leaf_chunks)
            .enumerate()
        {
            let top_file = top_file.ok_or_else(|| bad(format!("tree {t} has no top file")))?;
            check_tiling(&mut chunks, shape.leaves(), &format!("tree {t} leaves"))?;
            trees.push(LoadedTree {
                shape,
                top_file,
                top: None,
                chunks,
            });
        }
        let rows = manifest
            .rows
            .as_ref()
            .map(|rows| RowBlocks::new(rows, manifest.dims, manifest.n_points))
            .transpose()?;
        Ok(Self {
            manifest,
            trees,
            features,
            files_by_name,
            rows,
        })
    }

    /// Where file `file` of the manifest goes (its kind was checked by [`Self::new`]).
    fn slot(&self, file: usize) -> Slot {
        let find = |chunks: &[Chunk], first: usize| chunks.partition_point(|c| c.first < first);
        match self.manifest.files[file].kind {
            ShardKind::Features { first_row, .. } => Slot::Features {
                chunk: find(&self.features, first_row as usize),
            },
            ShardKind::TreeTop { tree } => Slot::TreeTop { tree },
            ShardKind::TreeLeaves {
                tree, first_leaf, ..
            } => Slot::TreeLeaves {
                tree,
                chunk: find(&self.trees[tree].chunks, first_leaf),
            },
        }
    }

    /// Parses `manifest.json` and makes an index with no file loaded (see [`Self::new`]).
    ///
    /// # Errors
    /// As [`Manifest::from_json`] and [`Self::new`].
    pub fn from_manifest_json(bytes: &[u8]) -> Result<Self, IndexError> {
        Self::new(Manifest::from_json(bytes)?)
    }

    /// The manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Number of points.
    pub fn len(&self) -> usize {
        self.manifest.n_points as usize
    }

    /// Whether the collection is empty.
    pub fn is_empty(&self) -> bool {
        self.manifest.n_points == 0
    }

    /// Feature dims.
    pub fn dims(&self) -> usize {
        self.manifest.dims
    }

    /// The subset of each tree.
    pub fn subsets(&self) -> &[Vec<u16>] {
        &self.manifest.subsets
    }

    /// Whether file `name` has been added.
    pub fn is_loaded(&self, name: &str) -> bool {
        let Some(&file) = self.files_by_name.get(name) else {
            return false;
        };
        match self.slot(file) {
            Slot::Features { chunk } => self.features[chunk].bytes.is_some(),
            Slot::TreeTop { tree } => self.trees[tree].top.is_some(),
            Slot::TreeLeaves { tree, chunk } => self.trees[tree].chunks[chunk].bytes.is_some(),
        }
    }

    /// Names of the files not added yet.
    pub fn missing_files(&self) -> impl Iterator<Item = &str> {
        self.manifest
            .files
            .iter()
            .map(|f| f.name.as_str())
            .filter(|name| !self.is_loaded(name))
    }

    /// Adds the file `name` after checking its size and blake3 against the manifest and
    /// validating its content. The bytes are copied into a 16-aligned buffer.
    ///
    /// # Errors
    /// [`IndexError::UnknownFile`], [`IndexError::SizeMismatch`],
    /// [`IndexError::HashMismatch`], [`IndexError::FormatVersion`], or
    /// [`IndexError::Corrupt`] naming the file and what is wrong in it.
    pub fn add_file(&mut self, name: &str, bytes: &[u8]) -> Result<(), IndexError> {
        if let Some(rows) = &mut self.rows
            && rows.add_file(name, bytes)?
        {
            return Ok(());
        }
        let file = *self
            .files_by_name
            .get(name)
            .ok_or_else(|| IndexError::UnknownFile { file: name.into() })?;
        let slot = self.slot(file);
        let entry = &self.manifest.files[file];
        if bytes.len() as u64 != entry.bytes {
            return Err(IndexError::SizeMismatch {
                file: name.into(),
                expected: entry.bytes,
                actual: bytes.len() as u64,
            });
        }
        let hash = blake3::hash(bytes).to_hex();
        if hash.as_str() != entry.blake3 {
            return Err(IndexError::HashMismatch {
                file: name.into(),
                expected: entry.blake3.clone(),
                actual: hash.to_string(),
            });
        }
        let mut aligned = AlignedVec::<16>::with_capacity(bytes.len());
        aligned.extend_from_slice(bytes);
        let corrupt = |reason: String| IndexError::Corrupt {
            file: name.into(),
            reason,
        };
        match slot {
            Slot::Features { chunk } => {
                let c = &self.features[chunk];
                let shard: &ArchivedFeaturesShard = open(name, &aligned, KindCode::Features)?;
                if shard.dims.to_native() as usize != self.manifest.dims
                    || shard.first_row.to_native() != c.first as u64
                    || shard.rows.to_native() != c.count as u64
                    || shard.data.len() != c.count * self.manifest.dims
                {
                    return Err(corrupt("rows or dims differ from the manifest".into()));
                }
                self.features[chunk].bytes = Some(aligned);
            }
            Slot::TreeTop { tree } => {
                let shape = self.trees[tree].shape;
                let top: &ArchivedTreeTopShard = open(name, &aligned, KindCode::TreeTop)?;
                let subset: Vec<u16> = top.subset.iter().map(|d| d.to_native()).collect();
                if top.tree.to_native() as usize != tree
                    || subset != self.manifest.subsets[tree]
                    || top.n_points.to_native() != self.manifest.n_points
                    || top.leaf_size.to_native() != self.manifest.leaf_size as u64
                    || top.depth.to_native() != shape.depth()
                    || top.leaf_capacity.to_native() != shape.leaf_capacity() as u64
                    || top.bounds.len() != shape.bounds_len()
                {
                    return Err(corrupt(format!(
                        "tree {tree}: subset or shape differs from the manifest"
                    )));
                }
                self.trees[tree].top = Some(aligned);
            }
            Slot::TreeLeaves { tree, chunk } => {
                let t = &self.trees[tree];
                let c = &t.chunks[chunk];
                let shape = t.shape;
                let cap = shape.leaf_capacity();
                let shard: &ArchivedTreeLeavesShard = open(name, &aligned, KindCode::TreeLeaves)?;
                if shard.tree.to_native() as usize != tree
                    || shard.first_leaf.to_native() != c.first as u64
                    || shard.leaf_count.to_native() != c.count as u64
                    || shard.points.len() != c.count * cap * shape.dims()
                    || shard.ids.len() != c.count * cap
                {
                    return Err(corrupt(format!(
                        "tree {tree}: leaf range or lengths differ from the manifest"
                    )));
                }
                for (k, ids) in shard.ids.chunks_exact(cap.max(1)).enumerate() {
                    let leaf = c.first + k;
                    let len = shape.leaf_len(leaf);
                    for (slot, id) in ids.iter().enumerate() {
                        let id = id.to_native();
                        let fine = if slot < len {
                            (id as usize) < shape.n_points()
                        } else {
                            id == PADDING_ID
                        };
                        if !fine {
                            return Err(corrupt(format!(
                                "tree {tree} leaf {leaf} slot {slot}: id {id} out of range or misplaced padding (n_points {})",
                                shape.n_points()
                            )));
                        }
                    }
                }
                self.trees[tree].chunks[chunk].bytes = Some(aligned);
            }
        }
        Ok(())
    }

    fn tree(&self, tree: usize) -> Result<&LoadedTree, IndexError> {
        self.trees.get(tree).ok_or(IndexError::TreeOutOfRange {
            tree,
            trees: self.trees.len(),
        })
    }

    fn not_loaded(&self, file: usize) -> IndexError {
        IndexError::NotLoaded {
            file: self.manifest.files[file].name.clone(),
        }
    }

    /// The validated top shard of tree `tree`.
    fn top(&self, tree: usize) -> Result<(&LoadedTree, &ArchivedTreeTopShard), IndexError> {
        let t = self.tree(tree)?;
        let bytes = t.top.as_ref().ok_or_else(|| self.not_loaded(t.top_file))?;
        let name = &self.manifest.files[t.top_file].name;
        Ok((t, open(name, bytes, KindCode::TreeTop)?))
    }

    /// Names of the leaf files a box query on tree `tree` reads, in leaf order; needs only
    /// the tree's top file. An empty box needs none.
    ///
    /// # Errors
    /// [`IndexError::TreeOutOfRange`], [`IndexError::QueryDims`], or
    /// [`IndexError::NotLoaded`] naming the top file.
    pub fn needed_leaf_files(
        &self,
        tree: usize,
        lo: &[u8],
        hi: &[u8],
    ) -> Result<Vec<&str>, IndexError> {
        let (t, top) = self.top(tree)?;
        crate::kdtree::check_box(t.shape.dims(), lo, hi)?;
        let mut chunks = BTreeSet::new();
        if lo.iter().zip(hi).all(|(l, h)| l <= h) {
            walk_box(&t.shape, &top.bounds, lo, hi, |first, count, _| {
                let from = t.chunks.partition_point(|c| c.first + c.count <= first);
                let to = t.chunks.partition_point(|c| c.first < first + count);
                chunks.extend(from..to);
                Ok(())
            })?;
        }
        Ok(chunks
            .into_iter()
            .map(|c| self.manifest.files[t.chunks[c].file].name.as_str())
            .collect())
    }

    /// Box query on tree `tree`, as [`crate::TreeSet::range_query`], over the loaded shards.
    ///
    /// # Errors
    /// As [`crate::TreeSet::range_query`], and [`IndexError::NotLoaded`] naming the first
    /// needed file that is not loaded (ids may have been emitted before it).
    pub fn range_query(
        &self,
        tree: usize,
        lo: &[u8],
        hi: &[u8],
        emit: &mut dyn FnMut(&[u32]),
    ) -> Result<RangeStats, IndexError> {
        self.query(tree, lo, hi, Emit::Ids(emit))
    }

    /// [`Self::range_query`], also handing `emit` the points' values in the subset's dims,
    /// row by row, from the leaves ([`crate::KdTree::range_query_points`]): no feature row
    /// is read.
    ///
    /// # Errors
    /// As [`Self::range_query`].
    pub fn range_query_points(
        &self,
        tree: usize,
        lo: &[u8],
        hi: &[u8],
        emit: &mut dyn FnMut(&[u32], &[u8]),
    ) -> Result<RangeStats, IndexError> {
        self.query(tree, lo, hi, Emit::Points(emit))
    }

    fn query(
        &self,
        tree: usize,
        lo: &[u8],
        hi: &[u8],
        emit: Emit<'_>,
    ) -> Result<RangeStats, IndexError> {
        let (t, top) = self.top(tree)?;
        let mut store = LoadedLeaves {
            index: self,
            tree: t,
            opened: vec![None; t.chunks.len()],
        };
        range_query(&t.shape, &top.bounds, &mut store, lo, hi, emit)
    }

    /// The features of point `id`: from its features file, else from its row block or the
    /// pool ([`Self::row_blocks`]).
    ///
    /// # Errors
    /// [`IndexError::IdOutOfRange`], or [`IndexError::NotLoaded`] naming its features file.
    pub fn feature_row(&self, id: u32) -> Result<&[u8], IndexError> {
        let i = id as usize;
        if i >= self.len() {
            return Err(IndexError::IdOutOfRange {
                id: id.into(),
                n: self.manifest.n_points,
            });
        }
        self.loaded_row(id).ok_or_else(|| {
            let chunk = &self.features[self.features.partition_point(|c| c.first + c.count <= i)];
            self.not_loaded(chunk.file)
        })
    }

    /// The features of point `id` when a file added so far holds them: its features file,
    /// its row block or the pool. No error is made for a row not here, so a search that
    /// looks rows up in several places stays fast.
    pub fn loaded_row(&self, id: u32) -> Option<&[u8]> {
        let i = id as usize;
        if i >= self.len() {
            return None;
        }
        let chunk = &self.features[self.features.partition_point(|c| c.first + c.count <= i)];
        if chunk.bytes.is_some() {
            let shard = self.features_shard(chunk).ok()?;
            let d = self.manifest.dims;
            return Some(&shard.data[(i - chunk.first) * d..(i - chunk.first + 1) * d]);
        }
        self.rows.as_ref()?.row(id)
    }

    /// The rows by id, in an index built with row blocks ([`crate::write_row_blocks`]).
    pub fn row_blocks(&self) -> Option<&RowBlocks> {
        self.rows.as_ref()
    }

    /// The whole `n x dims` feature matrix, copied from every features file.
    ///
    /// # Errors
    /// [`IndexError::NotLoaded`] naming the first features file not loaded.
    pub fn features_to_vec(&self) -> Result<Vec<u8>, IndexError> {
        let mut all = Vec::with_capacity(self.len() * self.manifest.dims);
        for chunk in &self.features {
            all.extend_from_slice(&self.features_shard(chunk)?.data);
        }
        Ok(all)
    }

    fn features_shard<'a>(
        &'a self,
        chunk: &'a Chunk,
    ) -> Result<&'a ArchivedFeaturesShard, IndexError> {
        let bytes = chunk
            .bytes
            .as_ref()
            .ok_or_else(|| self.not_loaded(chunk.file))?;
        open(
            &self.manifest.files[chunk.file].name,
            bytes,
            KindCode::Features,
        )
    }
}

/// The leaves of one loaded tree, each chunk validated once per query.
struct LoadedLeaves<'a> {
    index: &'a LoadedIndex,
    tree: &'a LoadedTree,
    opened: Vec<Option<&'a ArchivedTreeLeavesShard>>,
}

impl<'a> LeafStore<'a> for LoadedLeaves<'a> {
    fn leaf(&mut self, leaf: usize) -> Result<LeafRef<'a>, IndexError> {
        let chunks = &self.tree.chunks;
        let k = chunks.partition_point(|c| c.first + c.count <= leaf);
        let chunk = &chunks[k];
        let shard = match self.opened[k] {
            Some(shard) => shard,
            None => {
                let bytes = chunk
                    .bytes
                    .as_ref()
                    .ok_or_else(|| self.index.not_loaded(chunk.file))?;
                let name = &self.index.manifest.files[chunk.file].name;
                let shard = open(name, bytes, KindCode::TreeLeaves)?;
                self.opened[k] = Some(shard);
                shard
            }
        };
        let cap = self.tree.shape.leaf_capacity();
        let slots = cap * self.tree.shape.dims();
        let offset = leaf - chunk.first;
        Ok(LeafRef {
            points: &shard.points[offset * slots..(offset + 1) * slots],
            ids: LeafIds::Archived(&shard.ids[offset * cap..(offset + 1) * cap]),
        })
    }
}
