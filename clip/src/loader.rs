//! Weight loading: Hugging Face `CLIPModel`, open_clip and OpenAI state dicts, and the
//! paper's full-model state dict with its two heads.
//!
//! A checkpoint is first read into a [`TensorMap`] (name -> shape and f32 values; f16, bf16
//! and f64 are widened): from safetensors bytes with [`TensorMap::from_safetensors`], or
//! from a PyTorch `.bin`/`.pt` file with `TensorMap::from_pytorch_file` (feature `pytorch`,
//! native only: the PyTorch reader needs a file). [`load_clip`] then builds a [`ClipModel`]
//! of a given [`ClipConfig`], checking every tensor, in model order, and names the first one
//! that is missing or mis-shaped in its [`LoadError`].
//!
//! The checkpoint names are the table of [`crate::names`]; the file format is
//! [`crate::tensors`].
//!
//! PyTorch Linears store `[out, in]`; burn's store `[in, out]`, so Linear weights are
//! transposed on load. The paper's heads are `image_head.*` and `text_head.*`, each an
//! `nn.Sequential` of Linear (`0`), BatchNorm1d (`1`), ReLU, Linear (`3`), BatchNorm1d
//! (`4`), ReLU, Linear (`6`); the BatchNorms (eval mode, eps 1e-5) are folded into the
//! Linears before them.

use std::cell::RefCell;

use burn::module::Param;
use burn::nn::Linear;
use burn::tensor::{Device, Tensor, TensorData};

use crate::config::{Activation, ClipConfig, HeadConfig, TextConfig, VisionConfig};
use crate::model::{
    ClipModel, MlpHead, ResidualAttentionBlock, TextTransformer, VisionTransformer, layer_norm,
};
use crate::names::{AttentionInNames, BlockNames, Names, ProjectionName, Tower};
use crate::tensors::{LoadError, RawTensor, TensorMap, transpose};

/// BatchNorm1d's default epsilon, which the paper's heads use.
const BATCH_NORM_EPS: f32 = 1e-5;

impl TensorMap {
    /// [`load_text_tower`], moving each tensor out of the map instead of copying it: the map
    /// shrinks as the tower grows, so the weights are held about once, not twice (for the
    /// browser, where a ViT-B/32 tower is 253 MB in f32). The map is gone afterwards, also
    /// on an error.
    pub fn into_text_tower(
        self,
        config: &TextConfig,
        projection_dim: usize,
        device: &Device,
    ) -> Result<TextTransformer, LoadError> {
        let (layout, prefix) = self.detect_layout()?;
        let source = Source {
            weights: Weights::Owned(RefCell::new(self)),
            prefix,
            device,
        };
        load_text(&source, &Names::new(layout), config, projection_dim)
    }

    /// [`load_image_tower`], moving each tensor out of the map as
    /// [`Self::into_text_tower`] does.
    pub fn into_image_tower(
        self,
        config: &VisionConfig,
        projection_dim: usize,
        device: &Device,
    ) -> Result<VisionTransformer, LoadError> {
        let (layout, prefix) = self.detect_layout_of(Tower::Vision)?;
        let source = Source {
            weights: Weights::Owned(RefCell::new(self)),
            prefix,
            device,
        };
        load_vision(&source, &Names::new(layout), config, projection_dim)
    }
}

/// Builds the CLIP towers of `config` from `weights` (layout detected) on `device`.
pub fn load_clip(
    weights: &TensorMap,
    config: &ClipConfig,
    device: &Device,
) -> Result<ClipModel, LoadError> {
    let (layout, prefix) = weights.detect_layout()?;
    let source = Source {
        weights: Weights::Borrowed(weights),
        prefix,
        device,
    };
    let names = Names::new(layout);
    let text = load_text(&source, &names, &config.text_config, config.projection_dim)?;
    let vision = load_vision(
        &source,
        &names,
        &config.vision_config,
        config.projection_dim,
    )?;
    let logit_scale = source.tensor(&names.logit_scale(), &[])?;
    Ok(ClipModel {
        text,
        vision,
        logit_scale: Param::from_data(TensorData::new(logit_scale, [1]), device),
    })
}

/// Builds the paper's head stored under `name` (`"image_head"` or `"text_head"`), from a
/// full-model checkpoint (keys beside the backbone's) or a heads-only file (keys at the top,
/// as `precompute train-head` writes).
pub fn load_head(
    weights: &TensorMap,
    name: &str,
    config: &HeadConfig,
    device: &Device,
) -> Result<MlpHead, LoadError> {
    let prefix = if weights.get(&format!("{name}.0.weight")).is_some() {
        String::new()
    } else {
        weights.detect_layout()?.1
    };
    let source = Source {
        weights: Weights::Borrowed(weights),
        prefix,
        device,
    };
    let p = |i: usize, part: &str| format!("{name}.{i}.{part}");
    let folded = |linear: usize, norm: usize, d_in: usize, d_out: usize| {
        let mut weight = source.transposed(&p(linear, "weight"), d_out, d_in)?;
        let mut bias = source.tensor(&p(linear, "bias"), &[d_out])?;
        let gamma = source.tensor(&p(norm, "weight"), &[d_out])?;
        let beta = source.tensor(&p(norm, "bias"), &[d_out])?;
        let mean = source.tensor(&p(norm, "running_mean"), &[d_out])?;
        let var = source.tensor(&p(norm, "running_var"), &[d_out])?;
        for o in 0..d_out {
            let scale = gamma[o] / (var[o] + BATCH_NORM_EPS).sqrt();
            for i in 0..d_in {
                weight[i * d_out + o] *= scale;
            }
            bias[o] = (bias[o] - mean[o]) * scale + beta[o];
        }
        Ok::<_, LoadError>(source.linear_from(weight, Some(bias), d_in, d_out))
    };
    Ok(MlpHead {
        hidden_1: folded(0, 1, config.input, config.hidden)?,
        hidden_2: folded(3, 4, config.hidden, config.hidden)?,
        output: source.linear(
            &p(6, "weight"),
            Some(&p(6, "bias")),
            config.hidden,
            config.output,
        )?,
    })
}

/// [`load_head`] with the widths read from the file: `{name}.0.weight` gives the hidden
/// width and must take `input`-wide features, `{name}.6.weight` the output width.
pub fn load_head_sized(
    weights: &TensorMap,
    name: &str,
    input: usize,
    device: &Device,
) -> Result<(MlpHead, HeadConfig), LoadError> {
    let shape = |part: &str| {
        let key = format!("{name}.{part}.weight");
        let found = weights.find_by_suffix(&key).map(|(_, t)| t.shape.clone());
        found.ok_or(LoadError::MissingTensor { name: key })
    };
    let (first, last) = (shape("0")?, shape("6")?);
    let (&[hidden, found_input], &[output, _]) = (first.as_slice(), last.as_slice()) else {
        return Err(LoadError::WrongShape {
            name: format!("{name}.0.weight"),
            expected: vec![0, input],
            found: first,
        });
    };
    if found_input != input {
        return Err(LoadError::WrongShape {
            name: format!("{name}.0.weight"),
            expected: vec![hidden, input],
            found: first,
        });
    }
    let config = HeadConfig {
        input,
        hidden,
        output,
    };
    Ok((load_head(weights, name, &config, device)?, config))
}

/// Builds the text tower alone (as the browser needs it), e.g. from an
/// [`crate::export`]ed file; `projection_dim` is the joint embedding width.
/// [`TensorMap::into_text_tower`] does the same without copying the tensors.
pub fn load_text_tower(
    weights: &TensorMap,
    config: &TextConfig,
    projection_dim: usize,
    device: &Device,
) -> Result<TextTransformer, LoadError> {
    let (layout, prefix) = weights.detect_layout()?;
    let source = Source {
        weights: Weights::Borrowed(weights),
        prefix,
        device,
    };
    load_text(&source, &Names::new(layout), config, projection_dim)
}

fn load_text(
    source: &Source<'_>,
    names: &Names,
    c: &TextConfig,
    projection_dim: usize,
) -> Result<TextTransformer, LoadError> {
    let width = c.hidden_size;
    let token_embedding = source.param2(&names.text_token_embedding(), [c.vocab_size, width])?;
    let positional_embedding = source.param2(
        &names.text_positional_embedding(),
        [c.max_position_embeddings, width],
    )?;
    let blocks = load_blocks(
        source,
        names,
        Tower::Text,
        &BlockShape {
            layers: c.num_hidden_layers,
            width,
            mlp_width: c.intermediate_size,
            heads: c.num_attention_heads,
            activation: c.hidden_act,
            epsilon: c.layer_norm_eps,
        },
    )?;
    let ln_final = source.layer_norm(&names.text_ln_final(), width, c.layer_norm_eps)?;
    let projection = load_projection(source, names, Tower::Text, width, projection_dim)?;
    Ok(TextTransformer {
        token_embedding,
        positional_embedding,
        blocks,
        ln_final,
        projection,
    })
}

/// Builds the image tower alone (as the browser needs it for image queries), e.g. from an
/// [`crate::export::export_image_tower`] file; `projection_dim` is the joint embedding width.
pub fn load_image_tower(
    weights: &TensorMap,
    config: &VisionConfig,
    projection_dim: usize,
    device: &Device,
) -> Result<VisionTransformer, LoadError> {
    let (layout, prefix) = weights.detect_layout_of(Tower::Vision)?;
    let source = Source {
        weights: Weights::Borrowed(weights),
        prefix,
        device,
    };
    load_vision(&source, &Names::new(layout), config, projection_dim)
}

fn load_vision(
    source: &Source<'_>,
    names: &Names,
    c: &VisionConfig,
    projection_dim: usize,
) -> Result<VisionTransformer, LoadError> {
    let width = c.hidden_size;
    let p = c.patch_size;
    let patches = (c.image_size / p) * (c.image_size / p);
    let patch_inputs = c.num_channels * p * p;
    // The conv weight `[width, channels, p, p]` is the matrix `[width, channels * p * p]`.
    let conv = source.tensor(&names.patch_embedding(), &[width, c.num_channels, p, p])?;
    let patch_embedding = source.linear_from(
        transpose(&conv, width, patch_inputs),
        None,
        patch_inputs,
        width,
    );
    let class_embedding = source.param1(&names.class_embedding(), width)?;
    let positional_embedding =
        source.param2(&names.vision_positional_embedding(), [patches + 1, width])?;
    let ln_pre = source.layer_norm(&names.ln_pre(), width, c.layer_norm_eps)?;
    let blocks = load_blocks(
        source,
        names,
        Tower::Vision,
        &BlockShape {
            layers: c.num_hidden_layers,
            width,
            mlp_width: c.intermediate_size,
            heads: c.num_attention_heads,
            activation: c.hidden_act,
            epsilon: c.layer_norm_eps,
        },
    )?;
    let ln_post = source.layer_norm(&names.ln_post(), width, c.layer_norm_eps)?;
    let projection = load_projection(source, names, Tower::Vision, width, projection_dim)?;
    Ok(VisionTransformer {
        patch_embedding,
        class_embedding,
        positional_embedding,
        ln_pre,
        blocks,
        ln_post,
        projection,
        patch_size: p,
        image_size: c.image_size,
    })
}

/// The sizes every residual block of one tower shares.
#[derive(Clone, Copy)]
struct BlockShape {
    layers: usize,
    width: usize,
    mlp_width: usize,
    heads: usize,
    activation: Activation,
    epsilon: f64,
}

/// Every residual block of `tower`, in order.
fn load_blocks(
    source: &Source<'_>,
    names: &Names,
    tower: Tower,
    shape: &BlockShape,
) -> Result<Vec<ResidualAttentionBlock>, LoadError> {
    (0..shape.layers)
        .map(|i| load_block(source, &names.block(tower, i), shape))
        .collect()
}

fn load_block(
    source: &Source<'_>,
    names: &BlockNames,
    shape: &BlockShape,
) -> Result<ResidualAttentionBlock, LoadError> {
    let BlockShape {
        width,
        mlp_width,
        heads,
        activation,
        epsilon,
        ..
    } = *shape;
    let attn_in = match &names.attn_in {
        AttentionInNames::Split(parts) => {
            let mut weight = Vec::with_capacity(3 * width * width);
            let mut bias = Vec::with_capacity(3 * width);
            for part in parts {
                weight.extend(source.tensor(&format!("{part}.weight"), &[width, width])?);
                bias.extend(source.tensor(&format!("{part}.bias"), &[width])?);
            }
            source.linear_from(
                transpose(&weight, 3 * width, width),
                Some(bias),
                width,
                3 * width,
            )
        }
        AttentionInNames::Fused { weight, bias } => {
            source.linear(weight, Some(bias), width, 3 * width)?
        }
    };
    let linear = |name: &str, d_in: usize, d_out: usize| {
        source.linear(
            &format!("{name}.weight"),
            Some(&format!("{name}.bias")),
            d_in,
            d_out,
        )
    };
    Ok(ResidualAttentionBlock {
        ln_1: source.layer_norm(&names.ln_1, width, epsilon)?,
        attn_in,
        attn_out: linear(&names.attn_out, width, width)?,
        ln_2: source.layer_norm(&names.ln_2, width, epsilon)?,
        mlp_fc: linear(&names.mlp_fc, width, mlp_width)?,
        mlp_proj: linear(&names.mlp_proj, mlp_width, width)?,
        heads,
        activation,
    })
}

/// The projection of `tower` to the joint space, as its layout stores it.
fn load_projection(
    source: &Source<'_>,
    names: &Names,
    tower: Tower,
    width: usize,
    projection_dim: usize,
) -> Result<Linear, LoadError> {
    let name = names.projection(tower);
    match name {
        ProjectionName::Linear(_) => source.linear(&name.weight(), None, width, projection_dim),
        // open_clip's matrix is `[in, out]`, like burn's weight: no transpose.
        ProjectionName::Matrix(_) => {
            let weight = source.tensor(&name.weight(), &[width, projection_dim])?;
            Ok(source.linear_from(weight, None, width, projection_dim))
        }
    }
}

/// Checked access to a [`TensorMap`] under a key prefix.
struct Source<'a> {
    weights: Weights<'a>,
    prefix: String,
    device: &'a Device,
}

/// Where a [`Source`] reads tensors from: a borrowed map (each tensor copied out) or an
/// owned one (each tensor moved out, so the map shrinks as the model grows).
enum Weights<'a> {
    Borrowed(&'a TensorMap),
    Owned(RefCell<TensorMap>),
}

impl Source<'_> {
    /// The values of `name`, which must have `shape` (a scalar also passes as `[1]`).
    fn tensor(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>, LoadError> {
        let full = format!("{}{name}", self.prefix);
        let check = |tensor: Option<&RawTensor>| {
            let tensor = tensor.ok_or_else(|| LoadError::MissingTensor { name: full.clone() })?;
            let scalar_as_one = shape.is_empty() && tensor.shape == [1];
            if tensor.shape != shape && !scalar_as_one {
                return Err(LoadError::WrongShape {
                    name: full.clone(),
                    expected: shape.to_vec(),
                    found: tensor.shape.clone(),
                });
            }
            Ok(())
        };
        match &self.weights {
            Weights::Borrowed(map) => {
                let tensor = map.get(&full);
                check(tensor)?;
                Ok(tensor.expect("checked above").values.clone())
            }
            Weights::Owned(map) => {
                let mut map = map.borrow_mut();
                check(map.get(&full))?;
                Ok(map.remove(&full).expect("checked above").values)
            }
        }
    }

    /// A PyTorch `[rows, cols]` matrix, returned transposed (`[cols, rows]`).
    fn transposed(&self, name: &str, rows: usize, cols: usize) -> Result<Vec<f32>, LoadError> {
        Ok(transpose(&self.tensor(name, &[rows, cols])?, rows, cols))
    }

    fn param1(&self, name: &str, len: usize) -> Result<Param<Tensor<1>>, LoadError> {
        let values = self.tensor(name, &[len])?;
        Ok(Param::from_data(
            TensorData::new(values, [len]),
            self.device,
        ))
    }

    fn param2(&self, name: &str, shape: [usize; 2]) -> Result<Param<Tensor<2>>, LoadError> {
        let values = self.tensor(name, &shape)?;
        Ok(Param::from_data(
            TensorData::new(values, shape),
            self.device,
        ))
    }

    /// A PyTorch Linear (`weight` `[d_out, d_in]`, optional `bias` `[d_out]`).
    fn linear(
        &self,
        weight: &str,
        bias: Option<&str>,
        d_in: usize,
        d_out: usize,
    ) -> Result<Linear, LoadError> {
        let weight = self.transposed(weight, d_out, d_in)?;
        let bias = bias.map(|b| self.tensor(b, &[d_out])).transpose()?;
        Ok(self.linear_from(weight, bias, d_in, d_out))
    }

    /// A burn Linear from an `[d_in, d_out]` weight.
    fn linear_from(
        &self,
        weight: Vec<f32>,
        bias: Option<Vec<f32>>,
        d_in: usize,
        d_out: usize,
    ) -> Linear {
        Linear {
            weight: Param::from_data(TensorData::new(weight, [d_in, d_out]), self.device),
            bias: bias.map(|b| Param::from_data(TensorData::new(b, [d_out]), self.device)),
        }
    }

    fn layer_norm(
        &self,
        name: &str,
        width: usize,
        epsilon: f64,
    ) -> Result<burn::nn::LayerNorm, LoadError> {
        let gamma = self.tensor(&format!("{name}.weight"), &[width])?;
        let beta = self.tensor(&format!("{name}.bias"), &[width])?;
        Ok(layer_norm(
            Tensor::from_data(TensorData::new(gamma, [width]), self.device),
            Tensor::from_data(TensorData::new(beta, [width]), self.device),
            epsilon,
        ))
    }
}
