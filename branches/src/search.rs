//! Search by classification (spec section 5): a request is turned into a training set, a
//! model is trained, and every image of the index the model accepts is returned, likeliest
//! first (see [`SearchEngine::search`]). Boxes are answered by the index's box queries;
//! the baselines scan every row.

use std::ops::Range;

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::cart::{DecisionTree, RandomForest, TreeSettings};
use crate::dbranches::{BranchSettings, Covering, TrainedBox, train_boxes, train_ensemble};
use crate::error::Error;
use crate::index::BoxIndex;
use crate::model::{BoxRule, Model, Searcher};
use crate::rng::child_rngs;
use crate::training::{Labels, NegativePool, PoolSettings, TrainingSet, assemble, checked_row};

/// Training settings beyond the labels; every field has the reference default.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainingSettings {
    /// The greedy covering of DBranches and of each ensemble model.
    pub branches: BranchSettings,
    /// Models in the ensemble (1..=100).
    pub ensemble_models: u32,
    /// Post-trees, the decision-tree baseline and each forest tree.
    pub tree: TreeSettings,
    /// Trees in the random forest (1..=1000).
    pub forest_trees: u32,
}

impl Default for TrainingSettings {
    fn default() -> Self {
        Self {
            branches: BranchSettings::default(),
            ensemble_models: 25,
            tree: TreeSettings::default(),
            forest_trees: 25,
        }
    }
}

impl TrainingSettings {
    fn validate(&self) -> Result<(), Error> {
        let out_of_range =
            |name, value: f64, range| Error::SettingOutOfRange { name, value, range };
        let b = &self.branches;
        if !(1..=100).contains(&b.max_boxes) {
            return Err(out_of_range("max_boxes", f64::from(b.max_boxes), "1..=100"));
        }
        if let Some(f) = b.subset_fraction
            && !(f > 0.0 && f <= 1.0)
        {
            return Err(out_of_range("subset_fraction", f, "(0, 1]"));
        }
        if b.min_pts_cap == 0 {
            return Err(out_of_range("min_pts_cap", 0.0, "1.."));
        }
        if !(1..=100).contains(&self.ensemble_models) {
            return Err(out_of_range(
                "ensemble_models",
                f64::from(self.ensemble_models),
                "1..=100",
            ));
        }
        if !(1..=1000).contains(&self.forest_trees) {
            return Err(out_of_range(
                "forest_trees",
                f64::from(self.forest_trees),
                "1..=1000",
            ));
        }
        Ok(())
    }
}

/// Most training work a request may ask for, in row-dim visits (a training row's value in
/// one dim, looked at once): its settings times its training rows, estimated before
/// training ([`Error::TooMuchTraining`]). About 20 s of one core here (2,000 million
/// visits of the ensemble's covering), so no setting a request may hold makes a round
/// run for minutes; the default ensemble stays under it up to about 12,000 training rows
/// (4.5 s for 3,358), a forest of 1,000 trees over a million images is refused.
pub const MAX_TRAINING_WORK: u64 = 2_000_000_000;

/// The most row-dim visits training `searcher` on `rows` rows (and, for the baselines,
/// scanning the `images` of the index with the model) may take, and the settings that
/// scale it.
fn training_work(
    searcher: Searcher,
    settings: &TrainingSettings,
    subsets: &[Vec<u16>],
    dims: usize,
    rows: usize,
    images: usize,
) -> (u64, &'static str) {
    // A tree has about log2(rows) levels (fewer with max_depth); each level sorts every
    // row of each dim it tries, log2(rows) visits a row.
    let log_rows = u64::from((usize::BITS - rows.leading_zeros()).max(1));
    let levels = settings
        .tree
        .max_depth
        .map_or(log_rows, |depth| log_rows.min(u64::from(depth) + 1));
    let tree = |dims_tried: usize| {
        (levels * log_rows)
            .saturating_mul(dims_tried as u64)
            .saturating_mul(rows as u64)
    };
    // Applying a tree to every image: one test per level.
    let scan = levels.saturating_mul(images as u64);
    match searcher {
        // The post-trees together see about the training rows once (each fits the rows
        // inside its box).
        Searcher::DBranches => (
            settings
                .branches
                .single()
                .work(subsets, rows)
                .saturating_add(tree(dims)),
            "max_boxes, subset_fraction or tree.max_depth",
        ),
        Searcher::Ensemble => (
            u64::from(settings.ensemble_models)
                .saturating_mul(settings.branches.ensemble_member().work(subsets, rows)),
            "ensemble_models, max_boxes or subset_fraction",
        ),
        Searcher::DecisionTree => (tree(dims).saturating_add(scan), "tree.max_depth"),
        Searcher::RandomForest => (
            u64::from(settings.forest_trees)
                .saturating_mul(tree(dims.isqrt().max(1)).saturating_add(scan)),
            "forest_trees or tree.max_depth",
        ),
    }
}

/// One round, as the CLI and the browser send it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchRequest {
    /// Relevant image ids.
    pub positives: Vec<u32>,
    /// Irrelevant image ids.
    #[serde(default)]
    pub negatives: Vec<u32>,
    /// Random images added as irrelevant, drawn from the dataset's pool.
    #[serde(default = "SearchRequest::default_random_negatives")]
    pub random_negatives: u32,
    /// How many times each irrelevant image counts (1..=100).
    #[serde(default = "SearchRequest::default_negative_weight")]
    pub negative_weight: u32,
    /// The classifier.
    #[serde(default)]
    pub searcher: Searcher,
    /// Seed of every random draw of the round.
    #[serde(default = "SearchRequest::default_seed")]
    pub seed: u64,
    /// Further training settings.
    #[serde(default)]
    pub training: TrainingSettings,
}

impl SearchRequest {
    /// A request with the given positives and every other field at its default.
    pub fn new(positives: Vec<u32>) -> Self {
        Self {
            positives,
            negatives: Vec::new(),
            random_negatives: Self::default_random_negatives(),
            negative_weight: Self::default_negative_weight(),
            searcher: Searcher::default(),
            seed: Self::default_seed(),
            training: TrainingSettings::default(),
        }
    }

    fn default_random_negatives() -> u32 {
        500
    }

    fn default_negative_weight() -> u32 {
        1
    }

    fn default_seed() -> u64 {
        42
    }
}

/// The answer to a [`SearchRequest`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchResponse {
    /// Every accepted image id, likeliest first (see [`SearchEngine::search`]).
    pub results: Vec<u32>,
    /// Number of accepted images.
    pub count: u32,
    /// Each box as readable text (empty for the baselines).
    pub rules: Vec<String>,
    /// Each box as SQL (empty for the baselines).
    pub sql: Vec<String>,
}

/// An ensemble round taken apart ([`SearchEngine::plan_ensemble`]): the training set,
/// the settings and one seed per member, so that members train anywhere (other threads,
/// other web workers: it crosses as serde data) and [`Self::join`] gives the very model
/// [`SearchEngine::train`] gives, however the members were split.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EnsemblePlan {
    dims: usize,
    /// Training rows, row-major.
    #[serde(with = "serde_bytes")]
    rows: Vec<u8>,
    /// One label per row (`true` = relevant).
    labels: Vec<bool>,
    /// The index's feature subsets.
    subsets: Vec<Vec<u16>>,
    covering: Covering,
    /// Member `m` trains with `ChaCha8Rng::seed_from_u64(seeds[m])`.
    seeds: Vec<u64>,
}

/// The boxes of members `members` of an [`EnsemblePlan`], in member order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EnsemblePart {
    /// The members trained.
    pub members: Range<u32>,
    /// Their boxes on the `u8` grid (no post-trees, as in every ensemble).
    pub boxes: Vec<BoxRule>,
}

impl EnsemblePlan {
    /// Members of the ensemble.
    pub fn members(&self) -> u32 {
        self.seeds.len() as u32
    }

    /// Trains members `members` (in parallel natively). Fails on a range outside
    /// `0..members()` and on a plan whose parts do not fit together (one that was altered
    /// on its way).
    pub fn train_members(&self, members: Range<u32>) -> Result<EnsemblePart, Error> {
        if members.start > members.end || members.end > self.members() {
            return Err(Error::SettingOutOfRange {
                name: "members",
                value: f64::from(members.end),
                range: "a range within 0..=ensemble_models",
            });
        }
        let set = TrainingSet::from_rows(self.dims, self.rows.clone(), self.labels.clone())?;
        for (subset, dims) in self.subsets.iter().enumerate() {
            if dims.is_empty() || dims.iter().any(|&d| usize::from(d) >= self.dims) {
                return Err(Error::InvalidSubset {
                    subset,
                    reason: "empty, or a dim out of range",
                });
            }
        }
        if self.subsets.is_empty() {
            return Err(Error::NoSubsets);
        }
        let seeds = &self.seeds[members.start as usize..members.end as usize];
        let models = train_ensemble(&set, &self.subsets, &self.covering, seeds);
        let boxes = models
            .iter()
            .flatten()
            .filter_map(|b| box_rule(b, &self.subsets, None))
            .collect();
        Ok(EnsemblePart { members, boxes })
    }

    /// The ensemble model from parts that together hold every member once (in any order).
    pub fn join(&self, mut parts: Vec<EnsemblePart>) -> Result<Model, Error> {
        parts.sort_by_key(|p| p.members.start);
        let mut next = 0;
        for part in &parts {
            if part.members.start != next {
                return Err(Error::ModelMismatch {
                    part: "ensemble".into(),
                    reason: "a member is missing or trained twice",
                });
            }
            next = part.members.end;
        }
        if next != self.members() {
            return Err(Error::ModelMismatch {
                part: "ensemble".into(),
                reason: "the last members are missing",
            });
        }
        Ok(Model::Ensemble {
            models: self.members(),
            boxes: parts.into_iter().flat_map(|p| p.boxes).collect(),
        })
    }
}

/// An index with its pool of random negatives: trains models and applies them.
#[derive(Debug)]
pub struct SearchEngine<I> {
    index: I,
    pool: NegativePool,
}

impl<I: BoxIndex> SearchEngine<I> {
    /// Wraps `index`, drawing its random-negative pool. Fails on an empty index or an
    /// invalid subset (empty, dims not strictly ascending, or a dim out of range).
    pub fn new(index: I, pool: PoolSettings) -> Result<Self, Error> {
        if index.is_empty() {
            return Err(Error::EmptyIndex);
        }
        for (subset, dims) in index.subsets().iter().enumerate() {
            let invalid = |reason| Err(Error::InvalidSubset { subset, reason });
            if dims.is_empty() {
                return invalid("no dims");
            }
            if dims.windows(2).any(|w| w[0] >= w[1]) {
                return invalid("dims not strictly ascending");
            }
            if dims.iter().any(|&d| usize::from(d) >= index.dims()) {
                return invalid("dim out of range");
            }
        }
        let pool = NegativePool::new(index.len(), pool);
        Ok(Self { index, pool })
    }

    /// The index searched.
    pub fn index(&self) -> &I {
        &self.index
    }

    /// The pool random negatives are drawn from.
    pub fn pool(&self) -> &NegativePool {
        &self.pool
    }

    /// The request's training set and the generator that trains on it, as drawn so far;
    /// refused when training `searcher` on it would take too long.
    fn training_set(
        &self,
        request: &SearchRequest,
        searcher: Searcher,
    ) -> Result<(TrainingSet, ChaCha8Rng), Error> {
        request.training.validate()?;
        let mut rng = ChaCha8Rng::seed_from_u64(request.seed);
        let labels = Labels {
            positives: &request.positives,
            negatives: &request.negatives,
            random_negatives: request.random_negatives,
            negative_weight: request.negative_weight,
        };
        let set = assemble(&self.index, &self.pool, labels, &mut rng)?;
        // The full-scan baselines train without subsets: an index may have none.
        let subsets = self.index.subsets();
        let (work, settings) = training_work(
            searcher,
            &request.training,
            subsets,
            set.dims(),
            set.len(),
            self.index.len() as usize,
        );
        if work > MAX_TRAINING_WORK {
            return Err(Error::TooMuchTraining {
                searcher: searcher.name(),
                rows: set.len(),
                work,
                limit: MAX_TRAINING_WORK,
                settings,
            });
        }
        Ok((set, rng))
    }

    /// The request's ensemble round taken apart: its members can then train elsewhere
    /// ([`EnsemblePlan::train_members`]) and join ([`EnsemblePlan::join`]) into the very
    /// model [`Self::train`] gives. The request's searcher is not looked at.
    pub fn plan_ensemble(&self, request: &SearchRequest) -> Result<EnsemblePlan, Error> {
        let (set, mut rng) = self.training_set(request, Searcher::Ensemble)?;
        self.ensemble_plan(set, &request.training, &mut rng)
    }

    /// An ensemble round over `set`: one seed per member, drawn from `rng` in turn.
    fn ensemble_plan(
        &self,
        set: TrainingSet,
        settings: &TrainingSettings,
        rng: &mut ChaCha8Rng,
    ) -> Result<EnsemblePlan, Error> {
        let dims = set.dims();
        let (rows, labels) = set.into_parts();
        Ok(EnsemblePlan {
            dims,
            rows,
            labels,
            subsets: self.non_empty_subsets()?.to_vec(),
            covering: settings.branches.ensemble_member(),
            seeds: (0..settings.ensemble_models)
                .map(|_| rng.next_u64())
                .collect(),
        })
    }

    /// Trains the request's searcher on its training set.
    pub fn train(&self, request: &SearchRequest) -> Result<Model, Error> {
        let (set, mut rng) = self.training_set(request, request.searcher)?;
        let settings = &request.training;
        let subsets = self.index.subsets();
        Ok(match request.searcher {
            Searcher::DBranches => {
                let boxes = train_boxes(
                    &set,
                    self.non_empty_subsets()?,
                    &settings.branches.single(),
                    &mut rng,
                );
                let tree_rngs = child_rngs(&mut rng, boxes.len() as u32);
                let boxes = boxes
                    .iter()
                    .zip(tree_rngs)
                    .filter_map(|(b, mut tree_rng)| {
                        box_rule(b, subsets, Some((&set, &settings.tree, &mut tree_rng)))
                    })
                    .collect();
                Model::DBranches { boxes }
            }
            Searcher::Ensemble => {
                let plan = self.ensemble_plan(set, settings, &mut rng)?;
                let all = plan.train_members(0..plan.members())?;
                plan.join(vec![all])?
            }
            Searcher::DecisionTree => Model::DecisionTree {
                tree: DecisionTree::fit(&set, &settings.tree),
            },
            Searcher::RandomForest => Model::RandomForest {
                forest: RandomForest::fit(&set, settings.forest_trees, &settings.tree, &mut rng),
            },
        })
    }

    /// Every image `model` accepts, likeliest first: by hits (the boxes holding the image
    /// whose post-tree agrees, or a forest's votes), then by how deep inside its boxes the
    /// image lies ([`Depth`], summed over them) or how far it is from flipping a tree's
    /// tests ([`DecisionTree::decide`]), then by id. The first page a user labels next is
    /// thus the model's surest images, not the lowest ids of one box.
    pub fn search(&self, model: &Model) -> Result<Vec<u32>, Error> {
        let (scored, min_hits) = self.votes(model, None)?;
        Ok(rank(scored, min_hits))
    }

    /// [`Self::search`], and the `k` images `model` is least sure about that are not in
    /// `labelled` (sorted), least sure first, from one pass over the boxes or the rows.
    /// The least sure are those whose votes lie nearest the acceptance threshold (an
    /// ensemble's or a forest's majority; for one set of boxes, the images in a single
    /// box), then those nearest the border (the shallowest inside a box or a tree's
    /// accepting leaves; among the rejected, the deepest inside the boxes that did vote, or
    /// nearest a tree's split). Labelling these teaches the next round most: a loose box
    /// shows the look-alikes near its faces.
    pub fn search_and_uncertain(
        &self,
        model: &Model,
        k: usize,
        labelled: &[u32],
    ) -> Result<(Vec<u32>, Vec<u32>), Error> {
        let (mut scored, min_hits) = self.votes(model, Some(k.saturating_add(labelled.len())))?;
        let results = rank(scored.clone(), min_hits);
        scored.retain(|(id, _, _)| labelled.binary_search(id).is_err());
        Ok((results, least_sure(scored, min_hits, k)))
    }

    /// Every scored image as `(id, votes, lean)` and the votes needed to accept: `lean` is
    /// how far into the accepting side the voters put it (depth in boxes, a tree's margin;
    /// negative for a tree that rejects). Only accepted images are kept unless `uncertain`
    /// asks for `k`: then scans keep every row, boxes enough rejected ids that the `k`
    /// least sure are among those kept ([`Self::search_boxes`]).
    fn votes(&self, model: &Model, uncertain: Option<usize>) -> Result<(Vec<Scored>, u32), Error> {
        model.validate(&self.index)?;
        let keep = |min_hits: u32| if uncertain.is_some() { 0 } else { min_hits };
        Ok(match model {
            Model::DBranches { boxes } => (self.search_boxes(boxes, 1, uncertain)?, 1),
            Model::Ensemble { models, boxes } => {
                let min_hits = models / 2 + 1;
                (self.search_boxes(boxes, min_hits, uncertain)?, min_hits)
            }
            Model::DecisionTree { tree } => (
                self.scan(
                    |row| match tree.decide(row) {
                        (true, margin) => (1, f64::from(margin)),
                        (false, margin) => (0, -f64::from(margin)),
                    },
                    keep(1),
                )?,
                1,
            ),
            Model::RandomForest { forest } => {
                let min_hits = forest.trees().len() as u32 / 2 + 1;
                (
                    self.scan(
                        |row| {
                            let (votes, margin) = forest.votes_and_margin(row);
                            (votes, f64::from(margin))
                        },
                        keep(min_hits),
                    )?,
                    min_hits,
                )
            }
        })
    }

    /// Trains on `request` and searches with the model.
    pub fn run(&self, request: &SearchRequest) -> Result<SearchResponse, Error> {
        let model = self.train(request)?;
        let results = self.search(&model)?;
        Ok(SearchResponse {
            count: results.len() as u32,
            results,
            rules: model.rules(),
            sql: model.sql(),
        })
    }

    fn non_empty_subsets(&self) -> Result<&[Vec<u16>], Error> {
        match self.index.subsets() {
            [] => Err(Error::NoSubsets),
            subsets => Ok(subsets),
        }
    }

    /// The votes of `boxes` ([`Self::votes`]): every id with at least `min_hits` hits
    /// (boxes holding it whose post-tree accepts it) and, when `uncertain` asks for `k`,
    /// the rejected ids of the vote counts nearest `min_hits` until at least `k` ids lie
    /// that near (so the `k` least sure, [`least_sure`], are among those returned), each
    /// with its hits and its depths summed in box order.
    ///
    /// Each box's (id, depth) goes into one list, sorted by id keeping box order
    /// ([`sort_by_id`]), and read in runs: memory grows with the ids the boxes hold, not
    /// with the collection, and no id is looked up at random. A loose ensemble touched
    /// 5.5M ids at 10M images: with a hash map of them its search took 860 ms natively, of
    /// which the box queries took 136; 330-370 ms now.
    fn search_boxes(
        &self,
        boxes: &[BoxRule],
        min_hits: u32,
        uncertain: Option<usize>,
    ) -> Result<Vec<Scored>, Error> {
        let len = self.index.len();
        let mut votes: Vec<u64> = Vec::new();
        let (mut found, mut depths) = (Vec::new(), Vec::new());
        for rule in boxes {
            let tree = rule.subset as usize;
            let dims = rule.dims.len();
            found.clear();
            depths.clear();
            let mut values = 0;
            self.index
                .range_query(tree, &rule.lo, &rule.hi, &mut |ids, points| {
                    found.extend_from_slice(ids);
                    values += points.len();
                    depths.extend(points.chunks_exact(dims.max(1)).map(|p| Depth::of(rule, p)));
                })
                .map_err(Error::index)?;
            if values != found.len() * dims || depths.len() != found.len() {
                return Err(Error::EmittedPointsShape {
                    tree,
                    ids: found.len(),
                    values,
                    dims,
                });
            }
            for (&id, &depth) in found.iter().zip(&depths) {
                if id >= len {
                    return Err(Error::EmittedIdOutOfRange { tree, id, len });
                }
                if let Some(post_tree) = &rule.post_tree
                    && !post_tree.predict(checked_row(&self.index, id)?)
                {
                    continue;
                }
                votes.push(u64::from(id) << 32 | u64::from(depth.0));
            }
        }
        sort_by_id(&mut votes, len);
        // One run per id, its votes in box order.
        let runs = || votes.chunk_by(|a, b| a >> 32 == b >> 32);
        let from_boundary = |hits: u32| from_boundary(hits, min_hits);
        // The farthest from the threshold a rejected id may be and still be kept.
        let kept_distance = match uncertain {
            None => 0,
            Some(k) => {
                let mut ids_at = vec![0usize; 2 * boxes.len() + 2 * min_hits as usize + 1];
                for run in runs() {
                    ids_at[from_boundary(run.len() as u32) as usize] += 1;
                }
                let mut near = 0;
                ids_at
                    .iter()
                    .position(|&count| {
                        near += count;
                        near >= k
                    })
                    .map_or(u64::MAX, |distance| distance as u64)
            }
        };
        let mut scored = Vec::new();
        for run in runs() {
            let hits = run.len() as u32;
            if hits >= min_hits || from_boundary(hits) <= kept_distance {
                let summed = run.iter().map(|&vote| Depth(vote as u32).value()).sum();
                scored.push(((run[0] >> 32) as u32, hits, summed));
            }
        }
        Ok(scored)
    }

    /// A full scan: every id whose row gets at least `min_hits` votes, with its (votes,
    /// score).
    fn scan(
        &self,
        score: impl Fn(&[u8]) -> (u32, f64),
        min_hits: u32,
    ) -> Result<Vec<Scored>, Error> {
        let mut scored = Vec::new();
        for id in 0..self.index.len() {
            let (votes, margin) = score(checked_row(&self.index, id)?);
            if votes >= min_hits {
                scored.push((id, votes, margin));
            }
        }
        Ok(scored)
    }
}

/// How deep a point lies inside a box, in `(0, 1]`, kept exactly in 32 bits: the offset
/// from the box's centre and the box's width in the dim where the point is nearest a face
/// (relative to the width), `offset << 16 | width`. [`Self::value`] is 1 at the box's
/// centre, falling towards `1 / width` on its faces. Exact in `f64`, so native and wasm
/// rank alike.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Depth(u32);

impl Depth {
    /// The depth of `point`, its values in the box's dims (`point[j]` in `rule.dims[j]`).
    fn of(rule: &BoxRule, point: &[u8]) -> Self {
        // Offsets and widths are whole: the largest ratio is found by cross-multiplying,
        // and its `f64` quotient is the largest of the quotients.
        let (offset, width) = point.iter().zip(rule.lo.iter().zip(&rule.hi)).fold(
            (0u32, 1u32),
            |(offset, width), (&value, (&lo, &hi))| {
                let o = (2 * i32::from(value) - i32::from(lo) - i32::from(hi)).unsigned_abs();
                let w = (i32::from(hi) - i32::from(lo) + 1).unsigned_abs().max(1);
                if o * width > offset * w {
                    (o, w)
                } else {
                    (offset, width)
                }
            },
        );
        Self(offset << 16 | width)
    }

    fn value(self) -> f64 {
        1.0 - f64::from(self.0 >> 16) / f64::from(self.0 & 0xffff)
    }
}

/// Sorts `votes` (`id << 32 | depth`) by id, keeping the order of equal ids: a radix
/// sort on the id's bytes below `len`, each pass stable.
fn sort_by_id(votes: &mut Vec<u64>, len: u32) {
    let id_bytes = (u32::BITS - len.saturating_sub(1).leading_zeros()).div_ceil(8);
    let mut spare = vec![0u64; votes.len()];
    for byte in 0..id_bytes {
        let shift = 32 + 8 * byte;
        let mut starts = [0usize; 257];
        for &vote in votes.iter() {
            starts[((vote >> shift) & 0xff) as usize + 1] += 1;
        }
        for digit in 0..256 {
            starts[digit + 1] += starts[digit];
        }
        for &vote in votes.iter() {
            let digit = ((vote >> shift) & 0xff) as usize;
            spare[starts[digit]] = vote;
            starts[digit] += 1;
        }
        std::mem::swap(votes, &mut spare);
    }
}

/// How far `votes` lie from the boundary between `min_hits - 1` and `min_hits` votes, in
/// half votes: 1 for either side's nearest count.
fn from_boundary(votes: u32, min_hits: u32) -> u64 {
    (2 * i64::from(votes) - (2 * i64::from(min_hits) - 1)).unsigned_abs()
}

/// An image's `(id, votes, lean)`.
type Scored = (u32, u32, f64);

/// The ids of `(id, hits, score)` with at least `min_hits` hits, ranked by (hits desc,
/// score desc, id asc).
fn rank(mut scored: Vec<Scored>, min_hits: u32) -> Vec<u32> {
    scored.retain(|&(_, hits, _)| hits >= min_hits);
    scored.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(b.2.total_cmp(&a.2)).then(a.0.cmp(&b.0)));
    scored.into_iter().map(|(id, _, _)| id).collect()
}

/// The `k` least sure of `scored` ([`SearchEngine::search_and_uncertain`]): by the distance of the
/// votes from the boundary between `min_hits - 1` and `min_hits` (in half votes), then by
/// the lean towards the other side (shallowest accepted, most leaning rejected), then id.
fn least_sure(mut scored: Vec<Scored>, min_hits: u32, k: usize) -> Vec<u32> {
    let key = |&(id, votes, lean): &Scored| {
        let towards_other_side = if votes >= min_hits { lean } else { -lean };
        (from_boundary(votes, min_hits), towards_other_side, id)
    };
    let order = |a: &Scored, b: &Scored| {
        let (a, b) = (key(a), key(b));
        a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)).then(a.2.cmp(&b.2))
    };
    // Only the first `k` are sorted: a scan scores every row of the index.
    if k < scored.len() {
        scored.select_nth_unstable_by(k, order);
        scored.truncate(k);
    }
    scored.sort_unstable_by(order);
    scored.into_iter().map(|(id, _, _)| id).collect()
}

/// A trained box as a rule on the `u8` grid, or `None` when it is empty there. With a
/// training set, it gets a post-tree fitted on the set's rows inside it, unless they are pure.
fn box_rule(
    trained: &TrainedBox,
    subsets: &[Vec<u16>],
    post_tree: Option<(&TrainingSet, &TreeSettings, &mut ChaCha8Rng)>,
) -> Option<BoxRule> {
    let (lo, hi) = trained.to_u8()?;
    let dims = subsets[trained.subset].clone();
    let post_tree = post_tree.and_then(|(set, settings, rng)| {
        let inside: Vec<u32> = (0..set.len() as u32)
            .filter(|&i| trained.contains(set.row(i as usize), &dims))
            .collect();
        let positives = inside.iter().filter(|&&i| set.label(i as usize)).count();
        let pure = positives == 0 || positives == inside.len();
        (!pure).then(|| DecisionTree::fit_with_random_ties(&set.select(&inside), settings, rng))
    });
    Some(BoxRule {
        subset: trained.subset as u32,
        dims,
        lo,
        hi,
        post_tree,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_by_hits_then_score_then_id() {
        let scored = vec![
            (5, 1, 0.5),
            (4, 1, 0.9),
            (3, 2, 0.1),
            (2, 1, 0.5),
            (1, 2, 0.1),
            (0, 0, 0.0),
        ];
        assert_eq!(rank(scored.clone(), 1), [1, 3, 4, 2, 5]);
        assert_eq!(rank(scored, 2), [1, 3]);
    }

    #[test]
    fn the_least_sure_are_nearest_the_vote_threshold_then_the_border() {
        // Threshold 3 votes: 2 and 3 are one half vote from it, 1 and 4 three halves.
        let scored = vec![
            (0, 4, 0.2),
            (1, 3, 0.9),
            (2, 3, 0.1),
            (3, 2, 0.1),
            (4, 2, 0.8),
            (5, 1, 0.5),
            (6, 5, 0.0),
        ];
        // Rejected by one vote, leaning most towards acceptance first (deepest in the
        // boxes that voted), then accepted by one vote, shallowest first.
        assert_eq!(least_sure(scored.clone(), 3, 4), [4, 3, 2, 1]);
        assert_eq!(least_sure(scored.clone(), 3, 6), [4, 3, 2, 1, 5, 0]);
        // One set of boxes (threshold 1): the images in a single box, shallowest first.
        assert_eq!(least_sure(scored, 1, 3), [5, 3, 4]);
    }

    #[test]
    fn depth_is_one_at_the_centre_and_small_on_a_face() {
        let rule = BoxRule {
            subset: 0,
            dims: vec![0, 2],
            lo: vec![10, 0],
            hi: vec![20, 255],
            post_tree: None,
        };
        let depth = |point: &[u8]| Depth::of(&rule, point).value();
        // Values in the box's dims (0 and 2).
        assert_eq!(depth(&[15, 127]), 1.0 - 1.0 / 256.0);
        assert!(depth(&[10, 127]) < 0.1);
        assert!(depth(&[14, 127]) > depth(&[12, 127]));
        assert!(depth(&[15, 0]) > 0.0);
    }

    #[test]
    fn depth_is_the_nearest_face_quotient_in_f64() {
        // The largest quotient of whole offsets and widths, as `f64` division gives it.
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut byte = || (rng.next_u32() & 0xff) as u8;
        for _ in 0..20_000 {
            let dims = 1 + usize::from(byte() % 8);
            let (mut lo, mut hi, mut point) = (vec![], vec![], vec![]);
            for _ in 0..dims {
                let (a, b) = (byte(), byte());
                lo.push(a.min(b));
                hi.push(a.max(b));
                point.push(byte());
            }
            let rule = BoxRule {
                subset: 0,
                dims: (0..dims as u16).collect(),
                lo,
                hi,
                post_tree: None,
            };
            let quotients = point
                .iter()
                .zip(rule.lo.iter().zip(&rule.hi))
                .map(|(&v, (&l, &h))| {
                    (2.0 * f64::from(v) - f64::from(l) - f64::from(h)).abs()
                        / (f64::from(h) - f64::from(l) + 1.0)
                });
            let expected = 1.0 - quotients.fold(0.0, f64::max);
            assert_eq!(
                Depth::of(&rule, &point).value().to_bits(),
                expected.to_bits()
            );
        }
    }

    #[test]
    fn votes_sort_by_id_keeping_the_order_of_equal_ids() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for len in [1u32, 200, 70_000, 20_000_000, u32::MAX] {
            // 300 distinct ids at most, spread over `0..len`, so ids repeat.
            let (distinct, spread) = (len.clamp(1, 300), (len / 300).max(1));
            let mut votes: Vec<u64> = (0..5_000u64)
                .map(|order| u64::from(rng.next_u32() % distinct * spread) << 32 | order)
                .collect();
            let mut expected = votes.clone();
            expected.sort_by_key(|vote| vote >> 32);
            sort_by_id(&mut votes, len);
            assert_eq!(votes, expected, "ids below {len}");
        }
    }

    /// The reference's tree set over 32 dims: 64 subsets of 4, 32 of 6, 8 of 8.
    fn reference_subsets() -> Vec<Vec<u16>> {
        [(4, 64), (6, 32), (8, 8)]
            .into_iter()
            .flat_map(|(size, count)| (0..count).map(move |_| (0..size).collect()))
            .collect()
    }

    fn work(searcher: Searcher, settings: &TrainingSettings, rows: usize) -> u64 {
        training_work(
            searcher,
            settings,
            &reference_subsets(),
            32,
            rows,
            1_000_000,
        )
        .0
    }

    #[test]
    fn the_defaults_train_on_thousands_of_labels_within_the_work_limit() {
        let defaults = TrainingSettings::default();
        for searcher in [
            Searcher::DBranches,
            Searcher::Ensemble,
            Searcher::DecisionTree,
            Searcher::RandomForest,
        ] {
            assert!(
                work(searcher, &defaults, 10_000) <= MAX_TRAINING_WORK,
                "{searcher:?}: {}",
                work(searcher, &defaults, 10_000)
            );
        }
    }

    #[test]
    fn settings_that_ran_for_minutes_are_over_the_work_limit() {
        // The issue's probes: 2,858 positives and 500 random negatives.
        let rows = 3_358;
        let mut big_ensemble = TrainingSettings {
            ensemble_models: 100,
            ..TrainingSettings::default()
        };
        big_ensemble.branches.max_boxes = 100;
        assert!(work(Searcher::Ensemble, &big_ensemble, rows) > MAX_TRAINING_WORK);
        let big_forest = TrainingSettings {
            forest_trees: 1000,
            ..TrainingSettings::default()
        };
        assert!(work(Searcher::RandomForest, &big_forest, rows) > MAX_TRAINING_WORK);
        // Its scan of a million images alone is over, however few the labels.
        assert!(work(Searcher::RandomForest, &big_forest, 100) > MAX_TRAINING_WORK);
        // Work grows with the rows and with each setting that scales it.
        let defaults = TrainingSettings::default();
        assert!(
            work(Searcher::Ensemble, &defaults, 2 * rows)
                > work(Searcher::Ensemble, &defaults, rows)
        );
        let shallow = TrainingSettings {
            tree: TreeSettings {
                max_depth: Some(3),
                ..TreeSettings::default()
            },
            ..big_forest
        };
        assert!(
            work(Searcher::RandomForest, &shallow, rows)
                < work(Searcher::RandomForest, &big_forest, rows)
        );
    }

    #[test]
    fn a_request_over_the_work_limit_is_refused_naming_what_to_lower() {
        let rows = 2_000;
        let features = (0..rows * 32).map(|i| (i * 7 % 251) as u8).collect();
        let index = crate::FlatIndex::new(features, 32, reference_subsets()).unwrap();
        let engine = SearchEngine::new(index, PoolSettings::default()).unwrap();
        let mut request = SearchRequest::new((0..1_500).collect());
        request.searcher = Searcher::Ensemble;
        request.training.ensemble_models = 100;
        request.training.branches.max_boxes = 100;
        for error in [
            engine.run(&request).unwrap_err(),
            engine.plan_ensemble(&request).unwrap_err(),
        ] {
            assert!(matches!(error, Error::TooMuchTraining { .. }), "{error}");
            let message = error.to_string();
            assert!(message.contains("ensemble_models, max_boxes"), "{message}");
            assert!(message.contains("label fewer images"), "{message}");
        }
        request.training.ensemble_models = 5;
        request.training.branches.max_boxes = 5;
        assert!(engine.run(&request).is_ok());
    }

    #[test]
    fn request_defaults_follow_the_cli() {
        let request: SearchRequest = serde_json::from_str(r#"{"positives":[3,1]}"#).unwrap();
        assert_eq!(request, SearchRequest::new(vec![3, 1]));
        assert_eq!(request.random_negatives, 500);
        assert_eq!(request.negative_weight, 1);
        assert_eq!(request.searcher, Searcher::DBranches);
        assert_eq!(request.seed, 42);
        let full: SearchRequest = serde_json::from_str(
            r#"{"positives":[1],"negatives":[2],"random_negatives":10,"negative_weight":3,
                "searcher":"ens","seed":7,"training":{"ensemble_models":5,"branches":{"max_boxes":4}}}"#,
        )
        .unwrap();
        assert_eq!(full.searcher, Searcher::Ensemble);
        assert_eq!(full.training.ensemble_models, 5);
        assert_eq!(full.training.branches.max_boxes, 4);
        assert!(serde_json::from_str::<SearchRequest>(r#"{"positives":[1],"typo":1}"#).is_err());
    }
}
