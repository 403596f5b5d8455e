//! The training objective: CLIP's symmetric InfoNCE loss and the KoLeo regulariser.

use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Tensor};

/// Upper bound of the learned logit scale's log, `ln(100)` as in CLIP.
pub const MAX_LOG_LOGIT_SCALE: f32 = 4.605_17;

/// CLIP's contrastive loss over a batch of matching pairs (row `i` of each side belongs
/// together): the mean of image->text and text->image cross-entropy of the cosine
/// similarities scaled by `exp(log_scale)` (clamped at 100). Inputs are L2-normalised
/// `[batch, dim]`; `log_scale` is `[1]`. Returns `[1]`.
pub fn contrastive_loss(image: Tensor<2>, text: Tensor<2>, log_scale: Tensor<1>) -> Tensor<1> {
    let [batch, _] = image.dims();
    let device = image.device();
    let scale = log_scale
        .clamp_max(MAX_LOG_LOGIT_SCALE)
        .exp()
        .unsqueeze::<2>();
    let logits = image.matmul(text.transpose()) * scale;
    let diagonal = identity(batch, &device);
    let image_to_text = -(log_softmax(logits.clone(), 1) * diagonal.clone()).sum();
    let text_to_image = -(log_softmax(logits.transpose(), 1) * diagonal).sum();
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
    use burn::tensor::TensorData;

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
        let matched = scalar(contrastive_loss(image.clone(), text, log_scale(2.0)));
        let wrong = scalar(contrastive_loss(image, shuffled, log_scale(2.0)));
        assert!(matched < 0.5, "{matched}");
        assert!(wrong > matched + 1.0, "{wrong} vs {matched}");
    }

    #[test]
    fn equal_similarities_give_log_batch() {
        let same = rows(vec![1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0], 2);
        let loss = scalar(contrastive_loss(same.clone(), same, log_scale(3.0)));
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
        ));
        let beyond = scalar(contrastive_loss(image, text, log_scale(9.0)));
        assert!((at_cap - beyond).abs() < 1e-3, "{at_cap} vs {beyond}");
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
