//! The training set of one round (spec 1.3): the relevant images (label 1), the irrelevant
//! ones repeated `negative_weight` times, and random images assumed irrelevant, drawn from
//! a fixed, seeded pool of dataset ids minus the relevant ones.

use std::collections::BTreeSet;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::error::Error;
use crate::index::BoxIndex;
use crate::rng::below;

/// Labelled rows, row-major, all of one width.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrainingSet {
    dims: usize,
    rows: Vec<u8>,
    labels: Vec<bool>,
}

impl TrainingSet {
    /// An empty set of rows of `dims` values.
    pub fn new(dims: usize) -> Self {
        Self {
            dims,
            rows: Vec::new(),
            labels: Vec::new(),
        }
    }

    /// Appends a row; its length must equal [`Self::dims`].
    pub(crate) fn push(&mut self, row: &[u8], positive: bool) {
        debug_assert_eq!(row.len(), self.dims);
        self.rows.extend_from_slice(row);
        self.labels.push(positive);
    }

    /// Builds a set from row-major `rows` and one label per row (`true` = relevant).
    pub fn from_rows(dims: usize, rows: Vec<u8>, labels: Vec<bool>) -> Result<Self, Error> {
        if dims == 0 || rows.len() != labels.len() * dims {
            return Err(Error::TrainingShape {
                values: rows.len(),
                labels: labels.len(),
                dims,
            });
        }
        Ok(Self { dims, rows, labels })
    }

    /// The row-major rows and the labels, as [`Self::from_rows`] takes them.
    pub(crate) fn into_parts(self) -> (Vec<u8>, Vec<bool>) {
        (self.rows, self.labels)
    }

    /// Values per row.
    pub fn dims(&self) -> usize {
        self.dims
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the set has no rows.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Row `i` (`i < len`).
    pub(crate) fn row(&self, i: usize) -> &[u8] {
        &self.rows[i * self.dims..(i + 1) * self.dims]
    }

    /// Label of row `i` (`i < len`).
    pub(crate) fn label(&self, i: usize) -> bool {
        self.labels[i]
    }

    /// All labels, in row order.
    pub fn labels(&self) -> &[bool] {
        &self.labels
    }

    /// Number of positive rows.
    pub fn positives(&self) -> usize {
        self.labels.iter().filter(|&&l| l).count()
    }

    /// The rows at `picks` (repeats allowed), in that order.
    pub(crate) fn select(&self, picks: &[u32]) -> Self {
        let mut set = Self::new(self.dims);
        for &i in picks {
            set.push(self.row(i as usize), self.label(i as usize));
        }
        set
    }
}

/// How the pool of random negatives is drawn: once per dataset, so that the same request
/// gives the same result across restarts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolSettings {
    /// Ids in the pool; `None` = `min(n, 100_000)`.
    pub size: Option<u32>,
    /// Seed of the pool draw, fixed per dataset.
    pub seed: u64,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            size: None,
            seed: 0x00C1_1BB0_0B5E_ED00,
        }
    }
}

/// The seeded pool of dataset ids that random negatives are drawn from, ascending.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NegativePool {
    ids: Vec<u32>,
}

impl NegativePool {
    /// Default pool size cap (the prototype's pool for LAION).
    pub const DEFAULT_SIZE: u32 = 100_000;

    /// Draws the pool for a dataset of `len` images.
    pub fn new(len: u32, settings: PoolSettings) -> Self {
        let size = settings.size.unwrap_or(Self::DEFAULT_SIZE).min(len);
        if size == len {
            return Self {
                ids: (0..len).collect(),
            };
        }
        let mut rng = ChaCha8Rng::seed_from_u64(settings.seed);
        Self {
            ids: distinct_below(size, len, &mut rng).into_iter().collect(),
        }
    }

    /// The pool's ids, ascending.
    pub fn ids(&self) -> &[u32] {
        &self.ids
    }
}

/// What one round trains on, in image ids.
#[derive(Clone, Copy, Debug)]
pub struct Labels<'a> {
    /// Relevant images.
    pub positives: &'a [u32],
    /// Irrelevant images.
    pub negatives: &'a [u32],
    /// Random images to add as irrelevant.
    pub random_negatives: u32,
    /// How many times each irrelevant image is repeated (1..=100).
    pub negative_weight: u32,
}

/// Assembles the training set of a round: positives, then negatives repeated
/// `negative_weight` times, then random negatives from `pool` minus the positives.
/// Positives and negatives are deduplicated and sorted first, so the order in which the
/// user labelled images does not change the result.
pub fn assemble<I: BoxIndex>(
    index: &I,
    pool: &NegativePool,
    labels: Labels<'_>,
    rng: &mut ChaCha8Rng,
) -> Result<TrainingSet, Error> {
    if !(1..=100).contains(&labels.negative_weight) {
        return Err(Error::SettingOutOfRange {
            name: "negative_weight",
            value: f64::from(labels.negative_weight),
            range: "1..=100",
        });
    }
    let len = index.len();
    let positives = sorted_ids(labels.positives, "positives", len)?;
    let negatives = sorted_ids(labels.negatives, "negatives", len)?;
    if positives.is_empty() {
        return Err(Error::NoPositives);
    }
    if let Some(&id) = positives
        .iter()
        .find(|id| negatives.binary_search(id).is_ok())
    {
        return Err(Error::PositiveAlsoNegative { id });
    }

    // Draw ranks among the pool ids that are not positives, then map each rank to its
    // pool position by skipping the positives' positions: no copy of the pool per round.
    let pool_ids = &pool.ids()[..pool.ids().partition_point(|&id| id < len)];
    let excluded: Vec<usize> = positives
        .iter()
        .filter_map(|id| pool_ids.binary_search(id).ok())
        .collect();
    let available = (pool_ids.len() - excluded.len()) as u32;
    let ranks = distinct_below(labels.random_negatives.min(available), available, rng);
    let random_negatives = ranks.into_iter().map(|rank| {
        let mut position = rank as usize;
        for &e in &excluded {
            if e > position {
                break;
            }
            position += 1;
        }
        pool_ids[position]
    });

    let mut set = TrainingSet::new(index.dims());
    for &id in &positives {
        set.push(checked_row(index, id)?, true);
    }
    for &id in &negatives {
        let row = checked_row(index, id)?;
        for _ in 0..labels.negative_weight {
            set.push(row, false);
        }
    }
    for id in random_negatives {
        set.push(checked_row(index, id)?, false);
    }
    Ok(set)
}

/// `count` distinct values of `0..bound` (`count <= bound`), by Floyd's algorithm: no
/// array of all `bound` values is made.
fn distinct_below(count: u32, bound: u32, rng: &mut ChaCha8Rng) -> BTreeSet<u32> {
    let mut chosen = BTreeSet::new();
    for j in (bound - count)..bound {
        let t = below(rng, j + 1);
        if !chosen.insert(t) {
            chosen.insert(j);
        }
    }
    chosen
}

/// `ids` sorted and deduplicated, or the first id out of `0..len`.
fn sorted_ids(ids: &[u32], field: &'static str, len: u32) -> Result<Vec<u32>, Error> {
    if let Some(&id) = ids.iter().find(|&&id| id >= len) {
        return Err(Error::IdOutOfRange { field, id, len });
    }
    let mut sorted = ids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    Ok(sorted)
}

/// Row `id` of the index, checked to have the index's width.
pub(crate) fn checked_row<I: BoxIndex>(index: &I, id: u32) -> Result<&[u8], Error> {
    let row = index.row(id).map_err(Error::index)?;
    if row.len() != index.dims() {
        return Err(Error::RowLength {
            id,
            expected: index.dims(),
            actual: row.len(),
        });
    }
    Ok(row)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::FlatIndex;

    fn index(n: u32) -> FlatIndex {
        let features = (0..n).flat_map(|i| [i as u8, (i * 7) as u8]).collect();
        FlatIndex::new(features, 2, vec![vec![0, 1]]).unwrap()
    }

    fn labels<'a>(positives: &'a [u32], negatives: &'a [u32]) -> Labels<'a> {
        Labels {
            positives,
            negatives,
            random_negatives: 5,
            negative_weight: 3,
        }
    }

    #[test]
    fn pool_is_seeded_distinct_and_capped() {
        let settings = PoolSettings {
            size: Some(1000),
            seed: 9,
        };
        let a = NegativePool::new(1_000_000, settings);
        assert_eq!(a, NegativePool::new(1_000_000, settings));
        assert_eq!(a.ids().len(), 1000);
        assert!(a.ids().windows(2).all(|w| w[0] < w[1]));
        assert!(a.ids().iter().all(|&id| id < 1_000_000));
        assert_ne!(
            a,
            NegativePool::new(
                1_000_000,
                PoolSettings {
                    seed: 10,
                    ..settings
                }
            )
        );
        assert_eq!(
            NegativePool::new(50, PoolSettings::default()).ids(),
            (0..50).collect::<Vec<_>>()
        );
    }

    #[test]
    fn assembles_positives_weighted_negatives_and_random_negatives() {
        let index = index(40);
        let pool = NegativePool::new(40, PoolSettings::default());
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let set = assemble(&index, &pool, labels(&[5, 3, 5], &[9]), &mut rng).unwrap();
        // 2 distinct positives, 1 negative x 3, 5 random negatives.
        assert_eq!(set.len(), 2 + 3 + 5);
        assert_eq!(set.row(0), [3, 21]);
        assert_eq!(set.row(1), [5, 35]);
        assert_eq!(set.positives(), 2);
        assert!((2..5).all(|i| set.row(i) == [9, 63] && !set.label(i)));
        // Random negatives are distinct and never a positive.
        let mut random: Vec<u8> = (5..10).map(|i| set.row(i)[0]).collect();
        random.sort_unstable();
        random.dedup();
        assert_eq!(random.len(), 5);
        assert!(random.iter().all(|&id| id != 3 && id != 5));
    }

    #[test]
    fn random_negatives_exclude_positives_even_when_the_pool_is_small() {
        let index = index(4);
        let pool = NegativePool::new(4, PoolSettings::default());
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let set = assemble(&index, &pool, labels(&[0, 1], &[]), &mut rng).unwrap();
        let mut random: Vec<u8> = (2..set.len()).map(|i| set.row(i)[0]).collect();
        random.sort_unstable();
        assert_eq!(random, [2, 3]);
    }

    #[test]
    fn rejects_bad_labels() {
        let index = index(10);
        let pool = NegativePool::new(10, PoolSettings::default());
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut run = |l| assemble(&index, &pool, l, &mut rng);
        assert!(matches!(run(labels(&[], &[1])), Err(Error::NoPositives)));
        assert!(matches!(
            run(labels(&[1, 10], &[])),
            Err(Error::IdOutOfRange {
                field: "positives",
                id: 10,
                len: 10
            })
        ));
        assert!(matches!(
            run(labels(&[1], &[99])),
            Err(Error::IdOutOfRange {
                field: "negatives",
                id: 99,
                ..
            })
        ));
        assert!(matches!(
            run(labels(&[1, 4, 6], &[6, 4])),
            Err(Error::PositiveAlsoNegative { id: 4 })
        ));
        let zero_weight = Labels {
            negative_weight: 0,
            ..labels(&[1], &[])
        };
        assert!(matches!(
            run(zero_weight),
            Err(Error::SettingOutOfRange {
                name: "negative_weight",
                ..
            })
        ));
    }
}
