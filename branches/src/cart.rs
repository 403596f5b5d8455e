//! CART decision trees (Gini) over `u8` features, and random forests of them.
//!
//! A tree is the post-filter of a DBranches box and the decision-tree baseline; a forest
//! (bootstrap samples, `sqrt(dims)` features tried per split, majority vote) is the
//! random-forest baseline. Splits are found with a 256-bin histogram per feature, and a
//! threshold lies midway between the two neighbouring values it separates.

use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::gini::{Counts, ValueHistogram, weighted_gini};
use crate::rng::{below, child_rngs, shuffle};
use crate::training::TrainingSet;

/// How deep a tree may grow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TreeSettings {
    /// Deepest level of a split node; `None` = unlimited.
    pub max_depth: Option<u32>,
    /// A node with fewer rows becomes a leaf.
    pub min_samples_split: u32,
}

impl Default for TreeSettings {
    fn default() -> Self {
        Self {
            max_depth: None,
            min_samples_split: 2,
        }
    }
}

/// A node of a [`DecisionTree`]; children always come after their parent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TreeNode {
    /// A decision.
    Leaf {
        /// Whether rows reaching this leaf are relevant.
        positive: bool,
    },
    /// A test `row[dim] <= threshold` (then `left`, else `right`).
    Split {
        /// Feature tested.
        dim: u16,
        /// Midway between the largest value going left and the smallest going right.
        threshold: f32,
        /// Node index when the test holds.
        left: u32,
        /// Node index otherwise.
        right: u32,
    },
}

/// A dim's inclusive range on the `u8` grid: `(dim, lo, hi)`.
pub type DimRange = (u16, u8, u8);

/// A binary decision tree over `u8` rows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DecisionTree {
    nodes: Vec<TreeNode>,
}

impl DecisionTree {
    /// Fits a tree on all rows of `set`, trying every feature at every split; of splits
    /// equally good, the lowest dim's.
    pub fn fit(set: &TrainingSet, settings: &TreeSettings) -> Self {
        let sample = (0..set.len() as u32).collect();
        TreeBuilder::new(set, settings, None).build(sample, None)
    }

    /// As [`DecisionTree::fit`], but trying the features in an order drawn from `rng` at
    /// every split, so that of splits equally good one is taken at random, as
    /// scikit-learn's trees (the reference's post-trees) take it.
    pub fn fit_with_random_ties(
        set: &TrainingSet,
        settings: &TreeSettings,
        rng: &mut ChaCha8Rng,
    ) -> Self {
        let sample = (0..set.len() as u32).collect();
        TreeBuilder::new(set, settings, None).build(sample, Some(rng))
    }

    /// The nodes, root first.
    pub fn nodes(&self) -> &[TreeNode] {
        &self.nodes
    }

    /// Whether the tree calls `row` relevant. A row shorter than a tested dim, or a
    /// malformed tree (see [`Self::validate`]), gives `false`.
    pub fn predict(&self, row: &[u8]) -> bool {
        self.decide(row).0
    }

    /// [`Self::predict`] with the decision's margin: the smallest distance between the
    /// row's value and a threshold on its path (how far the row is from flipping a test);
    /// `f32::INFINITY` for a tree that is one leaf. Ranks rows a tree accepts alike.
    pub fn decide(&self, row: &[u8]) -> (bool, f32) {
        let mut node = 0usize;
        let mut margin = f32::INFINITY;
        // Children come after parents, so a walk visits at most `nodes.len()` nodes.
        for _ in 0..self.nodes.len() {
            match self.nodes.get(node) {
                Some(TreeNode::Leaf { positive }) => return (*positive, margin),
                Some(&TreeNode::Split {
                    dim,
                    threshold,
                    left,
                    right,
                }) => {
                    let Some(&value) = row.get(usize::from(dim)) else {
                        return (false, 0.0);
                    };
                    let value = f32::from(value);
                    margin = margin.min((value - threshold).abs());
                    node = if value <= threshold { left } else { right } as usize;
                }
                None => return (false, 0.0),
            }
        }
        (false, 0.0)
    }

    /// The rows the tree accepts, as a union of boxes: one per positive leaf that some row
    /// reaches, each the inclusive `u8` ranges its path sets, by dim ascending (dims the
    /// path does not test are left out). A malformed link ends its path.
    pub fn accepting_boxes(&self) -> Vec<Vec<DimRange>> {
        let mut boxes = Vec::new();
        let mut stack: Vec<(usize, Vec<DimRange>)> = vec![(0, Vec::new())];
        while let Some((node, ranges)) = stack.pop() {
            match self.nodes.get(node) {
                Some(TreeNode::Leaf { positive: true }) => boxes.push(ranges),
                Some(&TreeNode::Split {
                    dim,
                    threshold,
                    left,
                    right,
                }) => {
                    // `value <= threshold` for a u8 value: `value <= floor(threshold)`.
                    let last_left = threshold.floor();
                    for (child, lo, hi) in [(right, last_left + 1.0, 255.0), (left, 0.0, last_left)]
                    {
                        let child = child as usize;
                        if child <= node {
                            continue;
                        }
                        let mut ranges = ranges.clone();
                        let at = ranges.partition_point(|r| r.0 < dim);
                        if ranges.get(at).is_none_or(|r| r.0 != dim) {
                            ranges.insert(at, (dim, 0, 255));
                        }
                        let (_, old_lo, old_hi) = ranges[at];
                        let lo = lo.max(f32::from(old_lo));
                        let hi = hi.min(f32::from(old_hi));
                        if lo <= hi {
                            // In 0..=255 here: each is clamped by the old range.
                            ranges[at] = (dim, lo as u8, hi as u8);
                            stack.push((child, ranges));
                        }
                    }
                }
                Some(TreeNode::Leaf { positive: false }) | None => {}
            }
        }
        boxes
    }

    /// Checks that the tree is well formed for rows of `dims` values: a root exists,
    /// children come after their parent and exist, tested dims exist.
    pub fn validate(&self, dims: usize) -> Result<(), &'static str> {
        if self.nodes.is_empty() {
            return Err("tree has no node");
        }
        for (i, node) in self.nodes.iter().enumerate() {
            if let &TreeNode::Split {
                dim,
                threshold,
                left,
                right,
            } = node
            {
                if usize::from(dim) >= dims {
                    return Err("split tests a dim the rows do not have");
                }
                if !threshold.is_finite() {
                    return Err("split threshold is not finite");
                }
                let in_order =
                    |child: u32| (child as usize) > i && (child as usize) < self.nodes.len();
                if !in_order(left) || !in_order(right) {
                    return Err("split child is missing or not after its parent");
                }
            }
        }
        Ok(())
    }
}

/// Trees fitted on bootstrap samples with `sqrt(dims)` features tried per split.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RandomForest {
    trees: Vec<DecisionTree>,
}

impl RandomForest {
    /// Fits `trees` trees with `settings` on `set`, seeded by `rng`.
    pub fn fit(
        set: &TrainingSet,
        trees: u32,
        settings: &TreeSettings,
        rng: &mut ChaCha8Rng,
    ) -> Self {
        let features = (set.dims() as f64).sqrt().floor().max(1.0) as usize;
        let builder = TreeBuilder::new(set, settings, Some(features));
        let n = set.len() as u32;
        let trees = child_rngs(rng, trees)
            .into_iter()
            .map(|mut tree_rng| {
                let sample = (0..n).map(|_| below(&mut tree_rng, n)).collect();
                builder.build(sample, Some(&mut tree_rng))
            })
            .collect();
        Self { trees }
    }

    /// The trees.
    pub fn trees(&self) -> &[DecisionTree] {
        &self.trees
    }

    /// Number of trees calling `row` relevant.
    pub fn votes(&self, row: &[u8]) -> u32 {
        self.trees.iter().filter(|t| t.predict(row)).count() as u32
    }

    /// [`Self::votes`] with the summed margins ([`DecisionTree::decide`]) of the trees
    /// that vote for `row`.
    pub fn votes_and_margin(&self, row: &[u8]) -> (u32, f32) {
        self.trees
            .iter()
            .map(|t| t.decide(row))
            .filter(|&(positive, _)| positive)
            .fold((0, 0.0), |(votes, sum), (_, margin)| {
                (votes + 1, sum + margin)
            })
    }

    /// Whether more than half of the trees call `row` relevant.
    pub fn predict(&self, row: &[u8]) -> bool {
        2 * self.votes(row) as usize > self.trees.len()
    }
}

/// Grows trees on one training set.
struct TreeBuilder<'a> {
    set: &'a TrainingSet,
    settings: &'a TreeSettings,
    /// Non-constant features to evaluate per split, in a random order; `None` = all, in order.
    features_per_split: Option<usize>,
}

/// The best split found at a node: rows with `row[dim] <= below` go left, and `above` is
/// the next value present.
struct Split {
    dim: u16,
    below: u8,
    above: u8,
}

impl<'a> TreeBuilder<'a> {
    fn new(
        set: &'a TrainingSet,
        settings: &'a TreeSettings,
        features_per_split: Option<usize>,
    ) -> Self {
        Self {
            set,
            settings,
            features_per_split,
        }
    }

    /// Grows a tree on the rows `sample` (indices into the set, repeats allowed). With
    /// `rng`, the features are tried in an order drawn at each split (it must be given when
    /// they are limited); without, in dim order.
    fn build(&self, mut sample: Vec<u32>, mut rng: Option<&mut ChaCha8Rng>) -> DecisionTree {
        let mut nodes = vec![TreeNode::Leaf { positive: false }];
        let mut features: Vec<u16> = (0..self.set.dims() as u16).collect();
        let mut histogram = ValueHistogram::default();
        // (node, rows start, rows end, depth): an explicit stack, as trees may be deep.
        let mut stack = vec![(0usize, 0usize, sample.len(), 0u32)];
        while let Some((node, start, end, depth)) = stack.pop() {
            let rows = &mut sample[start..end];
            let counts = self.counts(rows);
            let leaf = TreeNode::Leaf {
                positive: 2 * counts.pos > counts.total(),
            };
            let splittable = counts.pos > 0
                && counts.neg > 0
                && counts.total() >= self.settings.min_samples_split
                && self.settings.max_depth.is_none_or(|max| depth < max);
            let split = if splittable {
                if let Some(rng) = rng.as_deref_mut() {
                    shuffle(&mut features, rng);
                }
                self.best_split(rows, counts, &features, &mut histogram)
            } else {
                None
            };
            let Some(split) = split else {
                nodes[node] = leaf;
                continue;
            };
            let mid = partition(rows, |i| {
                self.set.row(i as usize)[usize::from(split.dim)] <= split.below
            });
            let left = nodes.len();
            nodes.push(TreeNode::Leaf { positive: false });
            nodes.push(TreeNode::Leaf { positive: false });
            nodes[node] = TreeNode::Split {
                dim: split.dim,
                threshold: (f32::from(split.below) + f32::from(split.above)) / 2.0,
                left: left as u32,
                right: left as u32 + 1,
            };
            stack.push((left + 1, start + mid, end, depth + 1));
            stack.push((left, start, start + mid, depth + 1));
        }
        DecisionTree { nodes }
    }

    fn counts(&self, rows: &[u32]) -> Counts {
        let pos = rows.iter().filter(|&&i| self.set.label(i as usize)).count() as u32;
        Counts {
            pos,
            neg: rows.len() as u32 - pos,
        }
    }

    /// The split with the strictly lowest weighted Gini over `features` (the first found
    /// on ties), or `None` when every feature is constant over `rows`.
    fn best_split(
        &self,
        rows: &[u32],
        counts: Counts,
        features: &[u16],
        histogram: &mut ValueHistogram,
    ) -> Option<Split> {
        let limit = self.features_per_split.unwrap_or(features.len());
        let mut evaluated = 0;
        let mut best: Option<(f64, Split)> = None;
        for &dim in features {
            if evaluated == limit {
                break;
            }
            histogram.clear();
            for &i in rows {
                let i = i as usize;
                histogram.add(self.set.row(i)[usize::from(dim)], self.set.label(i));
            }
            let mut left = Counts::default();
            let mut previous: Option<u8> = None;
            let mut distinct = 0;
            for value in 0..=255u8 {
                let here = histogram.at(value);
                if here.total() == 0 {
                    continue;
                }
                if let Some(below) = previous {
                    let score = weighted_gini(left, counts.minus(left));
                    if best.as_ref().is_none_or(|(b, _)| score < *b) {
                        best = Some((
                            score,
                            Split {
                                dim,
                                below,
                                above: value,
                            },
                        ));
                    }
                }
                left.pos += here.pos;
                left.neg += here.neg;
                previous = Some(value);
                distinct += 1;
            }
            // A constant feature has no split and does not count towards the limit.
            if distinct > 1 {
                evaluated += 1;
            }
        }
        best.map(|(_, split)| split)
    }
}

/// Moves the items satisfying `goes_left` to the front; returns how many there are.
fn partition(items: &mut [u32], goes_left: impl Fn(u32) -> bool) -> usize {
    let mut mid = 0;
    for i in 0..items.len() {
        if goes_left(items[i]) {
            items.swap(i, mid);
            mid += 1;
        }
    }
    mid
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn set(rows: &[[u8; 2]], labels: &[bool]) -> TrainingSet {
        TrainingSet::from_rows(2, rows.concat(), labels.to_vec()).unwrap()
    }

    #[test]
    fn a_pure_set_gives_a_single_leaf() {
        let tree = DecisionTree::fit(
            &set(&[[1, 2], [3, 4]], &[true, true]),
            &TreeSettings::default(),
        );
        assert_eq!(tree.nodes(), [TreeNode::Leaf { positive: true }]);
    }

    #[test]
    fn splits_midway_between_neighbouring_values() {
        let tree = DecisionTree::fit(
            &set(
                &[[10, 0], [20, 0], [30, 0], [40, 0]],
                &[true, true, false, false],
            ),
            &TreeSettings::default(),
        );
        assert_eq!(
            tree.nodes()[0],
            TreeNode::Split {
                dim: 0,
                threshold: 25.0,
                left: 1,
                right: 2
            }
        );
        assert!(tree.predict(&[25, 9]));
        assert!(!tree.predict(&[26, 9]));
    }

    #[test]
    fn equally_good_splits_are_taken_in_dim_order_or_at_random() {
        // Both dims separate the labels alike, so their splits are equally good.
        let twins = set(
            &[[1, 1], [2, 2], [8, 8], [9, 9]],
            &[true, true, false, false],
        );
        let root_dim = |tree: &DecisionTree| match tree.nodes()[0] {
            TreeNode::Split { dim, .. } => dim,
            TreeNode::Leaf { .. } => panic!("the labels are separable"),
        };
        let settings = TreeSettings::default();
        assert_eq!(root_dim(&DecisionTree::fit(&twins, &settings)), 0);
        let drawn: std::collections::BTreeSet<u16> = (0..16)
            .map(|seed| {
                let mut rng = ChaCha8Rng::seed_from_u64(seed);
                root_dim(&DecisionTree::fit_with_random_ties(
                    &twins, &settings, &mut rng,
                ))
            })
            .collect();
        assert_eq!(drawn, [0, 1].into());
    }

    #[test]
    fn fits_xor_exactly_with_unlimited_depth() {
        let rows = [[0, 0], [0, 9], [9, 0], [9, 9]];
        let labels = [false, true, true, false];
        let training = set(&rows, &labels);
        let tree = DecisionTree::fit(&training, &TreeSettings::default());
        for (row, label) in rows.iter().zip(labels) {
            assert_eq!(tree.predict(row), label);
        }
        assert_eq!(tree.validate(2), Ok(()));
        let stump = DecisionTree::fit(
            &training,
            &TreeSettings {
                max_depth: Some(0),
                ..TreeSettings::default()
            },
        );
        assert_eq!(stump.nodes().len(), 1);
    }

    #[test]
    fn identical_rows_with_both_labels_end_in_a_leaf() {
        let tree = DecisionTree::fit(
            &set(&[[5, 5], [5, 5], [5, 5]], &[true, false, false]),
            &TreeSettings::default(),
        );
        assert_eq!(tree.nodes(), [TreeNode::Leaf { positive: false }]);
    }

    #[test]
    fn validate_rejects_malformed_trees() {
        let split = |dim, left, right| TreeNode::Split {
            dim,
            threshold: 1.5,
            left,
            right,
        };
        let leaf = TreeNode::Leaf { positive: true };
        let tree = |nodes: Vec<TreeNode>| DecisionTree { nodes };
        assert!(tree(vec![]).validate(2).is_err());
        assert!(
            tree(vec![split(0, 0, 1), leaf.clone()])
                .validate(2)
                .is_err()
        );
        assert!(
            tree(vec![split(0, 1, 5), leaf.clone()])
                .validate(2)
                .is_err()
        );
        assert!(
            tree(vec![split(2, 1, 2), leaf.clone(), leaf.clone()])
                .validate(2)
                .is_err()
        );
        let cyclic = tree(vec![split(0, 0, 0)]);
        assert!(!cyclic.predict(&[0, 0]));
        assert!(
            tree(vec![split(1, 1, 2), leaf.clone(), leaf])
                .validate(2)
                .is_ok()
        );
    }

    #[test]
    fn forest_is_seeded_and_separates_separable_data() {
        let rows: Vec<[u8; 2]> = (0..40u8).map(|i| [i, 255 - i]).collect();
        let labels: Vec<bool> = (0..40).map(|i| i < 10).collect();
        let training = set(&rows, &labels);
        let fit = |seed| {
            RandomForest::fit(
                &training,
                25,
                &TreeSettings::default(),
                &mut ChaCha8Rng::seed_from_u64(seed),
            )
        };
        let forest = fit(3);
        assert_eq!(forest, fit(3));
        assert_eq!(forest.trees().len(), 25);
        for (row, label) in rows.iter().zip(&labels) {
            assert_eq!(forest.predict(row), *label, "row {row:?}");
        }
    }
}
