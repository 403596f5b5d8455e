//! The CLIP towers in burn: the ViT image encoder, the causal text encoder, and the
//! optional feature heads (the paper's MLP head or a linear projection such as PCA).
//!
//! Both towers share [`ResidualAttentionBlock`] (pre-LN, multi-head attention with a fused
//! q/k/v projection, MLP with QuickGELU or GELU). Weights come from [`crate::loader`]; the
//! model has no random initialisation of its own because it is never trained here.

use burn::module::{Module, Param};
use burn::nn::{LayerNorm, LayerNormConfig, Linear};
use burn::tensor::activation::{gelu, relu, sigmoid};
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::config::Activation;
use crate::pooling::{EncodeError, TokenBatch};

/// A pre-LN transformer block: `x + attn(ln_1(x))`, then `x + mlp(ln_2(x))`.
#[derive(Module, Debug)]
pub struct ResidualAttentionBlock {
    /// LayerNorm before attention.
    pub ln_1: LayerNorm,
    /// Fused q, k, v projection, `[width, 3 * width]` (q first).
    pub attn_in: Linear,
    /// Attention output projection.
    pub attn_out: Linear,
    /// LayerNorm before the MLP.
    pub ln_2: LayerNorm,
    /// MLP expansion, `[width, mlp_width]`.
    pub mlp_fc: Linear,
    /// MLP contraction, `[mlp_width, width]`.
    pub mlp_proj: Linear,
    /// Attention heads.
    #[module(skip)]
    pub heads: usize,
    /// MLP activation.
    #[module(skip)]
    pub activation: Activation,
}

impl ResidualAttentionBlock {
    /// `x`: `[batch, tokens, width]` -> `[batch, tokens, width]`. With `causal`, token `i`
    /// attends to tokens `0..=i` only.
    pub fn forward(&self, x: Tensor<3>, causal: bool) -> Tensor<3> {
        let [batch, tokens, width] = x.dims();
        let head_dim = width / self.heads;
        let qkv = self.attn_in.forward(self.ln_1.forward(x.clone()));
        let split = |index: usize| {
            qkv.clone()
                .narrow(2, index * width, width)
                .reshape([batch, tokens, self.heads, head_dim])
                .swap_dims(1, 2)
        };
        let options = AttentionModuleOptions {
            is_causal: causal,
            ..Default::default()
        };
        let attended = attention(split(0), split(1), split(2), None, None, options)
            .swap_dims(1, 2)
            .reshape([batch, tokens, width]);
        let x = x + self.attn_out.forward(attended);
        let hidden = self.mlp_fc.forward(self.ln_2.forward(x.clone()));
        let hidden = match self.activation {
            Activation::QuickGelu => hidden.clone() * sigmoid(hidden.mul_scalar(1.702)),
            Activation::Gelu => gelu(hidden),
        };
        x + self.mlp_proj.forward(hidden)
    }
}

/// The causal text transformer; its feature is the projected state at the end token.
#[derive(Module, Debug)]
pub struct TextTransformer {
    /// Token embedding, `[vocab, width]`.
    pub token_embedding: Param<Tensor<2>>,
    /// Positional embedding, `[context, width]`.
    pub positional_embedding: Param<Tensor<2>>,
    /// Residual blocks.
    pub blocks: Vec<ResidualAttentionBlock>,
    /// Final LayerNorm.
    pub ln_final: LayerNorm,
    /// Projection to the joint space, `[width, projection_dim]`, no bias.
    pub projection: Linear,
}

impl TextTransformer {
    /// Vocabulary size (token embedding rows).
    pub fn vocab_size(&self) -> usize {
        self.token_embedding.shape().dims::<2>()[0]
    }

    /// Context length (positional embedding rows).
    pub fn context_length(&self) -> usize {
        self.positional_embedding.shape().dims::<2>()[0]
    }

    /// Text features `[batch, projection_dim]`, running every position of the context.
    pub fn forward_full(&self, tokens: &TokenBatch) -> Result<Tensor<2>, EncodeError> {
        self.forward_up_to(tokens, tokens.context_length())
    }

    /// Text features `[batch, projection_dim]`, running only positions up to the last end
    /// token of the batch. Equal to [`Self::forward_full`]: with the causal mask, positions
    /// after the end token never reach the pooled state (about 10x less work for a short
    /// query than the full 77).
    pub fn forward(&self, tokens: &TokenBatch) -> Result<Tensor<2>, EncodeError> {
        let used = tokens.end_positions().iter().max().map_or(1, |p| p + 1);
        self.forward_up_to(tokens, used)
    }

    fn forward_up_to(&self, tokens: &TokenBatch, used: usize) -> Result<Tensor<2>, EncodeError> {
        tokens.check_fits(self.vocab_size(), self.context_length())?;
        let device = self.token_embedding.device();
        let batch = tokens.batch_size();
        let ids = tokens.truncated(used);
        let ids = Tensor::<1, Int>::from_data(TensorData::new(ids, [batch * used]), &device);
        let x = self
            .token_embedding
            .val()
            .select(0, ids)
            .reshape([batch, used, self.width()]);
        let positions = self.positional_embedding.val().narrow(0, 0, used);
        let mut x = x + positions.unsqueeze::<3>();
        for block in &self.blocks {
            x = block.forward(x, true);
        }
        let x = self.ln_final.forward(x);
        // Pool each row at its end token: one row-select over the flattened batch.
        let rows: Vec<i64> = tokens
            .end_positions()
            .iter()
            .enumerate()
            .map(|(b, &p)| (b * used + p) as i64)
            .collect();
        let rows = Tensor::<1, Int>::from_data(TensorData::new(rows, [batch]), &device);
        let pooled = x.reshape([batch * used, self.width()]).select(0, rows);
        Ok(self.projection.forward(pooled))
    }

    fn width(&self) -> usize {
        self.token_embedding.shape().dims::<2>()[1]
    }
}

/// The ViT image tower; its feature is the projected class token.
#[derive(Module, Debug)]
pub struct VisionTransformer {
    /// Patch embedding as a matrix over flattened `[channel, row, column]` patches,
    /// `[channels * patch * patch, width]`, no bias (a stride-`patch` convolution).
    pub patch_embedding: Linear,
    /// Class token, `[width]`.
    pub class_embedding: Param<Tensor<1>>,
    /// Positional embedding, `[1 + patches, width]`.
    pub positional_embedding: Param<Tensor<2>>,
    /// LayerNorm before the blocks.
    pub ln_pre: LayerNorm,
    /// Residual blocks.
    pub blocks: Vec<ResidualAttentionBlock>,
    /// LayerNorm on the class token.
    pub ln_post: LayerNorm,
    /// Projection to the joint space, `[width, projection_dim]`, no bias.
    pub projection: Linear,
    /// Patch side in pixels.
    #[module(skip)]
    pub patch_size: usize,
    /// Image side in pixels.
    #[module(skip)]
    pub image_size: usize,
}

impl VisionTransformer {
    /// `pixels`: `[batch, 3, image_size, image_size]`, normalised -> `[batch, projection_dim]`.
    pub fn forward(&self, pixels: Tensor<4>) -> Result<Tensor<2>, EncodeError> {
        let [_, channels, height, width] = pixels.dims();
        let [patch_inputs, _] = self.patch_embedding.weight.shape().dims();
        let p = self.patch_size;
        if height != self.image_size || width != self.image_size || channels * p * p != patch_inputs
        {
            return Err(EncodeError::ImageShape {
                expected: [
                    channels_of(patch_inputs, p),
                    self.image_size,
                    self.image_size,
                ],
                found: [channels, height, width],
            });
        }
        // Training runs whole: burn's autodiff records every op in one process-wide graph,
        // and parts recorded from several threads at once can lose a step (a backward that
        // then panics with "graph tape has already been consumed").
        #[cfg(feature = "rayon")]
        if pixels.device() == Device::flex() && !pixels.device().is_autodiff() {
            return Ok(self.forward_in_parts(pixels, 2 * rayon::current_num_threads()));
        }
        Ok(self.forward_checked(pixels))
    }

    /// The batch split into `parts` runs side by side, one part per thread: flex runs its
    /// elementwise ops (LayerNorm, QuickGELU, residual adds, head permutes) on one thread,
    /// so one pass over the whole batch leaves the other cores idle between matmuls.
    #[cfg(feature = "rayon")]
    fn forward_in_parts(&self, pixels: Tensor<4>, parts: usize) -> Tensor<2> {
        use rayon::prelude::*;
        let batch = pixels.dims()[0];
        let step = batch.div_ceil(parts.max(1));
        if step >= batch {
            return self.forward_checked(pixels);
        }
        let starts: Vec<usize> = (0..batch).step_by(step).collect();
        let features: Vec<Tensor<2>> = starts
            .into_par_iter()
            .map(|start| {
                self.forward_checked(pixels.clone().narrow(0, start, step.min(batch - start)))
            })
            .collect();
        Tensor::cat(features, 0)
    }

    /// [`Self::forward`] once the shape is checked.
    fn forward_checked(&self, pixels: Tensor<4>) -> Tensor<2> {
        let [batch, channels, _, _] = pixels.dims();
        let [patch_inputs, hidden] = self.patch_embedding.weight.shape().dims();
        let p = self.patch_size;
        let grid = self.image_size / p;
        let patches = pixels
            .reshape([batch, channels, grid, p, grid, p])
            .permute([0, 2, 4, 1, 3, 5])
            .reshape([batch, grid * grid, patch_inputs]);
        let x = self.patch_embedding.forward(patches);
        let class = self
            .class_embedding
            .val()
            .reshape([1, 1, hidden])
            .expand([batch, 1, hidden]);
        let x = Tensor::cat(vec![class, x], 1) + self.positional_embedding.val().unsqueeze::<3>();
        let mut x = self.ln_pre.forward(x);
        for block in &self.blocks {
            x = block.forward(x, false);
        }
        let class = x.narrow(1, 0, 1).reshape([batch, hidden]);
        self.projection.forward(self.ln_post.forward(class))
    }
}

fn channels_of(patch_inputs: usize, patch_size: usize) -> usize {
    patch_inputs / (patch_size * patch_size)
}

/// Both CLIP towers and the logit scale.
#[derive(Module, Debug)]
pub struct ClipModel {
    /// Text tower.
    pub text: TextTransformer,
    /// Image tower.
    pub vision: VisionTransformer,
    /// `log` of the contrastive temperature's inverse (`exp` of it scales cosine logits).
    pub logit_scale: Param<Tensor<1>>,
}

impl ClipModel {
    /// Unnormalised text features `[batch, projection_dim]` (early stop at the end token).
    pub fn encode_text(&self, tokens: &TokenBatch) -> Result<Tensor<2>, EncodeError> {
        self.text.forward(tokens)
    }

    /// Unnormalised image features `[batch, projection_dim]`.
    pub fn encode_image(&self, pixels: Tensor<4>) -> Result<Tensor<2>, EncodeError> {
        self.vision.forward(pixels)
    }
}

/// The paper's per-modality head, with each BatchNorm (eval mode, running statistics)
/// folded into the Linear before it: `relu(l1)`, `relu(l2)`, `l3`, L2 normalise.
#[derive(Module, Debug)]
pub struct MlpHead {
    /// Linear(input, hidden) with the first BatchNorm folded in.
    pub hidden_1: Linear,
    /// Linear(hidden, hidden) with the second BatchNorm folded in.
    pub hidden_2: Linear,
    /// Linear(hidden, output).
    pub output: Linear,
}

impl MlpHead {
    /// `[batch, input]` -> L2-normalised `[batch, output]`.
    pub fn forward(&self, features: Tensor<2>) -> Tensor<2> {
        let x = relu(self.hidden_1.forward(features));
        let x = relu(self.hidden_2.forward(x));
        l2_normalise(self.output.forward(x))
    }
}

/// A light alternative to [`MlpHead`]: `normalise(normalise(x) W + b)`. A PCA fitted on
/// L2-normalised CLIP features is `W = componentsᵀ`, `b = -mean W`.
#[derive(Module, Debug)]
pub struct LinearProjection {
    /// `[input, output]` with bias `[output]`.
    pub linear: Linear,
}

impl LinearProjection {
    /// A projection from row-major `components` (`[output, input]`, PCA's rows) and the
    /// `mean` (`[input]`) that was subtracted before fitting.
    pub fn from_pca(
        components: &[f32],
        mean: &[f32],
        output: usize,
        device: &Device,
    ) -> Result<Self, EncodeError> {
        let input = mean.len();
        if input == 0 || output == 0 || components.len() != input * output {
            return Err(EncodeError::ProjectionShape {
                components: components.len(),
                input,
                output,
            });
        }
        let weight: Vec<f32> = (0..input)
            .flat_map(|i| (0..output).map(move |o| (i, o)))
            .map(|(i, o)| components[o * input + i])
            .collect();
        let bias: Vec<f32> = (0..output)
            .map(|o| {
                -(0..input)
                    .map(|i| mean[i] * components[o * input + i])
                    .sum::<f32>()
            })
            .collect();
        Ok(Self {
            linear: Linear {
                weight: Param::from_data(TensorData::new(weight, [input, output]), device),
                bias: Some(Param::from_data(TensorData::new(bias, [output]), device)),
            },
        })
    }

    /// `[batch, input]` -> L2-normalised `[batch, output]`.
    pub fn forward(&self, features: Tensor<2>) -> Tensor<2> {
        l2_normalise(self.linear.forward(l2_normalise(features)))
    }
}

/// A feature head applied to CLIP features before indexing.
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)] // one per modality per encoder: size does not matter
pub enum FeatureHead {
    /// The paper's MLP head.
    Mlp(MlpHead),
    /// A linear projection (PCA).
    Linear(LinearProjection),
}

impl FeatureHead {
    /// `[batch, input]` -> L2-normalised `[batch, output]`.
    pub fn forward(&self, features: Tensor<2>) -> Tensor<2> {
        match self {
            Self::Mlp(head) => head.forward(features),
            Self::Linear(projection) => projection.forward(features),
        }
    }
}

/// Rows divided by their L2 norm (a zero row stays zero, as in `F.normalize`).
pub fn l2_normalise(x: Tensor<2>) -> Tensor<2> {
    let norm = x.clone().powi_scalar(2).sum_dim(1).sqrt().clamp_min(1e-12);
    x / norm
}

/// A LayerNorm with the given parameters.
pub(crate) fn layer_norm(gamma: Tensor<1>, beta: Tensor<1>, epsilon: f64) -> LayerNorm {
    let [width] = gamma.dims();
    let mut norm = LayerNormConfig::new(width)
        .with_epsilon(epsilon)
        .init(&gamma.device());
    norm.gamma = Param::from_tensor(gamma);
    norm.beta = Some(Param::from_tensor(beta));
    norm
}
