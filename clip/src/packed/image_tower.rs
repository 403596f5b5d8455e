//! [`PackedImageTower`]: the ViT image tower on the packed kernels, in plain Rust.

use super::block::{Norm, PackedBlock, pack, read};
use super::{PackedLinear, PackedPrecision};
use crate::encoder::EncoderError;
use crate::model::VisionTransformer;
use crate::pooling::EncodeError;

/// A [`VisionTransformer`] with its weights read out and packed for the CPU kernels of
/// [`crate::packed`], as [`super::PackedTextTower`] is for the text tower: the same features
/// (f32 within float rounding; int8 within its quantisation error), without burn. The last
/// block runs its attention output and MLP for the class tokens' rows only, the only rows
/// that reach the feature.
#[derive(Debug, Clone)]
pub struct PackedImageTower {
    /// `[channels * patch * patch, width]`, no bias.
    patch_embedding: PackedLinear,
    /// `[width]`.
    class_embedding: Vec<f32>,
    /// `[1 + patches, width]`.
    positional_embedding: Vec<f32>,
    ln_pre: Norm,
    blocks: Vec<PackedBlock>,
    ln_post: Norm,
    /// `[width, projection_dim]`, no bias; always f32 (one row per image).
    projection: PackedLinear,
    patch_size: usize,
    image_size: usize,
    channels: usize,
    width: usize,
}

impl PackedImageTower {
    /// Reads `tower`'s weights back (synchronously: natively from any device, in the browser
    /// from the CPU device only) and packs them in `precision`. `layer_norm_eps` is the
    /// config's.
    pub fn new(
        tower: &VisionTransformer,
        layer_norm_eps: f64,
        precision: PackedPrecision,
    ) -> Result<Self, EncoderError> {
        let epsilon = layer_norm_eps as f32;
        let [patch_inputs, width] = tower.patch_embedding.weight.shape().dims::<2>();
        let p = tower.patch_size;
        let blocks = tower
            .blocks
            .iter()
            .map(|block| PackedBlock::new(block, epsilon, precision))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            patch_embedding: pack(&tower.patch_embedding, precision)?,
            class_embedding: read(&tower.class_embedding)?,
            positional_embedding: read(&tower.positional_embedding)?,
            ln_pre: Norm::new(&tower.ln_pre, epsilon)?,
            blocks,
            ln_post: Norm::new(&tower.ln_post, epsilon)?,
            projection: pack(&tower.projection, PackedPrecision::F32)?,
            patch_size: p,
            image_size: tower.image_size,
            channels: patch_inputs / (p * p).max(1),
            width,
        })
    }

    /// Image side in pixels the tower takes.
    pub fn image_size(&self) -> usize {
        self.image_size
    }

    /// Image features `[batch, projection_dim]`, row-major, of `pixels` (`[batch, channels,
    /// image_size, image_size]`, normalised, as [`crate::PreprocessConfig::preprocess`]
    /// gives them): the same numbers as [`VisionTransformer::forward`].
    pub fn forward(&self, pixels: &[f32]) -> Result<Vec<f32>, EncodeError> {
        let (size, p, channels, width) =
            (self.image_size, self.patch_size, self.channels, self.width);
        let per_image = channels * size * size;
        if per_image == 0 || pixels.is_empty() || !pixels.len().is_multiple_of(per_image) {
            return Err(EncodeError::ImageShape {
                expected: [channels, size, size],
                found: [pixels.len() / (size * size).max(1), size, size],
            });
        }
        let batch = pixels.len() / per_image;
        let grid = size / p;
        let patches = grid * grid;
        let used = 1 + patches;
        // Patches as rows of `[channel, row, column]` values, as the convolution reads them.
        let patch_inputs = channels * p * p;
        let mut rows = vec![0.0; batch * patches * patch_inputs];
        for (image, out) in pixels
            .chunks_exact(per_image)
            .zip(rows.chunks_exact_mut(patches * patch_inputs))
        {
            for (patch, out) in out.chunks_exact_mut(patch_inputs).enumerate() {
                let (top, left) = (patch / grid * p, patch % grid * p);
                for (c, out) in out.chunks_exact_mut(p * p).enumerate() {
                    for (y, out) in out.chunks_exact_mut(p).enumerate() {
                        let at = (c * size + top + y) * size + left;
                        out.copy_from_slice(&image[at..at + p]);
                    }
                }
            }
        }
        let embedded = self.patch_embedding.forward(&rows);
        let mut x = vec![0.0; batch * used * width];
        for (b, sequence) in x.chunks_exact_mut(used * width).enumerate() {
            sequence[..width].copy_from_slice(&self.class_embedding);
            sequence[width..]
                .copy_from_slice(&embedded[b * patches * width..(b + 1) * patches * width]);
            for (v, position) in sequence.iter_mut().zip(&self.positional_embedding) {
                *v += position;
            }
        }
        let mut x = self.ln_pre.rows(&x);
        // The rows whose state is pooled: each image's class token.
        let classes: Vec<usize> = (0..batch).map(|b| b * used).collect();
        let all: Vec<usize> = (0..batch * used).collect();
        let last = self.blocks.len().saturating_sub(1);
        for (i, block) in self.blocks.iter().enumerate() {
            x = block.forward(&x, used, if i == last { &classes } else { &all }, false);
        }
        let pooled: Vec<f32> = if self.blocks.is_empty() {
            classes
                .iter()
                .flat_map(|&row| x[row * width..][..width].iter().copied())
                .collect()
        } else {
            x
        };
        Ok(self.projection.forward(&self.ln_post.rows(&pooled)))
    }
}
