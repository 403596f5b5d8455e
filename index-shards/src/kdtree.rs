//! One kd-tree over a few columns, as the reference builds it (spec section 3), and the box
//! (range) query over it (spec section 5).
//!
//! Shape: a complete binary tree of depth `d`, the smallest with `n / 2^d <= leaf_size`.
//! A node at depth `l` splits on axis `l % dims` at the median position of its points
//! sorted on that axis (the left child takes the extra point of an odd count), so every
//! leaf holds `floor(n / 2^d)` or `ceil(n / 2^d)` points and all leaves share the capacity
//! `ceil(n / 2^d)`. Free slots are padding, marked by the id [`PADDING_ID`] and always at
//! the end of a leaf.
//!
//! Layout (shared by the in-memory [`KdTree`] and the on-disk shards):
//! - nodes in heap order (root 0, children `2i + 1`, `2i + 2`), each with `dims` inclusive
//!   minima then `dims` inclusive maxima; an empty node has minima 255 and maxima 0;
//! - leaf `p` holds `dims` columns of `capacity` values each (column-major, so a leaf is
//!   tested one column at a time in vector registers) and `capacity` ids.
//!
//! The query is written once, over a crate-private leaf store, so the in-memory tree and a
//! tree whose leaves are lazily loaded shards ([`crate::LoadedIndex`]) run the same code.

use crate::features::{MAX_DIMS, MAX_POINTS};
use crate::width::{RowWidth, with_width};
use crate::{Features, IndexError};

/// The id that marks an unused leaf slot; never a point id and never emitted.
pub const PADDING_ID: u32 = u32::MAX;

/// The size of a kd-tree: everything that follows from the point count, the dims and the
/// leaf size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TreeShape {
    n_points: usize,
    dims: usize,
    depth: u32,
    leaf_capacity: usize,
}

impl TreeShape {
    /// The shape of a tree over `n_points` points of `dims` values with at most
    /// `leaf_size` points per leaf.
    ///
    /// # Errors
    /// [`IndexError::Dims`], [`IndexError::TooManyPoints`], or [`IndexError::Config`] for a
    /// zero leaf size or a tree too deep to address on this target.
    pub fn new(n_points: usize, dims: usize, leaf_size: usize) -> Result<Self, IndexError> {
        if dims == 0 || dims > MAX_DIMS {
            return Err(IndexError::Dims {
                dims,
                max: MAX_DIMS,
            });
        }
        if n_points as u64 > MAX_POINTS as u64 {
            return Err(IndexError::TooManyPoints {
                n: n_points,
                max: MAX_POINTS,
            });
        }
        if leaf_size == 0 {
            return Err(IndexError::Config {
                reason: "leaf_size is 0".into(),
            });
        }
        let mut depth = 0u32;
        // n <= leaf_size * 2^d, in u64: n < 2^32 keeps every product below 2^33 * leaf_size.
        while (n_points as u64) > (leaf_size as u64).saturating_mul(1u64 << depth) {
            depth += 1;
        }
        let nodes = (1u64 << (depth + 1)) - 1;
        if usize::try_from(nodes)
            .ok()
            .and_then(|nodes| nodes.checked_mul(2 * dims))
            .is_none()
        {
            return Err(IndexError::Config {
                reason: format!("a tree of depth {depth} does not fit this target's memory"),
            });
        }
        Ok(Self {
            n_points,
            dims,
            depth,
            leaf_capacity: n_points.div_ceil(1usize << depth),
        })
    }

    /// Points in the tree.
    pub fn n_points(&self) -> usize {
        self.n_points
    }

    /// Columns per point.
    pub fn dims(&self) -> usize {
        self.dims
    }

    /// Depth of the leaves (0: the root is the only leaf).
    pub fn depth(&self) -> u32 {
        self.depth
    }

    /// Slots per leaf, `ceil(n / 2^depth)`.
    pub fn leaf_capacity(&self) -> usize {
        self.leaf_capacity
    }

    /// Number of leaves, `2^depth`.
    pub fn leaves(&self) -> usize {
        1 << self.depth
    }

    /// Number of nodes, `2^(depth + 1) - 1`.
    pub fn nodes(&self) -> usize {
        (1 << (self.depth + 1)) - 1
    }

    /// Bytes of node bounds: `nodes * 2 * dims`.
    pub fn bounds_len(&self) -> usize {
        self.nodes() * 2 * self.dims
    }

    /// Bytes of the bounds of levels `0..=level`: the first `2^(level + 1) - 1` nodes, which
    /// a tree's top file holds (node `2^level - 1 + pos` is the `pos`th of its level).
    pub fn bounds_len_to(&self, level: u32) -> usize {
        ((1 << (level + 1)) - 1) * 2 * self.dims
    }

    /// Bytes of the bounds of a subtree's nodes below its root, `height` levels of them
    /// (`2^j` nodes at its `j`th level), which a leaf file holds for its subtree.
    pub fn subtree_bounds_len(&self, height: u32) -> usize {
        ((1 << (height + 1)) - 2) * 2 * self.dims
    }

    /// Points (not padding) in leaf `leaf`: the halving of `n` along the leaf's path.
    pub fn leaf_len(&self, leaf: usize) -> usize {
        (0..self.depth).rev().fold(self.n_points, |m, level| {
            if (leaf >> level) & 1 == 0 {
                m - m / 2
            } else {
                m / 2
            }
        })
    }
}

/// What a box query did: how much of the tree it touched and how many ids it emitted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RangeStats {
    /// Nodes whose bounds were compared with the box.
    pub nodes_visited: u64,
    /// Leaves whose points were compared with the box one by one.
    pub leaves_tested: u64,
    /// Points compared with the box.
    pub points_tested: u64,
    /// Ids emitted (each point at most once).
    pub points_emitted: u64,
}

/// A kd-tree that owns its columns, ids and node bounds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KdTree {
    pub(crate) shape: TreeShape,
    pub(crate) bounds: Vec<u8>,
    pub(crate) points: Vec<u8>,
    pub(crate) ids: Vec<u32>,
}

impl KdTree {
    /// Builds a tree over every column of `features`; point ids are row numbers.
    ///
    /// # Errors
    /// As [`TreeShape::new`].
    pub fn build(features: Features<'_>, leaf_size: usize) -> Result<Self, IndexError> {
        Self::from_rows(features.data().to_vec(), features.dims(), leaf_size)
    }

    /// Builds a tree over row-major `rows` of `dims` values (a multiple of `dims` long).
    pub(crate) fn from_rows(
        mut rows: Vec<u8>,
        dims: usize,
        leaf_size: usize,
    ) -> Result<Self, IndexError> {
        let shape = TreeShape::new(rows.len() / dims.max(1), dims, leaf_size)?;
        let n = shape.n_points;
        let slots = shape.leaves() * shape.leaf_capacity;
        let mut tree = Self {
            shape,
            bounds: vec![0; shape.bounds_len()],
            points: vec![0; slots * dims],
            ids: vec![PADDING_ID; slots],
        };
        // n <= MAX_POINTS was checked by the shape, so every row number fits a u32.
        let mut ids: Vec<u32> = (0..n as u32).collect();
        let mut spare_rows = vec![0u8; rows.len()];
        let mut spare_ids = vec![0u32; n];
        with_width!(dims, w => split(
            w,
            0,
            0,
            Buffers { rows: &mut rows, ids: &mut ids },
            Buffers { rows: &mut spare_rows, ids: &mut spare_ids },
            &mut tree,
        ));
        tree.merge_bounds();
        Ok(tree)
    }

    /// The tree's size.
    pub fn shape(&self) -> &TreeShape {
        &self.shape
    }

    /// Inclusive minima and maxima of node `node` (heap order), or `None` past the end.
    pub fn node_bounds(&self, node: usize) -> Option<(&[u8], &[u8])> {
        let d = self.shape.dims;
        self.bounds
            .get(node * 2 * d..(node + 1) * 2 * d)
            .map(|b| b.split_at(d))
    }

    /// Emits, in slices, the id of every point with `lo <= point <= hi` in every dim;
    /// bounds are given in the order of the tree's columns. A box with `lo > hi` in some
    /// dim is empty.
    ///
    /// # Errors
    /// [`IndexError::QueryDims`] if `lo` or `hi` is not `dims` long.
    pub fn range_query(
        &self,
        lo: &[u8],
        hi: &[u8],
        emit: &mut dyn FnMut(&[u32]),
    ) -> Result<RangeStats, IndexError> {
        range_query(&self.shape, &OwnedLeaves(self), lo, hi, Emit::Ids(emit))
    }

    /// [`Self::range_query`], also handing `emit` the points' values in the tree's
    /// columns, row by row (`dims` values per id), as the leaves hold them: a caller that
    /// needs only those values reads no feature row.
    ///
    /// # Errors
    /// As [`Self::range_query`].
    pub fn range_query_points(
        &self,
        lo: &[u8],
        hi: &[u8],
        emit: &mut dyn FnMut(&[u32], &[u8]),
    ) -> Result<RangeStats, IndexError> {
        range_query(&self.shape, &OwnedLeaves(self), lo, hi, Emit::Points(emit))
    }

    /// The bounds of the nodes below node `pos` of level `level`, level by level (the
    /// layout [`TreeShape::subtree_bounds_len`] counts): what a leaf file of that subtree
    /// holds so that the tree's top file needs only the levels above.
    pub(crate) fn subtree_bounds(&self, level: u32, pos: usize) -> Vec<u8> {
        let node_bytes = 2 * self.shape.dims;
        let height = self.shape.depth - level;
        let mut bounds = Vec::with_capacity(self.shape.subtree_bounds_len(height));
        for j in 1..=height {
            let first = (1usize << (level + j)) - 1 + (pos << j);
            bounds.extend_from_slice(
                &self.bounds[first * node_bytes..(first + (1 << j)) * node_bytes],
            );
        }
        bounds
    }

    /// The column-major points and the ids of leaf `leaf`.
    pub(crate) fn leaf(&self, leaf: usize) -> LeafRef<'_> {
        let cap = self.shape.leaf_capacity;
        let d = self.shape.dims;
        LeafRef {
            points: &self.points[leaf * cap * d..(leaf + 1) * cap * d],
            ids: LeafIds::Native(&self.ids[leaf * cap..(leaf + 1) * cap]),
        }
    }

    /// Writes leaf `leaf` from `m` row-major points and their ids, and its bounds.
    fn write_leaf<W: RowWidth>(&mut self, w: W, leaf: usize, rows: &[u8], ids: &[u32]) {
        let d = w.get();
        let cap = self.shape.leaf_capacity;
        let points = &mut self.points[leaf * cap * d..(leaf + 1) * cap * d];
        for (i, row) in rows.chunks_exact(d).enumerate() {
            for (j, &v) in row.iter().enumerate() {
                points[j * cap + i] = v;
            }
        }
        self.ids[leaf * cap..leaf * cap + ids.len()].copy_from_slice(ids);
        let node = self.shape.leaves() - 1 + leaf;
        let (mins, maxs) = self.bounds[node * 2 * d..(node + 1) * 2 * d].split_at_mut(d);
        mins.fill(u8::MAX);
        maxs.fill(0);
        for row in rows.chunks_exact(d) {
            for ((lo, hi), &v) in mins.iter_mut().zip(maxs.iter_mut()).zip(row) {
                *lo = (*lo).min(v);
                *hi = (*hi).max(v);
            }
        }
    }

    /// Sets every inner node's bounds to the union of its children's, bottom-up.
    fn merge_bounds(&mut self) {
        let d = self.shape.dims;
        for node in (0..self.shape.leaves() - 1).rev() {
            let (parent, below) = self.bounds.split_at_mut((node + 1) * 2 * d);
            let parent = &mut parent[node * 2 * d..];
            let first = (2 * node + 1) * 2 * d - (node + 1) * 2 * d;
            let (left, right) = below[first..first + 4 * d].split_at(2 * d);
            for j in 0..d {
                parent[j] = left[j].min(right[j]);
                parent[d + j] = left[d + j].max(right[d + j]);
            }
        }
    }
}

/// Row-major points and their ids, one segment of the build.
struct Buffers<'b> {
    rows: &'b mut [u8],
    ids: &'b mut [u32],
}

/// Splits the segment `data` of node (`level`, `pos`) at its median on the level's axis
/// into `spare` (a stable three-way partition found from a 256-bin histogram: values are
/// `u8`), then recurses with the roles of the buffers swapped; leaves are written to `tree`.
fn split<W: RowWidth>(
    w: W,
    level: u32,
    pos: usize,
    data: Buffers<'_>,
    spare: Buffers<'_>,
    tree: &mut KdTree,
) {
    let d = w.get();
    if level == tree.shape.depth {
        tree.write_leaf(w, pos, data.rows, data.ids);
        return;
    }
    let axis = level as usize % d;
    let m = data.ids.len();
    let left = m - m / 2;
    let mut histogram = [0usize; 256];
    for row in data.rows.chunks_exact(d) {
        histogram[usize::from(row[axis])] += 1;
    }
    let mut below = 0;
    let mut median = 0u8;
    for (value, &count) in (0..=u8::MAX).zip(&histogram) {
        if below + count >= left {
            median = value;
            break;
        }
        below += count;
    }
    // The first `left - below` points equal to the median go left, the rest right.
    let mut equal_left = left - below;
    let (mut l, mut r) = (0, left);
    for (row, &id) in data.rows.chunks_exact(d).zip(data.ids.iter()) {
        // Branch-free: the side of a point is a coin flip the predictor cannot learn.
        let v = row[axis];
        let is_median = v == median;
        let goes_left = (v < median) | (is_median & (equal_left > 0));
        equal_left -= usize::from(is_median & goes_left);
        let at = if goes_left { l } else { r };
        spare.rows[at * d..at * d + d].copy_from_slice(row);
        spare.ids[at] = id;
        l += usize::from(goes_left);
        r += usize::from(!goes_left);
    }
    let (left_rows, right_rows) = spare.rows.split_at_mut(left * d);
    let (left_ids, right_ids) = spare.ids.split_at_mut(left);
    let (free_left_rows, free_right_rows) = data.rows.split_at_mut(left * d);
    let (free_left_ids, free_right_ids) = data.ids.split_at_mut(left);
    split(
        w,
        level + 1,
        2 * pos,
        Buffers {
            rows: left_rows,
            ids: left_ids,
        },
        Buffers {
            rows: free_left_rows,
            ids: free_left_ids,
        },
        tree,
    );
    split(
        w,
        level + 1,
        2 * pos + 1,
        Buffers {
            rows: right_rows,
            ids: right_ids,
        },
        Buffers {
            rows: free_right_rows,
            ids: free_right_ids,
        },
        tree,
    );
}

/// The ids of one leaf, in memory or in an archived shard (little-endian on disk).
pub(crate) enum LeafIds<'a> {
    Native(&'a [u32]),
    Archived(&'a [rkyv::rend::u32_le]),
}

/// One leaf: `dims` columns of `capacity` values, and `capacity` ids.
pub(crate) struct LeafRef<'a> {
    pub(crate) points: &'a [u8],
    pub(crate) ids: LeafIds<'a>,
}

/// Where a query finds leaves: the tree itself, or shards that may not be loaded yet.
pub(crate) trait LeafStore<'a> {
    /// Leaf `leaf`; its slices must have the shape's lengths and its first
    /// `leaf_len(leaf)` ids must be point ids.
    fn leaf(&self, leaf: usize) -> Result<LeafRef<'a>, IndexError>;
    /// The bounds of node `pos` of level `level`: `dims` minimums, then `dims` maximums.
    fn node_bounds(&self, level: u32, pos: usize) -> Result<&'a [u8], IndexError>;
}

struct OwnedLeaves<'a>(&'a KdTree);

impl<'a> LeafStore<'a> for OwnedLeaves<'a> {
    fn leaf(&self, leaf: usize) -> Result<LeafRef<'a>, IndexError> {
        Ok(self.0.leaf(leaf))
    }

    fn node_bounds(&self, level: u32, pos: usize) -> Result<&'a [u8], IndexError> {
        Ok(level_node(&self.0.bounds, self.0.shape.dims, level, pos))
    }
}

/// The bounds of node `pos` of level `level` in `bounds`, a tree's node bounds level by
/// level from the root (all of them, or the upper levels a top file holds): `dims`
/// minimums, then `dims` maximums.
pub(crate) fn level_node(bounds: &[u8], dims: usize, level: u32, pos: usize) -> &[u8] {
    let node = (1 << level) - 1 + pos;
    &bounds[node * 2 * dims..(node + 1) * 2 * dims]
}

/// Checks that `lo` and `hi` have one bound per dim.
pub(crate) fn check_box(dims: usize, lo: &[u8], hi: &[u8]) -> Result<(), IndexError> {
    for (what, bound) in [("box lo", lo), ("box hi", hi)] {
        if bound.len() != dims {
            return Err(IndexError::QueryDims {
                what,
                got: bound.len(),
                expected: dims,
            });
        }
    }
    Ok(())
}

/// Walks the nodes of the levels `0..=depth` whose bounds (`node_bounds(level, pos)`)
/// meet the box `lo..=hi` and calls `on_leaves(first, count, inside)` for each run of
/// nodes of level `depth` reached: `inside` when their whole subtree lies in the box (no
/// point needs a test), else a single node whose points must be tested. A tree's own depth
/// walks to its leaves; a smaller one finds the subtrees (leaf files) a box reaches.
/// Returns the number of nodes visited. `lo` and `hi` must be as long as the bounds' dims
/// and the box non-empty.
pub(crate) fn walk_box<'a>(
    depth: u32,
    node_bounds: impl Fn(u32, usize) -> Result<&'a [u8], IndexError>,
    lo: &[u8],
    hi: &[u8],
    mut on_leaves: impl FnMut(usize, usize, bool) -> Result<(), IndexError>,
) -> Result<u64, IndexError> {
    let d = lo.len();
    let mut visited = 0;
    let mut stack = vec![(0u32, 0usize)];
    while let Some((level, pos)) = stack.pop() {
        visited += 1;
        let (mins, maxs) = node_bounds(level, pos)?.split_at(d);
        let mut meets = true;
        let mut inside = true;
        for j in 0..d {
            meets &= mins[j] <= hi[j] && maxs[j] >= lo[j];
            inside &= mins[j] >= lo[j] && maxs[j] <= hi[j];
        }
        if !meets {
            continue;
        }
        let height = depth - level;
        if inside {
            on_leaves(pos << height, 1 << height, true)?;
        } else if height == 0 {
            on_leaves(pos, 1, false)?;
        } else {
            // Right first on the stack, so leaves come out in id-layout order.
            stack.push((level + 1, 2 * pos + 1));
            stack.push((level + 1, 2 * pos));
        }
    }
    Ok(visited)
}

/// Where a box query hands what it finds: the ids only, or the ids and their points' values
/// (row by row, in the tree's columns).
pub(crate) enum Emit<'e> {
    Ids(&'e mut dyn FnMut(&[u32])),
    Points(&'e mut dyn FnMut(&[u32], &[u8])),
}

/// The box query over any leaf store (see [`KdTree::range_query`]).
pub(crate) fn range_query<'a>(
    shape: &TreeShape,
    store: &impl LeafStore<'a>,
    lo: &[u8],
    hi: &[u8],
    mut emit: Emit<'_>,
) -> Result<RangeStats, IndexError> {
    check_box(shape.dims, lo, hi)?;
    let mut stats = RangeStats::default();
    if lo.iter().zip(hi).any(|(l, h)| l > h) {
        return Ok(stats);
    }
    let (cap, d) = (shape.leaf_capacity, shape.dims);
    let mut mask: Vec<u8> = Vec::with_capacity(cap);
    let mut hits: Vec<u32> = Vec::with_capacity(cap);
    let mut rows: Vec<u8> = Vec::new();
    let node_bounds = |level, pos| store.node_bounds(level, pos);
    stats.nodes_visited = walk_box(shape.depth, node_bounds, lo, hi, |first, count, inside| {
        for leaf in first..first + count {
            let len = shape.leaf_len(leaf);
            if len == 0 {
                continue;
            }
            let LeafRef { points, ids } = store.leaf(leaf)?;
            mask.clear();
            mask.resize(len, 1);
            if !inside {
                stats.leaves_tested += 1;
                stats.points_tested += len as u64;
                for ((column, &l), &h) in points.chunks_exact(cap).zip(lo).zip(hi) {
                    for (m, &v) in mask.iter_mut().zip(&column[..len]) {
                        *m &= u8::from(v >= l) & u8::from(v <= h);
                    }
                }
            }
            hits.clear();
            match ids {
                LeafIds::Native(ids) => hits.extend(
                    ids[..len]
                        .iter()
                        .zip(&mask)
                        .filter(|&(_, &m)| m != 0)
                        .map(|(&id, _)| id),
                ),
                LeafIds::Archived(ids) => hits.extend(
                    ids[..len]
                        .iter()
                        .zip(&mask)
                        .filter(|&(_, &m)| m != 0)
                        .map(|(id, _)| id.to_native()),
                ),
            }
            if hits.is_empty() {
                continue;
            }
            stats.points_emitted += hits.len() as u64;
            match &mut emit {
                Emit::Ids(emit) => emit(&hits),
                Emit::Points(emit) => {
                    rows.clear();
                    rows.resize(hits.len() * d, 0);
                    for (j, column) in points.chunks_exact(cap).enumerate() {
                        let kept = column[..len].iter().zip(&mask).filter(|&(_, &m)| m != 0);
                        for (row, (&v, _)) in rows.chunks_exact_mut(d).zip(kept) {
                            row[j] = v;
                        }
                    }
                    emit(&hits, &rows);
                }
            }
        }
        Ok(())
    })?;
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_follows_the_spec_rule() {
        let depth = |n, leaf| TreeShape::new(n, 2, leaf).unwrap().depth();
        assert_eq!(depth(0, 500), 0);
        assert_eq!(depth(1, 500), 0);
        assert_eq!(depth(500, 500), 0);
        assert_eq!(depth(501, 500), 1);
        assert_eq!(depth(1000, 500), 1);
        assert_eq!(depth(1001, 500), 2);
        let big = TreeShape::new(1_000_000, 4, 500).unwrap();
        assert_eq!(big.depth(), 11);
        assert_eq!(big.leaf_capacity(), 489);
        assert!(TreeShape::new(10, 2, 0).is_err());
    }

    #[test]
    fn leaf_lengths_sum_to_n_and_fit_the_capacity() {
        for n in [0, 1, 3, 7, 500, 1001, 4097] {
            let shape = TreeShape::new(n, 3, 4).unwrap();
            let lens: Vec<usize> = (0..shape.leaves()).map(|p| shape.leaf_len(p)).collect();
            assert_eq!(lens.iter().sum::<usize>(), n);
            assert!(lens.iter().all(|&m| m <= shape.leaf_capacity()));
        }
    }

    #[test]
    fn splits_at_the_median_and_keeps_exact_bounds() {
        // One column, eight values, leaf size 2: leaves hold the sorted pairs.
        let tree = KdTree::from_rows(vec![7, 1, 5, 3, 8, 2, 6, 4], 1, 2).unwrap();
        assert_eq!(tree.shape().depth(), 2);
        assert_eq!(tree.points, vec![1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(tree.ids, vec![1, 5, 3, 7, 2, 6, 0, 4]);
        assert_eq!(tree.node_bounds(0), Some((&[1u8][..], &[8u8][..])));
        assert_eq!(tree.node_bounds(2), Some((&[5u8][..], &[8u8][..])));
        // A row that raises the maximum also counts for the minimum (spec section 7).
        let tree = KdTree::from_rows(vec![9, 3], 1, 5).unwrap();
        assert_eq!(tree.node_bounds(0), Some((&[3u8][..], &[9u8][..])));
    }

    #[test]
    fn padding_is_marked_by_the_id_only() {
        let tree = KdTree::from_rows(vec![0; 5], 1, 2).unwrap();
        assert_eq!(tree.shape().leaf_capacity(), 2);
        assert_eq!(tree.ids.iter().filter(|&&id| id == PADDING_ID).count(), 3);
        let mut got = Vec::new();
        tree.range_query(&[0], &[0], &mut |ids| got.extend_from_slice(ids))
            .unwrap();
        got.sort_unstable();
        assert_eq!(got, vec![0, 1, 2, 3, 4]);
    }
}
