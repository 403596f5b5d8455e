//! Seeded synthetic feature sets for tests and benchmarks: a broad background of
//! L2-normalised points with a few rare, compact clusters whose membership is known.
//!
//! Only arithmetic that is exact or correctly rounded in IEEE 754 is used (no `ln`,
//! `cos`), so the same seed gives the same bytes natively and in wasm.

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use seeded::below;

use crate::quantize::{l2_normalize, quantize};

/// How to generate a [`RareClusterSet`].
#[derive(Clone, Debug)]
pub struct SyntheticConfig {
    /// Number of points.
    pub n: usize,
    /// Feature dimensions.
    pub dims: usize,
    /// Broad background blobs.
    pub background_blobs: usize,
    /// Standard deviation of a background blob, per component, before normalisation.
    pub background_spread: f32,
    /// Number of rare clusters.
    pub rare_clusters: usize,
    /// Points per rare cluster.
    pub rare_cluster_size: usize,
    /// Standard deviation of a rare cluster, per component, before normalisation.
    pub rare_spread: f32,
    /// Seed of every random draw.
    pub seed: u64,
}

impl Default for SyntheticConfig {
    /// The benchmark set: 1,000,000 x 32 with five rare clusters of 1,000 points.
    fn default() -> Self {
        Self {
            n: 1_000_000,
            dims: 32,
            background_blobs: 64,
            background_spread: 0.35,
            rare_clusters: 5,
            rare_cluster_size: 1_000,
            rare_spread: 0.012,
            seed: 42,
        }
    }
}

/// A generated, quantised feature set.
#[derive(Clone, Debug)]
pub struct RareClusterSet {
    /// Row-major `n x dims` quantised features.
    pub features: Vec<u8>,
    /// Feature dimensions.
    pub dims: usize,
    /// Ids of the members of each rare cluster, ascending.
    pub clusters: Vec<Vec<u32>>,
}

impl RareClusterSet {
    /// Generates the set; cluster members are spread over the id range.
    ///
    /// # Panics
    /// If the rare clusters hold more points than `n`.
    pub fn generate(config: &SyntheticConfig) -> Self {
        let SyntheticConfig { n, dims, .. } = *config;
        let rare_total = config.rare_clusters * config.rare_cluster_size;
        assert!(
            rare_total <= n,
            "rare clusters hold more points than the set"
        );
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let centre = |rng: &mut ChaCha8Rng| {
            let mut c: Vec<f32> = (0..dims).map(|_| standard_normal(rng)).collect();
            l2_normalize(&mut c);
            c
        };
        let blobs: Vec<Vec<f32>> = (0..config.background_blobs.max(1))
            .map(|_| centre(&mut rng))
            .collect();
        let rare: Vec<Vec<f32>> = (0..config.rare_clusters)
            .map(|_| centre(&mut rng))
            .collect();

        // Which rows are rare: a seeded partial shuffle of the ids.
        let mut ids: Vec<u32> = (0..n as u32).collect();
        for i in 0..rare_total {
            let j = i + below(&mut rng, (n - i) as u32) as usize;
            ids.swap(i, j);
        }
        let mut cluster_of = vec![u32::MAX; n];
        let mut clusters = vec![Vec::with_capacity(config.rare_cluster_size); config.rare_clusters];
        for (k, &id) in ids[..rare_total].iter().enumerate() {
            let c = k / config.rare_cluster_size;
            cluster_of[id as usize] = c as u32;
            clusters[c].push(id);
        }
        clusters.iter_mut().for_each(|c| c.sort_unstable());

        let mut features = Vec::with_capacity(n * dims);
        let mut row = vec![0f32; dims];
        for &cluster in &cluster_of {
            let (mean, spread) = match cluster {
                u32::MAX => {
                    let b = below(&mut rng, blobs.len() as u32) as usize;
                    (&blobs[b], config.background_spread)
                }
                c => (&rare[c as usize], config.rare_spread),
            };
            for (x, m) in row.iter_mut().zip(mean) {
                *x = m + spread * standard_normal(&mut rng);
            }
            l2_normalize(&mut row);
            features.extend(row.iter().map(|&x| quantize(x)));
        }
        Self {
            features,
            dims,
            clusters,
        }
    }

    /// Number of points.
    pub fn len(&self) -> usize {
        self.features.len() / self.dims
    }

    /// Whether the set has no points.
    pub fn is_empty(&self) -> bool {
        self.features.is_empty()
    }

    /// The quantised features of point `id`.
    pub fn row(&self, id: u32) -> &[u8] {
        let start = id as usize * self.dims;
        &self.features[start..start + self.dims]
    }
}

/// An approximately standard normal draw (Irwin-Hall: the sum of 12 uniforms, minus 6).
fn standard_normal(rng: &mut impl RngCore) -> f32 {
    let sum: f32 = (0..12)
        .map(|_| (rng.next_u32() >> 8) as f32 * (1.0 / (1u32 << 24) as f32))
        .sum();
    sum - 6.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> SyntheticConfig {
        SyntheticConfig {
            n: 5_000,
            dims: 16,
            rare_clusters: 3,
            rare_cluster_size: 50,
            ..SyntheticConfig::default()
        }
    }

    #[test]
    fn is_deterministic() {
        let a = RareClusterSet::generate(&small());
        let b = RareClusterSet::generate(&small());
        assert_eq!(a.features, b.features);
        assert_eq!(a.clusters, b.clusters);
    }

    #[test]
    fn clusters_are_disjoint_and_compact() {
        let set = RareClusterSet::generate(&small());
        assert_eq!(set.len(), 5_000);
        let mut all: Vec<u32> = set.clusters.concat();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 150);
        for cluster in &set.clusters {
            for d in 0..set.dims {
                let values: Vec<u8> = cluster.iter().map(|&id| set.row(id)[d]).collect();
                let spread = values.iter().max().unwrap() - values.iter().min().unwrap();
                assert!(spread < 24, "cluster spread {spread} in dim {d}");
            }
        }
    }
}
