//! An index loaded from a manifest and shard bytes, queried in place (zero-copy).
//!
//! Files may be added in any order and only as needed: [`LoadedIndex::needed_leaf_files`]
//! tells from a tree's top file alone which leaf files a box needs, so a browser fetches
//! lazily. The manifest names the features and each tree's top file; a top file names its
//! tree's leaf files (their sizes and hashes) and the pack that stores them one after
//! another, so these become known, and can be added, once it is. Every added file is
//! checked against the size and blake3 its parent lists, its header (magic, version, kind)
//! and its archive (bytecheck), and its content against the manifest's shape (lengths, leaf
//! ranges, every id below `n_points` and padding only where the shape puts it), so a query
//! over loaded files never indexes out of bounds.

use std::cell::OnceCell;
use std::collections::{BTreeSet, HashMap};

use rkyv::util::AlignedVec;

use crate::kdtree::{
    Emit, LeafIds, LeafRef, LeafStore, check_box, level_node, range_query, walk_box,
};
use crate::lazy_file::check_listed;
use crate::manifest::{Manifest, ShardKind};
use crate::shard::{
    ArchivedFeaturesShard, ArchivedTreeLeavesShard, ArchivedTreeTopShard, KindCode, open,
};
use crate::write::{content_name, tree_leaves_stem, tree_pack_stem};
use crate::{IndexError, LazyFile, PADDING_ID, RangeStats, RowBlocks, StoredFile, TreeShape};

/// Where a file goes once loaded.
#[derive(Clone, Copy, Debug)]
enum Slot {
    Features { chunk: usize },
    TreeTop { tree: usize },
    TreeLeaves { tree: usize, chunk: usize },
}

/// A run of rows stored in one features file, and that file's bytes once loaded.
#[derive(Debug)]
struct Chunk {
    file: usize,
    first: usize,
    count: usize,
    bytes: Option<AlignedVec>,
}

/// The leaf files of a tree, as its top file names them.
#[derive(Debug)]
struct LeafFiles {
    /// The level of their roots: file `k` holds the subtree of node `k` of this level.
    level: u32,
    /// Each file as the top lists it (`rows`: its leaves).
    listed: Vec<LazyFile>,
    /// Where each file starts in the pack.
    offsets: Vec<u64>,
    /// The pack (`rows`: its files).
    pack: LazyFile,
    /// Each file's bytes once loaded.
    bytes: Vec<Option<AlignedVec>>,
}

#[derive(Debug)]
struct LoadedTree {
    shape: TreeShape,
    top_file: usize,
    top: Option<AlignedVec>,
    /// Known once the top is loaded.
    leaves: Option<LeafFiles>,
}

/// An index described by a [`Manifest`], with any subset of its files loaded.
#[derive(Debug)]
pub struct LoadedIndex {
    manifest: Manifest,
    trees: Vec<LoadedTree>,
    /// Sorted by first row, tiling all rows.
    features: Vec<Chunk>,
    /// Where each file known so far goes: the manifest's, and the leaf files of the
    /// loaded tops.
    files_by_name: HashMap<String, Slot>,
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
        let mut features = Vec::new();
        let mut names = BTreeSet::new();
        for (file, entry) in manifest.files.iter().enumerate() {
            if !names.insert(entry.name.as_str()) {
                return Err(bad(format!("{} is listed twice", entry.name)));
            }
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
                    let Some(top) = top_files.get_mut(tree) else {
                        return Err(bad(format!(
                            "{}: tree {tree} of {}",
                            entry.name,
                            shapes.len()
                        )));
                    };
                    if top.replace(file).is_some() {
                        return Err(bad(format!("tree {tree} has two top files")));
                    }
                }
            }
        }
        check_tiling(&mut features, n, "features")?;
        let mut files_by_name = HashMap::new();
        for (chunk, c) in features.iter().enumerate() {
            files_by_name.insert(
                manifest.files[c.file].name.clone(),
                Slot::Features { chunk },
            );
        }
        let mut trees = Vec::with_capacity(shapes.len());
        for (t, (shape, top_file)) in shapes.into_iter().zip(top_files).enumerate() {
            let top_file = top_file.ok_or_else(|| bad(format!("tree {t} has no top file")))?;
            files_by_name.insert(
                manifest.files[top_file].name.clone(),
                Slot::TreeTop { tree: t },
            );
            trees.push(LoadedTree {
                shape,
                top_file,
                top: None,
                leaves: None,
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
        match self.files_by_name.get(name) {
            None => false,
            Some(&Slot::Features { chunk }) => self.features[chunk].bytes.is_some(),
            Some(&Slot::TreeTop { tree }) => self.trees[tree].top.is_some(),
            Some(&Slot::TreeLeaves { tree, chunk }) => self.trees[tree]
                .leaves
                .as_ref()
                .is_some_and(|leaves| leaves.bytes[chunk].is_some()),
        }
    }

    /// The files known and not added yet, and where each is stored: the manifest's, then
    /// the leaf files of every loaded top (those of a top not loaded become known once it
    /// is, so a caller that wants every file asks again after adding these).
    pub fn missing_files(&self) -> Vec<StoredFile> {
        let listed = self
            .manifest
            .files
            .iter()
            .map(|f| StoredFile::whole(&f.name, f.bytes));
        let leaves = self
            .trees
            .iter()
            .filter_map(|t| t.leaves.as_ref())
            .flat_map(|leaves| (0..leaves.listed.len()).map(|k| leaves.stored(k)));
        listed
            .chain(leaves)
            .filter(|file| !self.is_loaded(&file.name))
            .collect()
    }

    /// Adds the files not added yet, each once, a layer at a time (the manifest's files, then
    /// the leaf files of the tops just added), through `add(self, file)`, which reads the
    /// file where it is stored and adds it ([`Self::add_file`]). The first error `add`
    /// returns ends it; one that records a fault and returns `Ok` goes on with the other
    /// files (a leaf file of a top that was not added is never known).
    ///
    /// # Errors
    /// The first error of `add`.
    pub fn add_missing<E>(
        &mut self,
        mut add: impl FnMut(&mut Self, &StoredFile) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut tried = std::collections::HashSet::new();
        loop {
            let layer: Vec<StoredFile> = self
                .missing_files()
                .into_iter()
                .filter(|file| !tried.contains(&file.name))
                .collect();
            if layer.is_empty() {
                return Ok(());
            }
            for file in layer {
                add(self, &file)?;
                tried.insert(file.name);
            }
        }
    }

    /// The pack of each tree whose top is loaded: the file that stores its leaf files, with
    /// its size and blake3, for a check of the whole file.
    pub fn leaf_packs(&self) -> impl Iterator<Item = &LazyFile> {
        self.trees
            .iter()
            .filter_map(|t| t.leaves.as_ref().map(|leaves| &leaves.pack))
    }

    /// Checks `bytes`, the whole pack `name`, against the size and blake3 its top gives.
    ///
    /// # Errors
    /// [`IndexError::UnknownFile`] if no loaded top names the pack,
    /// [`IndexError::SizeMismatch`], [`IndexError::HashMismatch`].
    pub fn check_leaf_pack(&self, name: &str, bytes: &[u8]) -> Result<(), IndexError> {
        let pack = self
            .leaf_packs()
            .find(|pack| pack.name == name)
            .ok_or_else(|| IndexError::UnknownFile { file: name.into() })?;
        check_listed(pack, bytes)
    }

    /// Adds the file `name` after checking its size and blake3 against its parent's list
    /// (the manifest, or its tree's top file) and validating its content. The bytes are
    /// copied into a 16-aligned buffer. A tree's top file makes its leaf files known.
    ///
    /// # Errors
    /// [`IndexError::UnknownFile`] (also a leaf file of a top not loaded yet),
    /// [`IndexError::SizeMismatch`], [`IndexError::HashMismatch`],
    /// [`IndexError::FormatVersion`], or [`IndexError::Corrupt`] naming the file and what
    /// is wrong in it.
    pub fn add_file(&mut self, name: &str, bytes: &[u8]) -> Result<(), IndexError> {
        if let Some(rows) = &mut self.rows
            && rows.add_file(name, bytes)?
        {
            return Ok(());
        }
        let slot = *self
            .files_by_name
            .get(name)
            .ok_or_else(|| IndexError::UnknownFile { file: name.into() })?;
        let listed = match slot {
            Slot::Features { chunk } => self.listed(self.features[chunk].file),
            Slot::TreeTop { tree } => self.listed(self.trees[tree].top_file),
            Slot::TreeLeaves { tree, chunk } => self.trees[tree]
                .leaves
                .as_ref()
                .map(|leaves| leaves.listed[chunk].clone())
                .expect("leaf files are known once their top is loaded"),
        };
        check_listed(&listed, bytes)?;
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
                if self.trees[tree].top.is_some() {
                    // The same bytes again (the hash matched): its leaf files stay loaded.
                    return Ok(());
                }
                let shape = self.trees[tree].shape;
                let top: &ArchivedTreeTopShard = open(name, &aligned, KindCode::TreeTop)?;
                let subset: Vec<u16> = top.subset.iter().map(|d| d.to_native()).collect();
                let level = top.chunk_level.to_native();
                if top.tree.to_native() as usize != tree
                    || subset != self.manifest.subsets[tree]
                    || top.n_points.to_native() != self.manifest.n_points
                    || top.leaf_size.to_native() != self.manifest.leaf_size as u64
                    || top.depth.to_native() != shape.depth()
                    || top.leaf_capacity.to_native() != shape.leaf_capacity() as u64
                {
                    return Err(corrupt(format!(
                        "tree {tree}: subset or shape differs from the manifest"
                    )));
                }
                if level > shape.depth()
                    || top.bounds.len() != shape.bounds_len_to(level)
                    || top.chunk_bytes.len() != 1 << level
                    || top.chunk_hashes.len() != 1 << level
                {
                    return Err(corrupt(format!(
                        "tree {tree}: leaf file level {level}, its bounds or its table of leaf files do not fit depth {}",
                        shape.depth()
                    )));
                }
                let mut offsets = Vec::with_capacity(top.chunk_bytes.len());
                let mut pack_bytes = 0u64;
                for bytes in top.chunk_bytes.iter() {
                    offsets.push(pack_bytes);
                    pack_bytes = pack_bytes.checked_add(bytes.to_native()).ok_or_else(|| {
                        corrupt(format!("tree {tree}: leaf file sizes overflow the pack"))
                    })?;
                }
                let pack_hash = blake3::Hash::from_bytes(top.pack_hash).to_hex();
                let pack = LazyFile {
                    name: content_name(&tree_pack_stem(tree), &pack_hash),
                    rows: offsets.len() as u64,
                    bytes: pack_bytes,
                    blake3: pack_hash.to_string(),
                };
                let per_file = 1usize << (shape.depth() - level);
                let listed: Vec<LazyFile> = top
                    .chunk_bytes
                    .iter()
                    .zip(top.chunk_hashes.iter())
                    .enumerate()
                    .map(|(k, (bytes, hash))| {
                        let hash = blake3::Hash::from_bytes(*hash).to_hex().to_string();
                        let first = k * per_file;
                        LazyFile {
                            name: content_name(
                                &tree_leaves_stem(tree, first, first + per_file - 1),
                                &hash,
                            ),
                            rows: per_file as u64,
                            bytes: bytes.to_native(),
                            blake3: hash,
                        }
                    })
                    .collect();
                for (chunk, file) in listed.iter().enumerate() {
                    self.files_by_name
                        .insert(file.name.clone(), Slot::TreeLeaves { tree, chunk });
                }
                let t = &mut self.trees[tree];
                t.leaves = Some(LeafFiles {
                    level,
                    bytes: vec![None; listed.len()],
                    listed,
                    offsets,
                    pack,
                });
                t.top = Some(aligned);
            }
            Slot::TreeLeaves { tree, chunk } => {
                let t = &self.trees[tree];
                let level = t.leaves.as_ref().map_or(0, |leaves| leaves.level);
                let shape = t.shape;
                let per_file = 1usize << (shape.depth() - level);
                let first = chunk * per_file;
                let cap = shape.leaf_capacity();
                let shard: &ArchivedTreeLeavesShard = open(name, &aligned, KindCode::TreeLeaves)?;
                if shard.tree.to_native() as usize != tree
                    || shard.first_leaf.to_native() != first as u64
                    || shard.leaf_count.to_native() != per_file as u64
                    || shard.bounds.len() != shape.subtree_bounds_len(shape.depth() - level)
                    || shard.points.len() != per_file * cap * shape.dims()
                    || shard.ids.len() != per_file * cap
                {
                    return Err(corrupt(format!(
                        "tree {tree}: leaf range or lengths differ from its top file"
                    )));
                }
                for (k, ids) in shard.ids.chunks_exact(cap.max(1)).enumerate() {
                    let leaf = first + k;
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
                if let Some(leaves) = &mut self.trees[tree].leaves {
                    leaves.bytes[chunk] = Some(aligned);
                }
            }
        }
        Ok(())
    }

    /// File `file` of the manifest, as a listed file.
    fn listed(&self, file: usize) -> LazyFile {
        let entry = &self.manifest.files[file];
        LazyFile {
            name: entry.name.clone(),
            rows: 0,
            bytes: entry.bytes,
            blake3: entry.blake3.clone(),
        }
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

    /// The leaf files a box query on tree `tree` reads, in leaf order (and so in the order
    /// of their bytes in the pack); needs only the tree's top file. An empty box needs none.
    ///
    /// # Errors
    /// [`IndexError::TreeOutOfRange`], [`IndexError::QueryDims`], or
    /// [`IndexError::NotLoaded`] naming the top file.
    pub fn needed_leaf_files(
        &self,
        tree: usize,
        lo: &[u8],
        hi: &[u8],
    ) -> Result<Vec<StoredFile>, IndexError> {
        let (t, top) = self.top(tree)?;
        let leaves = t.leaves.as_ref().expect("known once the top is loaded");
        check_box(t.shape.dims(), lo, hi)?;
        let mut needed = Vec::new();
        if lo.iter().zip(hi).all(|(l, h)| l <= h) {
            let bounds = top.bounds.as_slice();
            let node_bounds = |level, pos| Ok(level_node(bounds, t.shape.dims(), level, pos));
            // The walk to the leaf files' roots yields each reached file once, in order.
            walk_box(leaves.level, node_bounds, lo, hi, |first, count, _| {
                needed.extend((first..first + count).map(|k| leaves.stored(k)));
                Ok(())
            })?;
        }
        Ok(needed)
    }

    /// Box query on tree `tree`, as [`crate::TreeSet::range_query`], over the loaded files.
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
        let files = t.leaves.as_ref().expect("known once the top is loaded");
        let store = LoadedLeaves {
            tree: t,
            files,
            top: top.bounds.as_slice(),
            opened: vec![OnceCell::new(); files.listed.len()],
        };
        range_query(&t.shape, &store, lo, hi, emit)
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

impl LeafFiles {
    /// Leaf file `k`, where the pack stores it.
    fn stored(&self, k: usize) -> StoredFile {
        StoredFile {
            name: self.listed[k].name.clone(),
            stored_in: self.pack.name.clone(),
            offset: self.offsets[k],
            bytes: self.listed[k].bytes,
        }
    }
}

/// The leaves of one loaded tree, each leaf file validated once per query.
struct LoadedLeaves<'a> {
    tree: &'a LoadedTree,
    files: &'a LeafFiles,
    /// The top's bounds: levels `0..=files.level`.
    top: &'a [u8],
    opened: Vec<OnceCell<&'a ArchivedTreeLeavesShard>>,
}

impl<'a> LoadedLeaves<'a> {
    /// Leaf file `k`, validated.
    fn file(&self, k: usize) -> Result<&'a ArchivedTreeLeavesShard, IndexError> {
        if let Some(shard) = self.opened[k].get() {
            return Ok(shard);
        }
        let name = &self.files.listed[k].name;
        let bytes = self.files.bytes[k]
            .as_ref()
            .ok_or_else(|| IndexError::NotLoaded { file: name.clone() })?;
        let shard = open(name, bytes, KindCode::TreeLeaves)?;
        Ok(*self.opened[k].get_or_init(|| shard))
    }
}

impl<'a> LeafStore<'a> for LoadedLeaves<'a> {
    fn leaf(&self, leaf: usize) -> Result<LeafRef<'a>, IndexError> {
        let height = self.tree.shape.depth() - self.files.level;
        let shard = self.file(leaf >> height)?;
        let cap = self.tree.shape.leaf_capacity();
        let slots = cap * self.tree.shape.dims();
        let offset = leaf & ((1 << height) - 1);
        Ok(LeafRef {
            points: &shard.points[offset * slots..(offset + 1) * slots],
            ids: LeafIds::Archived(&shard.ids[offset * cap..(offset + 1) * cap]),
        })
    }

    fn node_bounds(&self, level: u32, pos: usize) -> Result<&'a [u8], IndexError> {
        let node_bytes = 2 * self.tree.shape.dims();
        if level <= self.files.level {
            return Ok(level_node(self.top, self.tree.shape.dims(), level, pos));
        }
        // Below the files' roots: in the file of the node's subtree, at its relative level
        // `j`, after the `2^j - 2` nodes of the levels above.
        let j = level - self.files.level;
        let shard = self.file(pos >> j)?;
        let node = (1 << j) - 2 + (pos & ((1 << j) - 1));
        Ok(&shard.bounds[node * node_bytes..(node + 1) * node_bytes])
    }
}
