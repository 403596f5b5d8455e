//! Decision branches (spec section 4): a greedy covering of the positive training rows
//! with axis-aligned boxes, each over one feature subset.
//!
//! Each round picks a random uncovered positive `p`, grows a box around it in every
//! evaluated subset (create, then one expand pass), keeps the box with the lowest weighted
//! Gini (ties: fewer dims) and removes the rows it holds. Borders are `f64` during
//! training; [`TrainedBox::to_u8`] turns them into the inclusive `u8` bounds a kd-tree
//! box query takes.
//!
//! Rows of the remaining set are copied into one column array per dim each round, so
//! growing a box reads a few short contiguous columns and allocates nothing.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::gini::{Counts, ValueHistogram, weighted_gini};
use crate::rng::{below, shuffle, unit};
use crate::training::TrainingSet;

/// Settings of the greedy covering.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BranchSettings {
    /// Most boxes per model.
    pub max_boxes: u32,
    /// Fraction of the subsets evaluated per box, in `(0, 1]`; `None` = the searcher's
    /// default (all for DBranches, half for the ensemble).
    pub subset_fraction: Option<f64>,
    /// Cap of `min_pts`, the most candidate values added per side in an expand step
    /// (`min_pts = min(cap, 1.5 * positives)`).
    pub min_pts_cap: u32,
    /// Stop a border with nothing beyond it a random fraction past the furthest positive
    /// instead of at infinity; `None` = the searcher's default (on for DBranches, off for
    /// the ensemble, as the reference configures them).
    pub stop_infinite: Option<bool>,
    /// Consecutive rounds without a valid box before training gives up.
    pub max_retries: u32,
}

impl Default for BranchSettings {
    fn default() -> Self {
        Self {
            max_boxes: 30,
            subset_fraction: None,
            min_pts_cap: 50,
            stop_infinite: None,
            max_retries: 5,
        }
    }
}

impl BranchSettings {
    /// The single model's covering (DBranches): every subset per box, borders stopped near
    /// the positives.
    pub(crate) fn single(&self) -> Covering {
        self.covering(1.0, true)
    }

    /// An ensemble member's covering: half the subsets per box, open borders.
    pub(crate) fn ensemble_member(&self) -> Covering {
        self.covering(0.5, false)
    }

    fn covering(&self, subset_fraction: f64, stop_infinite: bool) -> Covering {
        Covering {
            max_boxes: self.max_boxes,
            subset_fraction: self.subset_fraction.unwrap_or(subset_fraction),
            min_pts_cap: self.min_pts_cap,
            stop_infinite: self.stop_infinite.unwrap_or(stop_infinite),
            max_retries: self.max_retries,
        }
    }
}

/// [`BranchSettings`] with the searcher's defaults filled in.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Covering {
    max_boxes: u32,
    subset_fraction: f64,
    min_pts_cap: u32,
    stop_infinite: bool,
    max_retries: u32,
}

impl Covering {
    /// Subsets tried per box, as [`train_boxes`] counts them.
    fn subsets_per_box(&self, subsets: usize) -> usize {
        ((subsets as f64 * self.subset_fraction).round() as usize).clamp(1, subsets.max(1))
    }

    /// Most row-dim visits of one model's covering over `rows` training rows: every box
    /// tries its subsets over every row still uncovered (at most all of them).
    pub(crate) fn work(&self, subsets: &[Vec<u16>], rows: usize) -> u64 {
        let dims_per_subset = subsets.iter().map(Vec::len).sum::<usize>() / subsets.len().max(1);
        u64::from(self.max_boxes)
            .saturating_mul(self.subsets_per_box(subsets.len()) as u64)
            .saturating_mul(dims_per_subset.max(1) as u64)
            .saturating_mul(rows as u64)
    }
}

/// A box found in training: `f64` borders over the dims of one subset, in its order.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainedBox {
    /// Position of the subset in the index.
    pub subset: usize,
    /// Lower borders (inclusive), `-inf` when unbounded.
    pub lo: Vec<f64>,
    /// Upper borders (inclusive), `+inf` when unbounded.
    pub hi: Vec<f64>,
}

impl TrainedBox {
    /// Whether the full row `row` lies in the box, whose subset has the dims `dims`
    /// (a row too short for a dim is outside).
    pub fn contains(&self, row: &[u8], dims: &[u16]) -> bool {
        dims.iter()
            .zip(self.lo.iter().zip(&self.hi))
            .all(|(&d, (&lo, &hi))| {
                row.get(usize::from(d))
                    .is_some_and(|&v| lo <= f64::from(v) && f64::from(v) <= hi)
            })
    }

    /// The box on the `u8` grid: `[ceil(lo), floor(hi)]` clamped to `[0, 255]` per dim,
    /// or `None` when that holds no value in some dim.
    pub fn to_u8(&self) -> Option<(Vec<u8>, Vec<u8>)> {
        let mut lo_u8 = Vec::with_capacity(self.lo.len());
        let mut hi_u8 = Vec::with_capacity(self.hi.len());
        for (&lo, &hi) in self.lo.iter().zip(&self.hi) {
            if lo.is_nan() || hi.is_nan() {
                return None;
            }
            let lo = lo.ceil().max(0.0);
            let hi = hi.floor().min(255.0);
            if lo > hi {
                return None;
            }
            // Both lie in [0, 255] now, and `as` truncates an integral value exactly.
            lo_u8.push(lo as u8);
            hi_u8.push(hi as u8);
        }
        Some((lo_u8, hi_u8))
    }
}

/// Trains one model: greedy covering of the positives of `set` with boxes over `subsets`
/// (each non-empty with dims below `set.dims()`). `settings.subset_fraction` of the
/// subsets, drawn at random, are evaluated per box.
pub(crate) fn train_boxes(
    set: &TrainingSet,
    subsets: &[Vec<u16>],
    settings: &Covering,
    rng: &mut ChaCha8Rng,
) -> Vec<TrainedBox> {
    if subsets.is_empty() {
        return Vec::new();
    }
    let positives = set.positives() as f64;
    let grow = GrowSettings {
        min_pts: ((1.5 * positives).floor() as u32).clamp(1, settings.min_pts_cap.max(1)),
        stop_infinite: settings.stop_infinite,
    };
    let per_box = settings.subsets_per_box(subsets.len());
    let mut subset_order: Vec<u32> = (0..subsets.len() as u32).collect();
    let mut remaining: Vec<u32> = (0..set.len() as u32).collect();
    let mut columns = Columns::default();
    let mut labels: Vec<bool> = Vec::new();
    let mut scratch = Scratch::default();
    let (mut best_lo, mut best_hi) = (Vec::new(), Vec::new());
    let mut boxes = Vec::new();
    let mut failures = 0;

    while boxes.len() < settings.max_boxes as usize && remaining.len() > 1 {
        labels.clear();
        labels.extend(remaining.iter().map(|&r| set.label(r as usize)));
        let remaining_positives = labels.iter().filter(|&&l| l).count();
        if remaining_positives == 0 {
            break;
        }
        columns.fill(set, &remaining);
        let nth = below(rng, remaining_positives as u32) as usize;
        let Some(p) = labels
            .iter()
            .enumerate()
            .filter(|(_, l)| **l)
            .nth(nth)
            .map(|(i, _)| i)
        else {
            break;
        };
        // In an order drawn anew for each box, as the reference tries them: of subsets
        // equally good (and as small), the box goes to one at random.
        for i in 0..per_box {
            let j = i + below(rng, (subsets.len() - i) as u32) as usize;
            subset_order.swap(i, j);
        }

        let mut subset_columns: Vec<Column<'_>> = Vec::new();
        let mut best: Option<(f64, usize, usize)> = None;
        for &s in &subset_order[..per_box] {
            let subset = &subsets[s as usize];
            subset_columns.clear();
            subset_columns.extend(subset.iter().map(|&d| columns.column(usize::from(d))));
            let Some(score) = grow_box(&subset_columns, &labels, p, &grow, rng, &mut scratch)
            else {
                continue;
            };
            let better = best.is_none_or(|(b, dims_of_best, _)| {
                score < b || (score == b && subset.len() < dims_of_best)
            });
            if better {
                best = Some((score, subset.len(), s as usize));
                best_lo.clone_from(&scratch.lo);
                best_hi.clone_from(&scratch.hi);
            }
        }
        let Some((_, _, subset)) = best else {
            failures += 1;
            if failures >= settings.max_retries {
                break;
            }
            continue;
        };
        failures = 0;
        let grown = TrainedBox {
            subset,
            lo: best_lo.clone(),
            hi: best_hi.clone(),
        };
        remaining.retain(|&r| !grown.contains(set.row(r as usize), &subsets[subset]));
        boxes.push(grown);
    }
    boxes
}

/// Trains one model per seed (its generator is `ChaCha8Rng::seed_from_u64(seed)`), each
/// on a bootstrap sample of `set` holding at least one positive; in parallel natively, in
/// turn in wasm. The result does not depend on which, nor on how the seeds are split.
pub(crate) fn train_ensemble(
    set: &TrainingSet,
    subsets: &[Vec<u16>],
    settings: &Covering,
    seeds: &[u64],
) -> Vec<Vec<TrainedBox>> {
    let train_one = |mut model_rng: ChaCha8Rng| {
        let sample = bootstrap_with_a_positive(set, &mut model_rng);
        train_boxes(&set.select(&sample), subsets, settings, &mut model_rng)
    };
    let rngs = seeds.iter().map(|&seed| ChaCha8Rng::seed_from_u64(seed));
    #[cfg(not(target_family = "wasm"))]
    {
        use rayon::prelude::*;
        rngs.collect::<Vec<_>>()
            .into_par_iter()
            .map(train_one)
            .collect()
    }
    #[cfg(target_family = "wasm")]
    {
        rngs.map(train_one).collect()
    }
}

/// `set.len()` row indices drawn with replacement; when none is positive, one draw is
/// replaced by a random positive (if the set has any).
fn bootstrap_with_a_positive(set: &TrainingSet, rng: &mut ChaCha8Rng) -> Vec<u32> {
    let n = set.len() as u32;
    if n == 0 {
        return Vec::new();
    }
    let mut sample: Vec<u32> = (0..n).map(|_| below(rng, n)).collect();
    if !sample.iter().any(|&i| set.label(i as usize)) {
        let positives: Vec<u32> = (0..n).filter(|&i| set.label(i as usize)).collect();
        if !positives.is_empty() {
            let slot = below(rng, n) as usize;
            sample[slot] = positives[below(rng, positives.len() as u32) as usize];
        }
    }
    sample
}

/// The remaining rows of a round as one column per dim, each with its rows sorted by
/// value (a counting sort), so that the rows of a value range form one contiguous slice.
#[derive(Default)]
struct Columns {
    rows: usize,
    /// `dims x rows` values.
    values: Vec<u8>,
    /// `dims x rows` row indices, ascending by value within each dim.
    sorted: Vec<u32>,
    /// `dims x 257`: per dim, the position in `sorted` of the first row of each value.
    starts: Vec<u32>,
}

impl Columns {
    fn fill(&mut self, set: &TrainingSet, rows: &[u32]) {
        let (dims, m) = (set.dims(), rows.len());
        self.rows = m;
        self.values.clear();
        self.values.resize(dims * m, 0);
        for (j, &r) in rows.iter().enumerate() {
            for (d, &value) in set.row(r as usize).iter().enumerate() {
                self.values[d * m + j] = value;
            }
        }
        self.sorted.clear();
        self.sorted.resize(dims * m, 0);
        self.starts.clear();
        self.starts.resize(dims * 257, 0);
        for d in 0..dims {
            let values = &self.values[d * m..][..m];
            let starts = &mut self.starts[d * 257..][..257];
            for &v in values {
                starts[usize::from(v) + 1] += 1;
            }
            for v in 1..257 {
                starts[v] += starts[v - 1];
            }
            let mut next: [u32; 256] = std::array::from_fn(|v| starts[v]);
            let sorted = &mut self.sorted[d * m..][..m];
            for (j, &v) in values.iter().enumerate() {
                sorted[next[usize::from(v)] as usize] = j as u32;
                next[usize::from(v)] += 1;
            }
        }
    }

    fn column(&self, d: usize) -> Column<'_> {
        let m = self.rows;
        Column {
            values: &self.values[d * m..][..m],
            sorted: &self.sorted[d * m..][..m],
            starts: &self.starts[d * 257..][..257],
        }
    }
}

/// One dim of [`Columns`].
#[derive(Clone, Copy)]
struct Column<'a> {
    values: &'a [u8],
    sorted: &'a [u32],
    starts: &'a [u32],
}

impl<'a> Column<'a> {
    /// The rows with a value in `from..=to` (grid values; outside `0..=255` is empty).
    fn rows_between(&self, from: i16, to: i16) -> &'a [u32] {
        let (from, to) = (from.max(0), to.min(255));
        if from > to {
            return &[];
        }
        let start = self.starts[from as usize] as usize;
        let end = self.starts[to as usize + 1] as usize;
        &self.sorted[start..end]
    }
}

/// Settings of one box growth, fixed for a training run.
struct GrowSettings {
    min_pts: u32,
    stop_infinite: bool,
}

/// Buffers reused by every box growth of a training run.
#[derive(Default)]
struct Scratch {
    /// Processing order of the subset's dims.
    order: Vec<usize>,
    /// Rows other than `p` equal to it in every dim created so far.
    tied: Vec<u32>,
    /// Per row, the number of dims in which it lies outside the box.
    outside: Vec<u16>,
    lo: Vec<f64>,
    hi: Vec<f64>,
    /// Per dim, the first and last grid value inside the borders.
    grid: Vec<(i16, i16)>,
    lower: ValueHistogram,
    upper: ValueHistogram,
    /// Candidate values of one side, outward, with their counts.
    values: Vec<(u8, Counts)>,
}

/// Which border of a dim.
#[derive(Clone, Copy)]
enum Side {
    Lower,
    Upper,
}

impl Side {
    /// +1 for the upper border, -1 for the lower: the direction the border moves outward.
    fn sign(self) -> f64 {
        match self {
            Side::Lower => -1.0,
            Side::Upper => 1.0,
        }
    }

    /// The rows of `column` strictly beyond `border` on this side.
    fn rows_beyond<'a>(self, column: Column<'a>, border: f64) -> &'a [u32] {
        match self {
            Side::Lower => column.rows_between(0, first_on_grid(border) - 1),
            Side::Upper => column.rows_between(last_on_grid(border) + 1, 255),
        }
    }

    /// The value of the row of `rows` (ascending by value) furthest out on this side.
    fn outermost(self, rows: &[u32], col: &[u8]) -> Option<u8> {
        match self {
            Side::Lower => rows.first(),
            Side::Upper => rows.last(),
        }
        .map(|&i| col[i as usize])
    }
}

/// Fractions of the reference's border placement (`split` in its `functions.pyx`): just
/// short of a value, and just past one.
const JUST_SHORT: f64 = 0.9999;
const JUST_PAST: f64 = 0.0001;

/// `from` moved outward by `fraction` of `distance`, or by a hair when that is zero, so
/// that a border past a value never falls on it.
fn outward(side: Side, from: f64, distance: f64, fraction: f64) -> f64 {
    let step = (distance * fraction).abs();
    from + side.sign() * if step == 0.0 { 1e-9 } else { step }
}

/// A border in the create step on a side where no row tied with `p` is left: just past the
/// nearest positive beyond `p` in this dim (any remaining row), or just past `p` when there
/// is none, as the reference places it. The expand step then weighs the rows beyond.
fn past_nearest_positive(side: Side, column: Column<'_>, labels: &[bool], p: usize) -> f64 {
    let col = column.values;
    let xp = f64::from(col[p]);
    let beyond = side.rows_beyond(column, xp);
    let positive = |i: &&u32| labels[**i as usize];
    let nearest = match side {
        Side::Lower => beyond.iter().rev().find(positive),
        Side::Upper => beyond.iter().find(positive),
    };
    match nearest {
        Some(&i) => {
            let inner = f64::from(col[i as usize]);
            outward(side, inner, inner - xp, JUST_PAST)
        }
        None => {
            let extreme = side.outermost(column.sorted, col).map_or(xp, f64::from);
            outward(side, xp, extreme - xp, JUST_PAST)
        }
    }
}

/// Where a border stops when nothing beyond `from` is weighed (no candidate is left, or
/// every candidate was taken in). Without `stop_infinite`: at infinity. With it, as the
/// reference does: in the subset's last dim of the order, a random fraction of the way to
/// the remaining rows' extreme value; in the others, a random fraction of the distance
/// past the furthest positive beyond `from` (any remaining row), or just past `from` when
/// there is none. This keeps a box near the positives instead of open to the grid's end.
fn open_border(
    side: Side,
    from: f64,
    column: Column<'_>,
    labels: &[bool],
    last_dim: bool,
    settings: &GrowSettings,
    rng: &mut ChaCha8Rng,
) -> f64 {
    if !settings.stop_infinite {
        return side.sign() * f64::INFINITY;
    }
    let col = column.values;
    let beyond = side.rows_beyond(column, from);
    let extreme = side.outermost(beyond, col).map_or(from, f64::from);
    let random = JUST_SHORT * unit(rng);
    if last_dim {
        return outward(side, from, extreme - from, random);
    }
    let positive = |i: &&u32| labels[**i as usize];
    let furthest = match side {
        Side::Lower => beyond.iter().find(positive),
        Side::Upper => beyond.iter().rev().find(positive),
    };
    match furthest {
        Some(&i) => {
            let furthest = f64::from(col[i as usize]);
            outward(side, furthest, furthest - from, random)
        }
        None => outward(side, from, extreme - from, JUST_PAST),
    }
}

/// Grows a box around row `p` over the columns `cols` of one subset; the borders are left
/// in `scratch.lo` / `scratch.hi` (subset order). Returns the weighted Gini of the box over
/// all rows, or `None` when it holds no row.
fn grow_box(
    cols: &[Column<'_>],
    labels: &[bool],
    p: usize,
    settings: &GrowSettings,
    rng: &mut ChaCha8Rng,
    s: &mut Scratch,
) -> Option<f64> {
    let k = cols.len();
    s.order.clear();
    s.order.extend(0..k);
    shuffle(&mut s.order, rng);
    s.lo.clear();
    s.lo.resize(k, 0.0);
    s.hi.clear();
    s.hi.resize(k, 0.0);

    // Create: borders just short of the nearest row still tied with p; once p is
    // separated from every row (or on a side with no tied row), just beyond the nearest
    // positive.
    for step in 0..k {
        let d = s.order[step];
        let column = cols[d];
        let col = column.values;
        let xp = col[p];
        let value = |i: &u32| col[*i as usize];
        let (mut nearest_below, mut nearest_above) = (None::<u8>, None::<u8>);
        if step == 0 {
            // Every row but p is still tied: the nearest values are p's neighbours.
            nearest_below = column.rows_between(0, i16::from(xp) - 1).last().map(value);
            nearest_above = column
                .rows_between(i16::from(xp) + 1, 255)
                .first()
                .map(value);
            s.tied.clear();
            s.tied.extend(
                column
                    .rows_between(i16::from(xp), i16::from(xp))
                    .iter()
                    .filter(|&&i| i as usize != p),
            );
        } else {
            s.tied.retain(|&i| {
                let v = col[i as usize];
                if v > xp {
                    nearest_above = Some(nearest_above.map_or(v, |a| a.min(v)));
                } else if v < xp {
                    nearest_below = Some(nearest_below.map_or(v, |b| b.max(v)));
                }
                v == xp
            });
        }
        let short_of =
            |nearest: u8| f64::from(xp) + (f64::from(nearest) - f64::from(xp)) * JUST_SHORT;
        s.lo[d] = nearest_below.map_or_else(
            || past_nearest_positive(Side::Lower, column, labels, p),
            short_of,
        );
        s.hi[d] = nearest_above.map_or_else(
            || past_nearest_positive(Side::Upper, column, labels, p),
            short_of,
        );
    }

    let mut total = Counts::default();
    let mut inside = Counts::default();
    s.outside.clear();
    s.grid.clear();
    s.grid.extend(
        s.lo.iter()
            .zip(&s.hi)
            .map(|(&lo, &hi)| (first_on_grid(lo), last_on_grid(hi))),
    );
    for (i, &label) in labels.iter().enumerate() {
        total.add(label);
        let outside = (0..k)
            .filter(|&d| !(s.grid[d].0..=s.grid[d].1).contains(&i16::from(cols[d].values[i])))
            .count() as u16;
        if outside == 0 {
            inside.add(label);
        }
        s.outside.push(outside);
    }

    // Expand: one pass over the dims; candidates lie outside the box in this dim only.
    for step in 0..k {
        let d = s.order[step];
        let column = cols[d];
        let col = column.values;
        let (lo, hi) = (s.lo[d], s.hi[d]);
        let (first, last) = (first_on_grid(lo), last_on_grid(hi));
        // The histograms are all zero here; only the span of candidate values is
        // scanned and zeroed again below.
        let (mut lowest, mut highest) = (u8::MAX, u8::MIN);
        for &i in column.rows_between(0, first - 1) {
            let i = i as usize;
            if s.outside[i] == 1 {
                s.lower.add(col[i], labels[i]);
                lowest = lowest.min(col[i]);
            }
        }
        for &i in column.rows_between(last + 1, 255) {
            let i = i as usize;
            if s.outside[i] == 1 {
                s.upper.add(col[i], labels[i]);
                highest = highest.max(col[i]);
            }
        }
        for (side, old) in [(Side::Lower, lo), (Side::Upper, hi)] {
            let candidates = match side {
                Side::Lower => &mut s.lower,
                Side::Upper => &mut s.upper,
            };
            s.values.clear();
            let mut take = |v: u8| {
                let counts = candidates.take(v);
                if counts.total() > 0 {
                    s.values.push((v, counts));
                }
            };
            // Candidates lie strictly beyond the grid border, so the spans stay in 0..=255.
            match side {
                Side::Lower if i16::from(lowest) < first => {
                    (lowest..=(first - 1) as u8).rev().for_each(&mut take)
                }
                Side::Upper if i16::from(highest) > last => {
                    ((last + 1) as u8..=highest).for_each(&mut take)
                }
                _ => {}
            }
            let new = match expand_side(old, &s.values, inside, total, settings.min_pts) {
                Expanded::To(border) => border,
                Expanded::Open { from } => {
                    open_border(side, from, column, labels, step + 1 == k, settings, rng)
                }
            };
            // Rows between the old and the new border are now inside in this dim; on the
            // grid, the inside range grows to `newly`, exclusive of `before`.
            let (newly, before) = match side {
                Side::Lower => (first_on_grid(new), first_on_grid(old)),
                Side::Upper => (last_on_grid(new), last_on_grid(old)),
            };
            match side {
                Side::Lower => s.lo[d] = new,
                Side::Upper => s.hi[d] = new,
            }
            if newly == before {
                continue;
            }
            let crossed = match side {
                Side::Lower => column.rows_between(newly, before - 1),
                Side::Upper => column.rows_between(before + 1, newly),
            };
            for &i in crossed {
                let outside = &mut s.outside[i as usize];
                // A crossing row was outside in this dim, so the count is positive.
                *outside -= 1;
                if *outside == 0 {
                    inside.add(labels[i as usize]);
                }
            }
        }
    }

    (inside.total() > 0).then(|| weighted_gini(inside, total.minus(inside)))
}

/// The smallest grid value at or above a lower border, in `-1..=256`.
fn first_on_grid(lo: f64) -> i16 {
    lo.ceil().clamp(-1.0, 256.0) as i16
}

/// The largest grid value at or below an upper border, in `-1..=256`.
fn last_on_grid(hi: f64) -> i16 {
    hi.floor().clamp(-1.0, 256.0) as i16
}

/// Where the expand step puts one border.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Expanded {
    /// At this value.
    To(f64),
    /// Past `from` with nothing beyond weighed: [`open_border`] places it.
    Open { from: f64 },
}

/// The new border of one side in the expand step. `values` are the candidate values,
/// outward from `border`, with their counts; `inside` / `total` count the box and all rows.
/// Candidate values are taken in outward, at most `min_pts` of them, and the border goes
/// midway past the last one of the strictly best Gini; with no positive among the
/// candidates, or none better, half-way to the nearest.
fn expand_side(
    border: f64,
    values: &[(u8, Counts)],
    inside: Counts,
    total: Counts,
    min_pts: u32,
) -> Expanded {
    let Some(&(nearest, _)) = values.first() else {
        return Expanded::Open { from: border };
    };
    let halfway = Expanded::To(border + (f64::from(nearest) - border) / 2.0);
    if values.iter().all(|(_, c)| c.pos == 0) {
        return halfway;
    }
    let limit = values.len().min(min_pts as usize);
    let mut grown = inside;
    let mut best_score = weighted_gini(inside, total.minus(inside));
    let mut best = None;
    for (i, &(_, counts)) in values[..limit].iter().enumerate() {
        grown = grown.plus(counts);
        let score = weighted_gini(grown, total.minus(grown));
        if score < best_score {
            best_score = score;
            best = Some(i);
        }
    }
    match best {
        None => halfway,
        Some(i) if i + 1 < values.len() => {
            Expanded::To((f64::from(values[i].0) + f64::from(values[i + 1].0)) / 2.0)
        }
        Some(i) => Expanded::Open {
            from: f64::from(values[i].0),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::RngCore;

    fn rng() -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(5)
    }

    fn trained(lo: &[f64], hi: &[f64]) -> TrainedBox {
        TrainedBox {
            subset: 0,
            lo: lo.to_vec(),
            hi: hi.to_vec(),
        }
    }

    /// Grows a box over one column around row `p`; returns (lo, hi, score).
    fn grow_1d(
        col: &[u8],
        labels: &[bool],
        p: usize,
        min_pts: u32,
        stop_infinite: bool,
    ) -> (f64, f64, Option<f64>) {
        let mut scratch = Scratch::default();
        let settings = GrowSettings {
            min_pts,
            stop_infinite,
        };
        let set = TrainingSet::from_rows(1, col.to_vec(), labels.to_vec()).unwrap();
        let mut columns = Columns::default();
        columns.fill(&set, &(0..col.len() as u32).collect::<Vec<_>>());
        let score = grow_box(
            &[columns.column(0)],
            labels,
            p,
            &settings,
            &mut rng(),
            &mut scratch,
        );
        (scratch.lo[0], scratch.hi[0], score)
    }

    /// The single model's covering with borders left open (`stop_infinite` off).
    fn open_borders() -> Covering {
        BranchSettings {
            stop_infinite: Some(false),
            ..BranchSettings::default()
        }
        .single()
    }

    fn set(rows: &[Vec<u8>], labels: &[bool]) -> TrainingSet {
        TrainingSet::from_rows(rows[0].len(), rows.concat(), labels.to_vec()).unwrap()
    }

    #[test]
    fn u8_conversion_rounds_inward_and_clamps() {
        let b = trained(
            &[f64::NEG_INFINITY, 12.3, -5.0, 7.0],
            &[f64::INFINITY, 80.7, 300.0, 7.0],
        );
        assert_eq!(b.to_u8(), Some((vec![0, 13, 0, 7], vec![255, 80, 255, 7])));
        // Holds no integer.
        assert_eq!(trained(&[12.2], &[12.8]).to_u8(), None);
        // Entirely off the grid.
        assert_eq!(trained(&[255.5], &[f64::INFINITY]).to_u8(), None);
        assert_eq!(trained(&[f64::NEG_INFINITY], &[-0.5]).to_u8(), None);
        assert_eq!(trained(&[f64::NAN], &[3.0]).to_u8(), None);
    }

    #[test]
    fn create_stops_just_short_of_the_nearest_values_and_expand_moves_halfway() {
        // Only negatives around p: both borders move halfway to them.
        let (lo, hi, score) = grow_1d(&[10, 20, 5], &[true, false, false], 0, 50, false);
        let create_hi = 10.0 + 10.0 * 0.9999;
        let create_lo = 10.0 - 5.0 * 0.9999;
        assert_eq!(hi, create_hi + (20.0 - create_hi) / 2.0);
        assert_eq!(lo, create_lo + (5.0 - create_lo) / 2.0);
        assert_eq!(score, Some(0.0));
    }

    #[test]
    fn expand_keeps_the_strictly_best_gini_and_borders_midway() {
        // pos 10, 12, 14; neg 11, 30, 2. Adding 11, 12, 14 gives the best Gini (0.25);
        // adding 30 as well ties it (0.4 > 0.25), so the border goes between 14 and 30.
        let col = [10, 12, 14, 11, 30, 2];
        let labels = [true, true, true, false, false, false];
        let (lo, hi, score) = grow_1d(&col, &labels, 0, 50, false);
        assert_eq!(hi, 22.0);
        assert!(lo > 2.0 && lo < 3.0);
        assert!((score.unwrap() - 0.25).abs() < 1e-12);
        // With min_pts = 2 only 11 and 12 are tried; neither beats the start.
        let (_, hi, _) = grow_1d(&col, &labels, 0, 2, false);
        let create_hi = 10.0 + 1.0 * 0.9999;
        assert_eq!(hi, create_hi + (11.0 - create_hi) / 2.0);
    }

    #[test]
    fn including_every_candidate_makes_the_border_unbounded() {
        let col = [10, 12, 2];
        let labels = [true, true, false];
        let (_, hi, score) = grow_1d(&col, &labels, 0, 50, false);
        assert_eq!(hi, f64::INFINITY);
        assert_eq!(score, Some(0.0));
        // stop_infinite, in the last dim: a random fraction of the way to the furthest
        // row's value, which is the last positive itself here.
        let (_, hi, _) = grow_1d(&col, &labels, 0, 50, true);
        assert!((12.0..13.0).contains(&hi), "{hi}");
    }

    #[test]
    fn the_searchers_defaults_are_the_references() {
        let defaults = BranchSettings::default();
        assert!(defaults.single().stop_infinite);
        assert_eq!(defaults.single().subset_fraction, 1.0);
        assert!(!defaults.ensemble_member().stop_infinite);
        assert_eq!(defaults.ensemble_member().subset_fraction, 0.5);
        let chosen = BranchSettings {
            stop_infinite: Some(false),
            subset_fraction: Some(0.25),
            ..defaults
        };
        assert!(!chosen.single().stop_infinite);
        assert_eq!(chosen.ensemble_member().subset_fraction, 0.25);
    }

    /// One column of `values` (all rows remaining).
    fn columns(values: &[u8]) -> Columns {
        let set = TrainingSet::from_rows(1, values.to_vec(), vec![false; values.len()]).unwrap();
        let mut columns = Columns::default();
        columns.fill(&set, &(0..values.len() as u32).collect::<Vec<_>>());
        columns
    }

    #[test]
    fn create_borders_without_tied_rows_stop_just_past_the_nearest_positive() {
        // p = 100; positives at 90, 130 and 160; negatives at 95, 120 and 200.
        let values = [100, 90, 130, 160, 95, 120, 200];
        let labels = [true, true, true, true, false, false, false];
        let columns = columns(&values);
        let column = columns.column(0);
        let hi = past_nearest_positive(Side::Upper, column, &labels, 0);
        let lo = past_nearest_positive(Side::Lower, column, &labels, 0);
        assert!(hi > 130.0 && hi < 130.01, "{hi}");
        assert!(lo < 90.0 && lo > 89.99, "{lo}");
        // No positive beyond p: just past p itself (the rows beyond stay outside).
        let labels = [true, false, false, false, false, false, false];
        let hi = past_nearest_positive(Side::Upper, column, &labels, 0);
        assert!(hi > 100.0 && hi < 100.1, "{hi}");
    }

    #[test]
    fn open_borders_with_stop_infinite_stay_near_the_positives() {
        // Rows at 10 .. 250; positives at 40 and 60; the border is open from 30.
        let values = [10, 30, 40, 50, 60, 250];
        let labels = [false, true, true, false, true, false];
        let columns = columns(&values);
        let column = columns.column(0);
        let grow = |stop_infinite| GrowSettings {
            min_pts: 50,
            stop_infinite,
        };
        let mut r = rng();
        let open = |last_dim, stop_infinite, r: &mut ChaCha8Rng| {
            open_border(
                Side::Upper,
                30.0,
                column,
                &labels,
                last_dim,
                &grow(stop_infinite),
                r,
            )
        };
        assert_eq!(open(false, false, &mut r), f64::INFINITY);
        for _ in 0..20 {
            // Past the furthest positive (60) by at most the distance from 30 to it.
            let border = open(false, true, &mut r);
            assert!((60.0..90.0).contains(&border), "{border}");
            // In the last dim: somewhere up to the furthest row (250).
            let border = open(true, true, &mut r);
            assert!((30.0..250.0).contains(&border), "{border}");
        }
        // Nothing positive below 30 but the row at 10: the border stays just below 30.
        let lower = open_border(
            Side::Lower,
            30.0,
            column,
            &labels,
            false,
            &grow(true),
            &mut r,
        );
        assert!(lower < 30.0 && lower > 29.9, "{lower}");
    }

    #[test]
    fn all_equal_rows_give_one_unbounded_box() {
        let rows = vec![vec![7, 7]; 4];
        let labels = [true, false, true, false];
        let boxes = train_boxes(
            &set(&rows, &labels),
            &[vec![0, 1]],
            &open_borders(),
            &mut rng(),
        );
        assert_eq!(boxes.len(), 1);
        assert_eq!(boxes[0].to_u8(), Some((vec![0, 0], vec![255, 255])));
    }

    #[test]
    fn without_negatives_the_boxes_cover_all_but_a_last_lone_row() {
        // Every box has Gini 0 here, so no expansion is strictly better and the covering
        // may need one box per row; it stops when a single row remains (spec section 4).
        let rows = vec![vec![1, 200], vec![50, 3], vec![90, 90]];
        for seed in 0..5 {
            let boxes = train_boxes(
                &set(&rows, &[true; 3]),
                &[vec![0, 1]],
                &open_borders(),
                &mut ChaCha8Rng::seed_from_u64(seed),
            );
            let uncovered = rows
                .iter()
                .filter(|r| !boxes.iter().any(|b| b.contains(r, &[0, 1])))
                .count();
            assert!((1..=3).contains(&boxes.len()), "seed {seed}");
            assert!(uncovered <= 1, "seed {seed}: {uncovered} rows uncovered");
        }
    }

    #[test]
    fn a_single_positive_gets_a_box_without_the_negatives() {
        let rows = vec![
            vec![100, 100],
            vec![90, 100],
            vec![110, 100],
            vec![100, 120],
            vec![100, 80],
        ];
        let labels = [true, false, false, false, false];
        let boxes = train_boxes(
            &set(&rows, &labels),
            &[vec![0, 1]],
            &open_borders(),
            &mut rng(),
        );
        assert_eq!(boxes.len(), 1);
        assert!(boxes[0].contains(&rows[0], &[0, 1]));
        assert!(rows[1..].iter().all(|r| !boxes[0].contains(r, &[0, 1])));
        // A lone row is never boxed: the covering needs two rows or more.
        assert!(
            train_boxes(
                &set(&rows[..1], &[true]),
                &[vec![0, 1]],
                &open_borders(),
                &mut rng()
            )
            .is_empty()
        );
    }

    #[test]
    fn equal_scores_prefer_the_subset_with_fewer_dims() {
        // Dim 0 separates perfectly, so both subsets reach Gini 0.
        let rows: Vec<Vec<u8>> = (0..20u8)
            .map(|i| vec![if i < 10 { i } else { 100 + i }, i * 13])
            .collect();
        let labels: Vec<bool> = (0..20).map(|i| i < 10).collect();
        let training = set(&rows, &labels);
        for seed in 0..5 {
            let boxes = train_boxes(
                &training,
                &[vec![0, 1], vec![0]],
                &open_borders(),
                &mut ChaCha8Rng::seed_from_u64(seed),
            );
            assert_eq!(
                boxes.iter().map(|b| b.subset).collect::<Vec<_>>(),
                [1],
                "seed {seed}"
            );
        }
    }

    #[test]
    fn equal_scores_among_subsets_of_a_size_go_to_one_drawn_at_random() {
        // Dims 0 and 1 are the same column, so both one-dim subsets reach Gini 0; the
        // reference tries the subsets in a random order, and so the first of them differs.
        let rows: Vec<Vec<u8>> = (0..20u8)
            .map(|i| {
                let v = if i < 10 { i } else { 100 + i };
                vec![v, v]
            })
            .collect();
        let labels: Vec<bool> = (0..20).map(|i| i < 10).collect();
        let training = set(&rows, &labels);
        let chosen: std::collections::BTreeSet<usize> = (0..16)
            .map(|seed| {
                let boxes = train_boxes(
                    &training,
                    &[vec![0], vec![1]],
                    &open_borders(),
                    &mut ChaCha8Rng::seed_from_u64(seed),
                );
                boxes[0].subset
            })
            .collect();
        assert_eq!(chosen, [0, 1].into());
    }

    #[test]
    fn ensemble_members_do_not_depend_on_threads() {
        let rows: Vec<Vec<u8>> = (0..60u32)
            .map(|i| vec![i as u8, (i * 37 % 60) as u8, (i * 11 % 60) as u8])
            .collect();
        let labels: Vec<bool> = (0..60).map(|i| i % 7 == 0).collect();
        let training = set(&rows, &labels);
        let subsets = [vec![0, 1], vec![1, 2], vec![0, 2]];
        let settings = BranchSettings::default().ensemble_member();
        let mut seeder = rng();
        let seeds: Vec<u64> = (0..6).map(|_| seeder.next_u64()).collect();
        let models = train_ensemble(&training, &subsets, &settings, &seeds);
        // The same seeds trained in turn give the same boxes.
        let in_turn: Vec<Vec<TrainedBox>> = seeds
            .iter()
            .map(|&seed| {
                let mut r = ChaCha8Rng::seed_from_u64(seed);
                let sample = bootstrap_with_a_positive(&training, &mut r);
                train_boxes(&training.select(&sample), &subsets, &settings, &mut r)
            })
            .collect();
        assert_eq!(models, in_turn);
        assert!(models.iter().all(|m| !m.is_empty()));
    }
}
