//! Seeded random draws that give the same values on 32- and 64-bit targets (wasm32 and
//! native): only `u32` ranges are sampled, never `usize` ones.
//!
//! A leaf of its own so that whatever draws seeded values (the index's subsets, the
//! classifiers, the synthetic scenes, training's batch order) shares one definition of a
//! draw without depending on each other.
//!
//! ```
//! use rand::SeedableRng;
//!
//! let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
//! assert!(seeded::below(&mut rng, 10) < 10);
//! ```

use rand::RngCore;

/// A uniform draw from `0..bound` (`bound > 0`).
pub fn below(rng: &mut impl RngCore, bound: u32) -> u32 {
    // Lemire's multiply-shift: one draw, no loop; its bias (< bound / 2^32) is negligible.
    ((u64::from(rng.next_u32()) * u64::from(bound)) >> 32) as u32
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::below;

    #[test]
    fn stays_below_the_bound_and_covers_it() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut seen = [false; 7];
        for _ in 0..1000 {
            seen[below(&mut rng, 7) as usize] = true;
        }
        assert!(seen.iter().all(|&s| s));
        assert_eq!(below(&mut rng, 1), 0);
    }
}
