//! Gini impurity of a set of labelled rows, and of a split of it into two parts.

/// Counts of positive and negative rows in a set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Positive (relevant) rows.
    pub pos: u32,
    /// Negative (irrelevant) rows.
    pub neg: u32,
}

impl Counts {
    /// Number of rows.
    pub fn total(self) -> u32 {
        self.pos + self.neg
    }

    /// Counts one more row.
    pub fn add(&mut self, positive: bool) {
        if positive {
            self.pos += 1;
        } else {
            self.neg += 1;
        }
    }

    /// The counts of both sets together.
    pub fn plus(self, other: Counts) -> Counts {
        Counts {
            pos: self.pos + other.pos,
            neg: self.neg + other.neg,
        }
    }

    /// The counts of the rows in `self` but not in `part` (`part` must be a subset).
    pub fn minus(self, part: Counts) -> Counts {
        Counts {
            pos: self.pos - part.pos,
            neg: self.neg - part.neg,
        }
    }
}

/// Counts of positive and negative rows per `u8` value of one feature.
#[derive(Clone, Debug)]
pub(crate) struct ValueHistogram {
    counts: [Counts; 256],
}

impl Default for ValueHistogram {
    fn default() -> Self {
        Self {
            counts: [Counts::default(); 256],
        }
    }
}

impl ValueHistogram {
    pub(crate) fn clear(&mut self) {
        self.counts.fill(Counts::default());
    }

    pub(crate) fn add(&mut self, value: u8, positive: bool) {
        self.counts[usize::from(value)].add(positive);
    }

    /// The counts of `value`, leaving zero in their place.
    pub(crate) fn take(&mut self, value: u8) -> Counts {
        std::mem::take(&mut self.counts[usize::from(value)])
    }

    pub(crate) fn at(&self, value: u8) -> Counts {
        self.counts[usize::from(value)]
    }
}

/// `1 - p_pos^2 - p_neg^2`; zero for an empty set.
pub fn gini(c: Counts) -> f64 {
    let n = f64::from(c.total());
    if n == 0.0 {
        return 0.0;
    }
    let p = f64::from(c.pos) / n;
    let q = f64::from(c.neg) / n;
    1.0 - p * p - q * q
}

/// `(|in| gini(in) + |out| gini(out)) / N`: the impurity of splitting a set into two parts.
pub fn weighted_gini(inside: Counts, outside: Counts) -> f64 {
    let n = f64::from(inside.total() + outside.total());
    if n == 0.0 {
        return 0.0;
    }
    (f64::from(inside.total()) * gini(inside) + f64::from(outside.total()) * gini(outside)) / n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(pos: u32, neg: u32) -> Counts {
        Counts { pos, neg }
    }

    #[test]
    fn pure_and_empty_sets_have_no_impurity() {
        assert_eq!(gini(c(0, 0)), 0.0);
        assert_eq!(gini(c(7, 0)), 0.0);
        assert_eq!(gini(c(0, 3)), 0.0);
    }

    #[test]
    fn an_even_mix_has_impurity_one_half() {
        assert_eq!(gini(c(5, 5)), 0.5);
        assert!((gini(c(1, 3)) - 0.375).abs() < 1e-12);
    }

    #[test]
    fn weighted_gini_weighs_each_side_by_its_size() {
        // A perfect split.
        assert_eq!(weighted_gini(c(4, 0), c(0, 6)), 0.0);
        // in: 3 pos 1 neg (0.375), out: 1 pos 3 neg (0.375), equal weights.
        assert!((weighted_gini(c(3, 1), c(1, 3)) - 0.375).abs() < 1e-12);
        // in is pure and holds 2 of 10 rows; out holds 2 pos, 6 neg (0.375).
        assert!((weighted_gini(c(2, 0), c(2, 6)) - 0.8 * 0.375).abs() < 1e-12);
        assert_eq!(weighted_gini(c(0, 0), c(0, 0)), 0.0);
    }
}
