//! Nearest neighbours of a text query among the image features, by squared Euclidean
//! distance on the `u8` grid: an exact flat scan ([`knn_exact`]) and the reference's
//! kd-tree search over all dims ([`KnnTree`]), which is approximate once it stops early.
//!
//! Results are sorted by `(dist, id)`, so ties come out the same on every platform.

use std::collections::BinaryHeap;

use crate::kdtree::KdTree;
use crate::width::{RowWidth, with_width};
use crate::{Features, IndexError};

/// A point and its squared Euclidean distance to the query. Orders by `(dist, id)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Neighbour {
    /// Squared Euclidean distance (at most `dims * 255^2`, which fits `u32` for any dims).
    pub dist: u32,
    /// Point id.
    pub id: u32,
}

/// The `k` nearest of a stream of candidates (a max-heap of the best so far).
pub(crate) struct TopK {
    k: usize,
    heap: BinaryHeap<Neighbour>,
}

impl TopK {
    pub(crate) fn new(k: usize) -> Self {
        Self {
            k,
            heap: BinaryHeap::with_capacity(k + 1),
        }
    }

    /// The distance a candidate must not exceed to enter, or `None` while not full.
    pub(crate) fn bound(&self) -> Option<u32> {
        (self.heap.len() == self.k).then(|| self.heap.peek().map_or(0, |n| n.dist))
    }

    #[inline]
    fn offer(&mut self, candidate: Neighbour) {
        if self.heap.len() < self.k {
            self.heap.push(candidate);
        } else if let Some(mut worst) = self.heap.peek_mut()
            && candidate < *worst
        {
            *worst = candidate;
        }
    }

    pub(crate) fn into_sorted(self) -> Vec<Neighbour> {
        self.heap.into_sorted_vec()
    }
}

pub(crate) fn check_query(dims: usize, query: &[u8]) -> Result<(), IndexError> {
    if query.len() == dims {
        Ok(())
    } else {
        Err(IndexError::QueryDims {
            what: "k-NN query",
            got: query.len(),
            expected: dims,
        })
    }
}

/// Rows per block of the flat scan: a block's distances stay in L1.
const SCAN_BLOCK_ROWS: usize = 4096;

/// Contiguous runs of blocks scanned in parallel, each keeping one running top-k so its
/// k-th distance prunes across blocks; a few per core balance uneven load.
const SCAN_STRIPES: usize = 8;

/// The exact `k` nearest rows of `features` to `query`, sorted by `(dist, id)`; fewer when
/// the collection is smaller. Scans stripes of blocks in parallel natively.
///
/// # Errors
/// [`IndexError::QueryDims`] if `query` is not `features.dims()` long.
pub fn knn_exact(
    features: Features<'_>,
    query: &[u8],
    k: usize,
) -> Result<Vec<Neighbour>, IndexError> {
    check_query(features.dims(), query)?;
    let (n, d) = (features.len(), features.dims());
    let stripe_rows = n.div_ceil(SCAN_STRIPES).next_multiple_of(SCAN_BLOCK_ROWS);
    let stripes: Vec<usize> = (0..n).step_by(stripe_rows.max(1)).collect();
    let per_block = crate::par::map_ordered(&stripes, |&start| {
        let end = (start + stripe_rows).min(n);
        let mut top = TopK::new(k);
        let rows = &features.data()[start * d..end * d];
        offer_rows(&mut top, rows, start as u32.., query);
        top.into_sorted()
    });
    let mut all: Vec<Neighbour> = per_block.concat();
    all.sort_unstable();
    all.truncate(k);
    Ok(all)
}

/// Offers every row of row-major `rows` (rows of `query.len()`), whose ids are `ids` in
/// order, to `top`: the one ranking rule of the exact scan and of the partitioned k-NN
/// ([`crate::PartitionedKnn`]), so both order the same candidates the same way.
pub(crate) fn offer_rows(
    top: &mut TopK,
    rows: &[u8],
    ids: impl IntoIterator<Item = u32>,
    query: &[u8],
) {
    let d = query.len();
    let mut dists = [0u32; SCAN_BLOCK_ROWS];
    let mut bound = top.bound().unwrap_or(u32::MAX);
    let mut ids = ids.into_iter();
    for block in rows.chunks(SCAN_BLOCK_ROWS * d) {
        let dists = &mut dists[..block.len() / d];
        with_width!(d, w => row_distances(w, block, query, dists));
        // `dists` first: zip stops on it without taking an id of the next block.
        for (&dist, id) in dists.iter().zip(ids.by_ref()) {
            // Most rows lose to the current k-th: one compare with a register, no heap work.
            if dist <= bound {
                top.offer(Neighbour { dist, id });
                bound = top.bound().unwrap_or(u32::MAX);
            }
        }
    }
}

/// Squared distances of row-major `rows` to `query`, one per row, into `out`.
#[inline]
pub(crate) fn row_distances<W: RowWidth>(w: W, rows: &[u8], query: &[u8], out: &mut [u32]) {
    let d = w.get();
    let query = &query[..d];
    for (row, out) in rows.chunks_exact(d).zip(out) {
        *out = row
            .iter()
            .zip(query)
            .map(|(&a, &b)| {
                let e = u32::from(a.abs_diff(b));
                e * e
            })
            .sum();
    }
}

/// The reference's text-search tree: a kd-tree over all feature dims searched depth-first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KnnTree {
    tree: KdTree,
}

/// Leaf scans with no limit: [`KnnTree::search`] is then exact.
pub const UNLIMITED_LEAVES: usize = usize::MAX;

impl KnnTree {
    /// Builds the tree over every column of `features` (ids are row numbers).
    ///
    /// # Errors
    /// As [`crate::TreeShape::new`].
    pub fn build(features: Features<'_>, leaf_size: usize) -> Result<Self, IndexError> {
        KdTree::build(features, leaf_size).map(|tree| Self { tree })
    }

    /// The underlying kd-tree.
    pub fn tree(&self) -> &KdTree {
        &self.tree
    }

    /// The `k` nearest points found, sorted by `(dist, id)`: depth-first, near child first,
    /// the far child only while its bounding box is not farther than the current k-th
    /// distance (the box distance is at least the splitting plane's, so this prunes as the
    /// reference does and more), stopping after `stop_leaves` leaf scans. With
    /// [`UNLIMITED_LEAVES`] the result equals [`knn_exact`].
    ///
    /// # Errors
    /// [`IndexError::QueryDims`] if `query` is not `dims` long.
    pub fn search(
        &self,
        query: &[u8],
        k: usize,
        stop_leaves: usize,
    ) -> Result<Vec<Neighbour>, IndexError> {
        let shape = self.tree.shape();
        check_query(shape.dims(), query)?;
        let mut search = Search {
            tree: &self.tree,
            query,
            top: TopK::new(k),
            leaves_left: stop_leaves,
            dists: vec![0; shape.leaf_capacity()],
        };
        if k > 0 {
            search.visit(0, 0);
        }
        Ok(search.top.into_sorted())
    }
}

struct Search<'t> {
    tree: &'t KdTree,
    query: &'t [u8],
    top: TopK,
    leaves_left: usize,
    dists: Vec<u32>,
}

impl Search<'_> {
    fn visit(&mut self, level: u32, pos: usize) {
        if self.leaves_left == 0 {
            return;
        }
        let shape = *self.tree.shape();
        if level == shape.depth() {
            self.leaves_left -= 1;
            self.scan_leaf(pos);
            return;
        }
        let node = (1 << level) - 1 + pos;
        let axis = level as usize % shape.dims();
        let split = self
            .tree
            .node_bounds(2 * node + 2)
            .map_or(u8::MAX, |(mins, _)| mins[axis]);
        let (near, far) = if self.query[axis] < split {
            (2 * pos, 2 * pos + 1)
        } else {
            (2 * pos + 1, 2 * pos)
        };
        self.visit(level + 1, near);
        let far_node = (1 << (level + 1)) - 1 + far;
        let gap = self.box_distance(far_node);
        if self.top.bound().is_none_or(|bound| gap <= bound) {
            self.visit(level + 1, far);
        }
    }

    /// Squared distance from the query to the bounding box of `node`.
    fn box_distance(&self, node: usize) -> u32 {
        let Some((mins, maxs)) = self.tree.node_bounds(node) else {
            return u32::MAX;
        };
        self.query
            .iter()
            .zip(mins.iter().zip(maxs))
            .map(|(&q, (&lo, &hi))| {
                let e = u32::from(lo.saturating_sub(q).max(q.saturating_sub(hi)));
                e * e
            })
            .sum()
    }

    fn scan_leaf(&mut self, leaf: usize) {
        let shape = self.tree.shape();
        let len = shape.leaf_len(leaf);
        if len == 0 {
            return;
        }
        let cap = shape.leaf_capacity();
        let data = self.tree.leaf(leaf);
        let dists = &mut self.dists[..len];
        dists.fill(0);
        for (column, &q) in data.points.chunks_exact(cap).zip(self.query) {
            for (d, &v) in dists.iter_mut().zip(&column[..len]) {
                let e = u32::from(v.abs_diff(q));
                *d += e * e;
            }
        }
        let ids = &self.tree.ids[leaf * cap..leaf * cap + len];
        for (&id, &dist) in ids.iter().zip(dists.iter()) {
            self.top.offer(Neighbour { dist, id });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_sorts_by_distance_then_id() {
        let data = [5, 5, 0, 0, 5, 5, 4, 4, 6, 6];
        let f = Features::new(&data, 2).unwrap();
        let got = knn_exact(f, &[5, 5], 4).unwrap();
        let ids: Vec<u32> = got.iter().map(|n| n.id).collect();
        assert_eq!(ids, vec![0, 2, 3, 4]);
        assert_eq!(got[1].dist, 0);
        assert_eq!(got[2].dist, 2);
        assert!(knn_exact(f, &[1], 1).is_err());
        assert_eq!(knn_exact(f, &[0, 0], 99).unwrap().len(), 5);
        assert!(knn_exact(f, &[0, 0], 0).unwrap().is_empty());
    }
}
