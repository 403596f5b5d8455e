//! Seeded random draws that give the same values on 32- and 64-bit targets: only `u32`
//! and `u64` are sampled, never `usize` ranges.

use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub(crate) use seeded::below;

/// A uniform draw from `[0, 1)`.
pub(crate) fn unit(rng: &mut impl RngCore) -> f64 {
    rng.random::<f64>()
}

/// Shuffles `items` in place (Fisher-Yates); slices longer than `u32::MAX` are not expected.
pub(crate) fn shuffle<T>(items: &mut [T], rng: &mut impl RngCore) {
    for i in (1..items.len()).rev() {
        let j = below(rng, (i + 1) as u32) as usize;
        items.swap(i, j);
    }
}

/// Seeds for `count` independent generators, drawn from `rng`, so that work split across
/// threads draws the same numbers as work done in turn.
pub(crate) fn child_rngs(rng: &mut impl RngCore, count: u32) -> Vec<ChaCha8Rng> {
    (0..count)
        .map(|_| ChaCha8Rng::seed_from_u64(rng.next_u64()))
        .collect()
}
