//! The training objective: CLIP's symmetric InfoNCE loss and the KoLeo regulariser.

use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Tensor, TensorData};

/// Upper bound of the learned logit scale's log, `ln(100)` as in CLIP.
pub const MAX_LOG_LOGIT_SCALE: f32 = 4.605_17;

/// Which text of a batch describes which image: `[batch, batch]`, row `i` the image of
/// pair `i`, column `j` the text of pair `j`, 1 where the text describes the image. Each
/// pair's own text always does (the diagonal); with captions shared across images, a
/// text also describes the other images captioned with it ([`crate::CaptionPairs`]),
/// which must not be pushed apart as negatives.
#[derive(Debug, Clone, PartialEq)]
pub struct Positives {
    batch: usize,
    values: Vec<f32>,
}

impl Positives {
    /// Only each pair's own text: CLIP's targets.
    pub fn diagonal(batch: usize) -> Self {
        Self::from_fn(batch, |_, _| false)
    }

    /// The diagonal plus every `(image, text)` for which `describes(i, j)` holds.
    pub fn from_fn(batch: usize, describes: impl Fn(usize, usize) -> bool) -> Self {
        let mut values = vec![0.0; batch * batch];
        for i in 0..batch {
            for j in 0..batch {
                if i == j || describes(i, j) {
                    values[i * batch + j] = 1.0;
                }
            }
        }
        Self { batch, values }
    }

    /// Pairs in the batch.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Positive entries beyond the diagonal.
    pub fn shared(&self) -> usize {
        self.values.iter().filter(|&&v| v > 0.0).count() - self.batch
    }

    fn tensor(&self, device: &Device) -> Tensor<2> {
        Tensor::from_data(
            TensorData::new(self.values.clone(), [self.batch, self.batch]),
            device,
        )
    }
}

/// CLIP's contrastive loss over a batch of pairs, with several positives where texts are
/// shared: the mean of image->text and text->image cross-entropy of the cosine
/// similarities scaled by `exp(log_scale)` (clamped at 100), each row's target spread
/// evenly over its positives (with [`Positives::diagonal`], exactly CLIP's loss). Inputs
/// are L2-normalised `[batch, dim]`; `log_scale` is `[1]`. Returns `[1]`.
pub fn contrastive_loss(
    image: Tensor<2>,
    text: Tensor<2>,
    log_scale: Tensor<1>,
    positives: &Positives,
) -> Tensor<1> {
    let [batch, _] = image.dims();
    let device = image.device();
    let scale = log_scale
        .clamp_max(MAX_LOG_LOGIT_SCALE)
        .exp()
        .unsqueeze::<2>();
    let logits = image.matmul(text.transpose()) * scale;
    let targets = positives.tensor(&device);
    let per_image = targets.clone() / targets.clone().sum_dim(1);
    let per_text = targets.clone().transpose() / targets.transpose().sum_dim(1);
    let image_to_text = -(log_softmax(logits.clone(), 1) * per_image).sum();
    let text_to_image = -(log_softmax(logits.transpose(), 1) * per_text).sum();
    (image_to_text + text_to_image) / (2 * batch) as f32
}

/// The KoLeo regulariser (Sablayrolles et al. 2019, used by the paper for its compact
/// head): `-mean_i log(min_{j != i} |x_i - x_j|)` over L2-normalised rows `[batch, dim]`.
/// Lower when points spread out, which suits kd-trees and 8-bit quantisation. Returns `[1]`.
pub fn koleo(features: Tensor<2>) -> Tensor<1> {
    let [batch, _] = features.dims();
    let device = features.device();
    let similarity = features.clone().matmul(features.transpose());
    // |a - b|² = 2 - 2 a·b for unit rows; the diagonal is pushed past any real distance (4).
    let squared = (similarity.mul_scalar(-2.0).add_scalar(2.0)).clamp_min(0.0)
        + identity(batch, &device).mul_scalar(8.0);
    let nearest = squared.min_dim(1);
    // log |d| = log(d²) / 2; the epsilon keeps duplicates finite.
    nearest.add_scalar(1e-8).log().mean().mul_scalar(-0.5)
}

fn identity(size: usize, device: &Device) -> Tensor<2> {
    Tensor::<2>::eye(size, device)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clip::model::l2_normalise;

    fn rows(values: Vec<f32>, dim: usize) -> Tensor<2> {
        let n = values.len() / dim;
        l2_normalise(Tensor::from_data(
            TensorData::new(values, [n, dim]),
            &Device::flex(),
        ))
    }

    fn scalar(tensor: Tensor<1>) -> f32 {
        tensor.into_data().try_into_vec::<f32>().unwrap()[0]
    }

    fn log_scale(value: f32) -> Tensor<1> {
        Tensor::from_data(TensorData::new(vec![value], [1]), &Device::flex())
    }

    #[test]
    fn matching_pairs_score_lower_than_shuffled_ones() {
        let image = rows(vec![1.0, 0.0, 0.0, 1.0, -1.0, 0.0], 2);
        let text = rows(vec![1.0, 0.1, 0.1, 1.0, -1.0, -0.1], 2);
        let shuffled = rows(vec![0.1, 1.0, -1.0, -0.1, 1.0, 0.1], 2);
        let matched = scalar(contrastive_loss(
            image.clone(),
            text,
            log_scale(2.0),
            &Positives::diagonal(3),
        ));
        let wrong = scalar(contrastive_loss(
            image,
            shuffled,
            log_scale(2.0),
            &Positives::diagonal(3),
        ));
        assert!(matched < 0.5, "{matched}");
        assert!(wrong > matched + 1.0, "{wrong} vs {matched}");
    }

    #[test]
    fn equal_similarities_give_log_batch() {
        let same = rows(vec![1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0], 2);
        let loss = scalar(contrastive_loss(
            same.clone(),
            same,
            log_scale(3.0),
            &Positives::diagonal(4),
        ));
        assert!((loss - 4f32.ln()).abs() < 1e-5, "{loss}");
    }

    #[test]
    fn the_scale_is_clamped_at_100() {
        let image = rows(vec![1.0, 0.0, 0.0, 1.0], 2);
        let text = rows(vec![0.0, 1.0, 1.0, 0.0], 2);
        let at_cap = scalar(contrastive_loss(
            image.clone(),
            text.clone(),
            log_scale(4.60517),
            &Positives::diagonal(2),
        ));
        let beyond = scalar(contrastive_loss(
            image,
            text,
            log_scale(9.0),
            &Positives::diagonal(2),
        ));
        assert!((at_cap - beyond).abs() < 1e-3, "{at_cap} vs {beyond}");
    }

    #[test]
    fn texts_that_describe_the_same_images_are_interchangeable() {
        // Both captions describe both images (say "red things" and "something red").
        let image = rows(vec![1.0, 0.0, 0.6, 0.8], 2);
        let text = rows(vec![0.9, 0.1, 0.2, 0.9], 2);
        let swapped = rows(vec![0.2, 0.9, 0.9, 0.1], 2);
        let shared = Positives::from_fn(2, |_, _| true);
        assert_eq!(shared.shared(), 2);
        let loss = |text, positives: &Positives| {
            scalar(contrastive_loss(
                image.clone(),
                text,
                log_scale(2.0),
                positives,
            ))
        };
        let (a, b) = (loss(text.clone(), &shared), loss(swapped.clone(), &shared));
        assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        // CLIP's own targets treat the other caption as a negative: order matters there.
        let diagonal = Positives::diagonal(2);
        assert!(loss(swapped, &diagonal) > loss(text, &diagonal) + 0.5);
    }

    #[test]
    fn koleo_prefers_spread_points() {
        let spread = rows(vec![1.0, 0.0, 0.0, 1.0, -1.0, 0.0, 0.0, -1.0], 2);
        let clumped = rows(vec![1.0, 0.0, 1.0, 0.05, 0.0, 1.0, 0.05, 1.0], 2);
        let spread_loss = scalar(koleo(spread));
        assert!(
            (spread_loss + 2f32.sqrt().ln()).abs() < 1e-4,
            "{spread_loss}"
        );
        assert!(scalar(koleo(clumped)) > spread_loss + 1.0);
    }
}
