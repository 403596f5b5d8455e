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

use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::gini::{Counts, ValueHistogram, weighted_gini};
use crate::rng::{below, child_rngs, shuffle, unit};
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
    /// Stop an unbounded border a random fraction beyond the furthest positive instead
    /// of at infinity.
    pub stop_infinite: bool,
    /// Consecutive rounds without a valid box before training gives up.
    pub max_retries: u32,
}

impl Default for BranchSettings {
    fn default() -> Self {
        Self {
            max_boxes: 30,
            subset_fraction: None,
            min_pts_cap: 50,
            stop_infinite: false,
            max_retries: 5,
        }
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
    /// Whether the full row `row` lies in the box, whose subset has the dims `dims`.
    pub fn contains(&self, row: &[u8], dims: &[u16]) -> bool {
        dims.iter()
            .zip(self.lo.iter().zip(&self.hi))
            .all(|(&d, (&lo, &hi))| {
                let x = f64::from(row[usize::from(d)]);
                lo <= x && x <= hi
            })
    }

    /// The box on the `u8` grid: `[ceil(lo), floor(hi)]` clamped to `[0, 255]` per dim,
    /// or `None` when that holds no value in some dim.
    pub fn to_u8(&self) -> Option<(Vec<u8>, Vec<u8>)> {
        let mut lo_u8 = Vec::with_capacity(self.lo.len());
        let mut hi_u8 = Vec::with_capacity(self.hi.len());
        for (&lo, &hi) in self.lo.iter().zip(&self.hi) {
            let lo = lo.ceil().max(0.0);
            let hi = hi.floor().min(255.0);
            // Comparisons with NaN are false, so a NaN border makes the box empty.
            if !(lo <= hi) {
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
/// (each non-empty with dims below `set.dims()`). `subset_fraction` of the subsets,
/// drawn at random, are evaluated per box.
pub fn train_boxes(
    set: &TrainingSet,
    subsets: &[Vec<u16>],
    settings: &BranchSettings,
    subset_fraction: f64,
    rng: &mut ChaCha8Rng,
) -> Vec<TrainedBox> {
    let dims = set.dims();
    if subsets.is_empty() {
        return Vec::new();
    }
    let positives = set.positives() as f64;
    let grow = GrowSettings {
        min_pts: ((1.5 * positives).floor() as u32).clamp(1, settings.min_pts_cap.max(1)),
        stop_infinite: settings.stop_infinite,
    };
    let per_box =
        ((subsets.len() as f64 * subset_fraction).round() as usize).clamp(1, subsets.len());
    let mut subset_order: Vec<u32> = (0..subsets.len() as u32).collect();
    let mut remaining: Vec<u32> = (0..set.len() as u32).collect();
    let mut columns: Vec<u8> = Vec::new();
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
        let m = remaining.len();
        columns.clear();
        columns.resize(dims * m, 0);
        for (j, &r) in remaining.iter().enumerate() {
            for (d, &value) in set.row(r as usize).iter().enumerate() {
                columns[d * m + j] = value;
            }
        }
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
        if per_box < subsets.len() {
            for i in 0..per_box {
                let j = i + below(rng, (subsets.len() - i) as u32) as usize;
                subset_order.swap(i, j);
            }
        }

        let mut subset_columns: Vec<&[u8]> = Vec::new();
        let mut best: Option<(f64, usize, usize)> = None;
        for &s in &subset_order[..per_box] {
            let subset = &subsets[s as usize];
            subset_columns.clear();
            subset_columns.extend(subset.iter().map(|&d| &columns[usize::from(d) * m..][..m]));
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

/// Trains `models` models, each on a bootstrap sample of `set` holding at least one
/// positive; in parallel natively, in turn in wasm. The result does not depend on which.
pub fn train_ensemble(
    set: &TrainingSet,
    subsets: &[Vec<u16>],
    settings: &BranchSettings,
    subset_fraction: f64,
    models: u32,
    rng: &mut ChaCha8Rng,
) -> Vec<Vec<TrainedBox>> {
    let train_one = |mut model_rng: ChaCha8Rng| {
        let sample = bootstrap_with_a_positive(set, &mut model_rng);
        train_boxes(
            &set.select(&sample),
            subsets,
            settings,
            subset_fraction,
            &mut model_rng,
        )
    };
    let rngs = child_rngs(rng, models);
    #[cfg(not(target_family = "wasm"))]
    {
        use rayon::prelude::*;
        rngs.into_par_iter().map(train_one).collect()
    }
    #[cfg(target_family = "wasm")]
    {
        rngs.into_iter().map(train_one).collect()
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
    /// Rows equal to `p` in every dim created so far.
    active: Vec<bool>,
    /// Per row, the number of dims in which it lies outside the box.
    outside: Vec<u16>,
    lo: Vec<f64>,
    hi: Vec<f64>,
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
    /// Whether `x` lies beyond `reference` on this side.
    fn beyond(self, x: u8, reference: u8) -> bool {
        match self {
            Side::Lower => x < reference,
            Side::Upper => x > reference,
        }
    }

    /// Of two values beyond a reference, the one nearer to it.
    fn nearer(self, a: u8, b: u8) -> u8 {
        match self {
            Side::Lower => a.max(b),
            Side::Upper => a.min(b),
        }
    }

    /// The border past which nothing is left: infinity, or with `stop_infinite` a random
    /// fraction of the way from `furthest` (the furthest positive) to the end of the grid.
    fn unbounded(self, furthest: f64, stop_infinite: bool, rng: &mut ChaCha8Rng) -> f64 {
        match (self, stop_infinite) {
            (Side::Lower, false) => f64::NEG_INFINITY,
            (Side::Upper, false) => f64::INFINITY,
            (Side::Lower, true) => furthest - unit(rng) * furthest,
            (Side::Upper, true) => furthest + unit(rng) * (255.0 - furthest),
        }
    }
}

/// Grows a box around row `p` over the columns `cols` of one subset; the borders are left
/// in `scratch.lo` / `scratch.hi` (subset order). Returns the weighted Gini of the box over
/// all rows, or `None` when it holds no row.
fn grow_box(
    cols: &[&[u8]],
    labels: &[bool],
    p: usize,
    settings: &GrowSettings,
    rng: &mut ChaCha8Rng,
    s: &mut Scratch,
) -> Option<f64> {
    let n = labels.len();
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
    s.active.clear();
    s.active.resize(n, true);
    s.active[p] = false;
    let mut tied = n - 1;
    for step in 0..k {
        let d = s.order[step];
        let col = cols[d];
        let xp = col[p];
        let (mut nearest_below, mut nearest_above) = (None::<u8>, None::<u8>);
        if tied > 0 {
            tied = 0;
            for (active, &v) in s.active.iter_mut().zip(col) {
                if !*active {
                    continue;
                }
                if v > xp {
                    nearest_above = Some(nearest_above.map_or(v, |a| a.min(v)));
                    *active = false;
                } else if v < xp {
                    nearest_below = Some(nearest_below.map_or(v, |b| b.max(v)));
                    *active = false;
                } else {
                    tied += 1;
                }
            }
        }
        let short_of = |nearest: u8| f64::from(xp) + (f64::from(nearest) - f64::from(xp)) * 0.9999;
        s.lo[d] = match nearest_below {
            Some(v) => short_of(v),
            None => beyond_nearest_positive(col, labels, p, Side::Lower, settings, rng),
        };
        s.hi[d] = match nearest_above {
            Some(v) => short_of(v),
            None => beyond_nearest_positive(col, labels, p, Side::Upper, settings, rng),
        };
    }

    let mut total = Counts::default();
    let mut inside = Counts::default();
    s.outside.clear();
    for (i, &label) in labels.iter().enumerate() {
        total.add(label);
        let outside = (0..k)
            .filter(|&d| {
                let x = f64::from(cols[d][i]);
                x < s.lo[d] || x > s.hi[d]
            })
            .count() as u16;
        if outside == 0 {
            inside.add(label);
        }
        s.outside.push(outside);
    }

    // Expand: one pass over the dims; candidates lie outside the box in this dim only.
    for step in 0..k {
        let d = s.order[step];
        let col = cols[d];
        let (lo, hi) = (s.lo[d], s.hi[d]);
        s.lower.clear();
        s.upper.clear();
        for ((&outside, &v), &label) in s.outside.iter().zip(col).zip(labels) {
            if outside == 1 {
                let x = f64::from(v);
                if x < lo {
                    s.lower.add(v, label);
                } else if x > hi {
                    s.upper.add(v, label);
                }
            }
        }
        for (side, old) in [(Side::Lower, lo), (Side::Upper, hi)] {
            let candidates = match side {
                Side::Lower => &s.lower,
                Side::Upper => &s.upper,
            };
            s.values.clear();
            let mut push = |v: u8| {
                let counts = candidates.at(v);
                if counts.total() > 0 {
                    s.values.push((v, counts));
                }
            };
            match side {
                Side::Lower => (0..=255u8).rev().for_each(&mut push),
                Side::Upper => (0..=255u8).for_each(&mut push),
            }
            let furthest_inside = if settings.stop_infinite {
                extreme_positive_inside(col, labels, &s.outside, side)
            } else {
                None
            };
            let new = expand_side(
                side,
                old,
                &s.values,
                inside,
                total,
                furthest_inside,
                settings,
                rng,
            );
            // Rows between the old and the new border are now inside in this dim.
            for ((outside, &v), &label) in s.outside.iter_mut().zip(col).zip(labels) {
                let x = f64::from(v);
                let crossed = match side {
                    Side::Lower => x < old && x >= new,
                    Side::Upper => x > old && x <= new,
                };
                if crossed && *outside > 0 {
                    *outside -= 1;
                    if *outside == 0 {
                        inside.add(label);
                    }
                }
            }
            match side {
                Side::Lower => s.lo[d] = new,
                Side::Upper => s.hi[d] = new,
            }
        }
    }

    (inside.total() > 0).then(|| weighted_gini(inside, total.minus(inside)))
}

/// The create border of a side where no row tied with `p` remains: midway between the
/// nearest positive beyond `p` (or `p` itself if there is none) and the next value of any
/// row beyond it.
fn beyond_nearest_positive(
    col: &[u8],
    labels: &[bool],
    p: usize,
    side: Side,
    settings: &GrowSettings,
    rng: &mut ChaCha8Rng,
) -> f64 {
    let xp = col[p];
    let target = col
        .iter()
        .zip(labels)
        .filter(|&(&v, &label)| label && side.beyond(v, xp))
        .map(|(&v, _)| v)
        .reduce(|a, b| side.nearer(a, b))
        .unwrap_or(xp);
    let next = col
        .iter()
        .copied()
        .filter(|&v| side.beyond(v, target))
        .reduce(|a, b| side.nearer(a, b));
    match next {
        Some(v) => (f64::from(target) + f64::from(v)) / 2.0,
        None => side.unbounded(f64::from(target), settings.stop_infinite, rng),
    }
}

/// The furthest value towards `side` of a positive row inside the box.
fn extreme_positive_inside(col: &[u8], labels: &[bool], outside: &[u16], side: Side) -> Option<u8> {
    col.iter()
        .zip(labels)
        .zip(outside)
        .filter(|&((_, &label), &out)| label && out == 0)
        .map(|((&v, _), _)| v)
        .reduce(|a, b| match side {
            Side::Lower => a.min(b),
            Side::Upper => a.max(b),
        })
}

/// The new border of one side in the expand step. `values` are the candidate values,
/// outward from `border`, with their counts; `inside` / `total` count the box and all rows.
#[allow(clippy::too_many_arguments)]
fn expand_side(
    side: Side,
    border: f64,
    values: &[(u8, Counts)],
    inside: Counts,
    total: Counts,
    furthest_inside: Option<u8>,
    settings: &GrowSettings,
    rng: &mut ChaCha8Rng,
) -> f64 {
    let Some(&(nearest, _)) = values.first() else {
        // Nothing beyond: the box may grow without bound and holds no more rows.
        let furthest = furthest_inside.map_or(border, f64::from);
        return side.unbounded(furthest, settings.stop_infinite, rng);
    };
    let halfway = border + (f64::from(nearest) - border) / 2.0;
    if values.iter().all(|(_, c)| c.pos == 0) {
        return halfway;
    }
    let limit = values.len().min(settings.min_pts as usize);
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
            (f64::from(values[i].0) + f64::from(values[i + 1].0)) / 2.0
        }
        Some(i) => {
            let furthest_added = values[..=i]
                .iter()
                .rev()
                .find(|(_, c)| c.pos > 0)
                .map(|&(v, _)| v);
            let furthest = furthest_added.or(furthest_inside).map_or(border, f64::from);
            side.unbounded(furthest, settings.stop_infinite, rng)
        }
    }
}
