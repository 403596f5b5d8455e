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
//! # Key remap table
//!
//! `{i}` is a block index; `<tower>` is `text_model` / `vision_model` (HF) and empty /
//! `visual.` (open_clip and OpenAI, which share names). Any common prefix (`module.`,
//! `model.`, `clip.`) before the token embedding's name is stripped from every key.
//!
//! | ours | Hugging Face | open_clip / OpenAI |
//! |---|---|---|
//! | text token embedding | `text_model.embeddings.token_embedding.weight` | `token_embedding.weight` |
//! | text positional embedding | `text_model.embeddings.position_embedding.weight` | `positional_embedding` |
//! | block `ln_1` | `<tower>.encoder.layers.{i}.layer_norm1.*` | `<tower>transformer.resblocks.{i}.ln_1.*` |
//! | block `attn_in` (q, k, v fused) | `...layers.{i}.self_attn.{q,k,v}_proj.*` (three Linears) | `...resblocks.{i}.attn.in_proj_{weight,bias}` |
//! | block `attn_out` | `...layers.{i}.self_attn.out_proj.*` | `...resblocks.{i}.attn.out_proj.*` |
//! | block `ln_2` | `...layers.{i}.layer_norm2.*` | `...resblocks.{i}.ln_2.*` |
//! | block `mlp_fc` / `mlp_proj` | `...layers.{i}.mlp.fc1.*` / `fc2.*` | `...resblocks.{i}.mlp.c_fc.*` / `c_proj.*` |
//! | text `ln_final` | `text_model.final_layer_norm.*` | `ln_final.*` |
//! | text projection | `text_projection.weight` (`[out, in]`) | `text_projection` (`[in, out]`) |
//! | patch embedding | `vision_model.embeddings.patch_embedding.weight` | `visual.conv1.weight` |
//! | class token | `vision_model.embeddings.class_embedding` | `visual.class_embedding` |
//! | vision positional embedding | `vision_model.embeddings.position_embedding.weight` | `visual.positional_embedding` |
//! | `ln_pre` / `ln_post` | `vision_model.pre_layrnorm.*` / `post_layernorm.*` | `visual.ln_pre.*` / `visual.ln_post.*` |
//! | image projection | `visual_projection.weight` (`[out, in]`) | `visual.proj` (`[in, out]`) |
//! | logit scale | `logit_scale` | `logit_scale` |
//!
//! PyTorch Linears store `[out, in]`; burn's store `[in, out]`, so Linear weights are
//! transposed on load. The paper's heads are `image_head.*` and `text_head.*`, each an
//! `nn.Sequential` of Linear (`0`), BatchNorm1d (`1`), ReLU, Linear (`3`), BatchNorm1d
//! (`4`), ReLU, Linear (`6`); the BatchNorms (eval mode, eps 1e-5) are folded into the
//! Linears before them.

use std::cell::RefCell;
use std::collections::HashMap;

use burn::module::Param;
use burn::nn::Linear;
use burn::tensor::{Device, Tensor, TensorData};

use crate::config::{Activation, ClipConfig, HeadConfig, TextConfig};
use crate::export::INT8_SCALE_SUFFIX;
use crate::model::{
    ClipModel, MlpHead, ResidualAttentionBlock, TextTransformer, VisionTransformer, layer_norm,
};

/// BatchNorm1d's default epsilon, which the paper's heads use.
const BATCH_NORM_EPS: f32 = 1e-5;

/// Why weights could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The bytes are not a safetensors file.
    #[error("not a safetensors file: {0}")]
    Safetensors(String),
    /// The file is not a PyTorch checkpoint the reader understands.
    #[error("not a readable PyTorch checkpoint: {0}")]
    Pytorch(String),
    /// A tensor holds a type that is not a number.
    #[error("tensor {name} has unsupported dtype {dtype}")]
    UnsupportedDtype {
        /// Tensor name in the file.
        name: String,
        /// Its dtype, as the file names it.
        dtype: String,
    },
    /// No key of any known layout: not a CLIP checkpoint.
    #[error("no CLIP token embedding found (looked for a key ending in {hf} or {open_clip})")]
    UnknownLayout {
        /// The Hugging Face key looked for.
        hf: &'static str,
        /// The open_clip key looked for.
        open_clip: &'static str,
    },
    /// A tensor the model needs is absent.
    #[error("missing tensor {name}")]
    MissingTensor {
        /// Full key in the file's naming.
        name: String,
    },
    /// A tensor has another shape than the config implies.
    #[error("tensor {name} has shape {found:?}, expected {expected:?}")]
    WrongShape {
        /// Full key in the file's naming.
        name: String,
        /// Shape the config implies.
        expected: Vec<usize>,
        /// Shape in the file.
        found: Vec<usize>,
    },
}

/// Checkpoint naming scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Hugging Face `transformers` `CLIPModel`.
    HuggingFace,
    /// open_clip's `CLIP` and OpenAI's original state dict (same names).
    OpenClip,
}

/// One tensor of a checkpoint, widened to f32, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct RawTensor {
    /// Extents, outermost first; empty for a scalar.
    pub shape: Vec<usize>,
    /// Values.
    pub values: Vec<f32>,
}

/// A checkpoint's tensors by name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TensorMap {
    tensors: HashMap<String, RawTensor>,
}

impl TensorMap {
    /// Reads every tensor of a safetensors file. An i8 matrix with a companion
    /// `<name>.int8_scale` vector (one scale per row, as [`crate::export`] writes) is
    /// dequantized.
    pub fn from_safetensors(bytes: &[u8]) -> Result<Self, LoadError> {
        use safetensors::Dtype;
        let file = safetensors::SafeTensors::deserialize(bytes)
            .map_err(|e| LoadError::Safetensors(e.to_string()))?;
        let mut tensors = HashMap::new();
        for (name, view) in file.tensors() {
            let data = view.data();
            let values = match view.dtype() {
                Dtype::F32 => floats(data, |b: &[u8; 4]| f32::from_le_bytes(*b)),
                Dtype::F16 => floats(data, |b: &[u8; 2]| half::f16::from_le_bytes(*b).to_f32()),
                Dtype::BF16 => floats(data, |b: &[u8; 2]| half::bf16::from_le_bytes(*b).to_f32()),
                Dtype::F64 => floats(data, |b: &[u8; 8]| f64::from_le_bytes(*b) as f32),
                Dtype::I64 => floats(data, |b: &[u8; 8]| i64::from_le_bytes(*b) as f32),
                Dtype::I32 => floats(data, |b: &[u8; 4]| i32::from_le_bytes(*b) as f32),
                Dtype::I8 => floats(data, |b: &[u8; 1]| f32::from(i8::from_le_bytes(*b))),
                Dtype::U8 => floats(data, |b: &[u8; 1]| f32::from(b[0])),
                other => {
                    return Err(LoadError::UnsupportedDtype {
                        name,
                        dtype: format!("{other:?}"),
                    });
                }
            };
            tensors.insert(
                name,
                RawTensor {
                    shape: view.shape().to_vec(),
                    values,
                },
            );
        }
        let mut map = Self { tensors };
        map.dequantize_int8()?;
        Ok(map)
    }

    fn dequantize_int8(&mut self) -> Result<(), LoadError> {
        let scale_names: Vec<String> = self
            .tensors
            .keys()
            .filter(|name| name.ends_with(INT8_SCALE_SUFFIX))
            .cloned()
            .collect();
        for scale_name in scale_names {
            let name = scale_name.trim_end_matches(INT8_SCALE_SUFFIX).to_owned();
            let scales = self
                .tensors
                .remove(&scale_name)
                .map(|t| t.values)
                .unwrap_or_default();
            let tensor = self
                .tensors
                .get_mut(&name)
                .ok_or_else(|| LoadError::MissingTensor { name: name.clone() })?;
            let rows = tensor.shape.first().copied().unwrap_or(0);
            if tensor.shape.len() != 2 || rows != scales.len() {
                return Err(LoadError::WrongShape {
                    name,
                    expected: vec![scales.len(), tensor.shape.get(1).copied().unwrap_or(0)],
                    found: tensor.shape.clone(),
                });
            }
            let cols = tensor.shape[1];
            for (row, scale) in tensor.values.chunks_mut(cols.max(1)).zip(&scales) {
                row.iter_mut().for_each(|v| *v *= scale);
            }
        }
        Ok(())
    }

    /// Reads every tensor of a PyTorch `.bin`/`.pt`/`.pth` state dict, optionally nested
    /// under `top_level_key` (as `"state_dict"`).
    #[cfg(all(feature = "pytorch", not(target_family = "wasm")))]
    pub fn from_pytorch_file(
        path: &std::path::Path,
        top_level_key: Option<&str>,
    ) -> Result<Self, LoadError> {
        use pytorch_reader::{DType, PytorchReader};
        let reader = match top_level_key {
            Some(key) => PytorchReader::with_top_level_key(path, key),
            None => PytorchReader::new(path),
        }
        .map_err(|e| LoadError::Pytorch(format!("{}: {e}", path.display())))?;
        let mut tensors = HashMap::new();
        for (name, tensor) in reader.into_tensors() {
            let data = tensor
                .read()
                .map_err(|e| LoadError::Pytorch(format!("{}: {e}", path.display())))?;
            // The reader returns native-endian bytes; every target we build for is little-endian.
            let values = match tensor.dtype() {
                DType::F32 => floats(&data, |b: &[u8; 4]| f32::from_ne_bytes(*b)),
                DType::F16 => floats(&data, |b: &[u8; 2]| half::f16::from_ne_bytes(*b).to_f32()),
                DType::BF16 => floats(&data, |b: &[u8; 2]| half::bf16::from_ne_bytes(*b).to_f32()),
                DType::F64 => floats(&data, |b: &[u8; 8]| f64::from_ne_bytes(*b) as f32),
                DType::I64 => floats(&data, |b: &[u8; 8]| i64::from_ne_bytes(*b) as f32),
                other => {
                    return Err(LoadError::UnsupportedDtype {
                        name,
                        dtype: format!("{other:?}"),
                    });
                }
            };
            tensors.insert(
                name,
                RawTensor {
                    shape: tensor.shape().to_vec(),
                    values,
                },
            );
        }
        Ok(Self { tensors })
    }

    /// Adds or replaces a tensor.
    pub fn insert(&mut self, name: impl Into<String>, tensor: RawTensor) {
        self.tensors.insert(name.into(), tensor);
    }

    /// Removes a tensor, returning it.
    pub fn remove(&mut self, name: &str) -> Option<RawTensor> {
        self.tensors.remove(name)
    }

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
        load_text(&source, &Names { layout }, config, projection_dim)
    }

    /// The tensor called `name`.
    pub fn get(&self, name: &str) -> Option<&RawTensor> {
        self.tensors.get(name)
    }

    /// The tensor whose name ends with `suffix` under the shortest prefix (a checkpoint's
    /// heads beside a backbone, or alone), with its name.
    pub fn find_by_suffix(&self, suffix: &str) -> Option<(&str, &RawTensor)> {
        self.tensors
            .iter()
            .filter(|(name, _)| name.ends_with(suffix))
            .min_by_key(|(name, _)| name.len())
            .map(|(name, tensor)| (name.as_str(), tensor))
    }

    /// Tensor names, sorted.
    pub fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.tensors.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }

    /// The layout and the common key prefix, found from the token embedding's name.
    pub fn detect_layout(&self) -> Result<(Layout, String), LoadError> {
        let find = |suffix: &str| {
            self.tensors
                .keys()
                .filter_map(|k| k.strip_suffix(suffix))
                .min_by_key(|prefix| prefix.len())
                .map(str::to_owned)
        };
        if let Some(prefix) = find(HF_TOKEN_EMBEDDING) {
            return Ok((Layout::HuggingFace, prefix));
        }
        if let Some(prefix) = find(OPEN_CLIP_TOKEN_EMBEDDING) {
            return Ok((Layout::OpenClip, prefix));
        }
        Err(LoadError::UnknownLayout {
            hf: HF_TOKEN_EMBEDDING,
            open_clip: OPEN_CLIP_TOKEN_EMBEDDING,
        })
    }
}

const HF_TOKEN_EMBEDDING: &str = "text_model.embeddings.token_embedding.weight";
const OPEN_CLIP_TOKEN_EMBEDDING: &str = "token_embedding.weight";

fn floats<const N: usize>(data: &[u8], read: impl Fn(&[u8; N]) -> f32) -> Vec<f32> {
    data.chunks_exact(N)
        .map(|chunk| read(chunk.try_into().expect("chunks_exact yields N bytes")))
        .collect()
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
    let names = Names { layout };
    let text = load_text(&source, &names, &config.text_config, config.projection_dim)?;
    let vision = load_vision(&source, &names, config)?;
    let logit_scale = source.tensor("logit_scale", &[])?;
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
    load_text(&source, &Names { layout }, config, projection_dim)
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
    let projection = names.projection(source, Tower::Text, width, projection_dim)?;
    Ok(TextTransformer {
        token_embedding,
        positional_embedding,
        blocks,
        ln_final,
        projection,
    })
}

fn load_vision(
    source: &Source<'_>,
    names: &Names,
    config: &ClipConfig,
) -> Result<VisionTransformer, LoadError> {
    let c = &config.vision_config;
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
    let projection = names.projection(source, Tower::Vision, width, config.projection_dim)?;
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
        .map(|i| load_block(source, names, &names.block(tower, i), shape))
        .collect()
}

fn load_block(
    source: &Source<'_>,
    names: &Names,
    block: &str,
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
    let hf = names.layout == Layout::HuggingFace;
    let (ln_1, ln_2, out, fc, proj) = if hf {
        (
            "layer_norm1",
            "layer_norm2",
            "self_attn.out_proj",
            "mlp.fc1",
            "mlp.fc2",
        )
    } else {
        ("ln_1", "ln_2", "attn.out_proj", "mlp.c_fc", "mlp.c_proj")
    };
    let attn_in = if hf {
        let mut weight = Vec::with_capacity(3 * width * width);
        let mut bias = Vec::with_capacity(3 * width);
        for part in ["q_proj", "k_proj", "v_proj"] {
            weight.extend(
                source.tensor(&format!("{block}.self_attn.{part}.weight"), &[width, width])?,
            );
            bias.extend(source.tensor(&format!("{block}.self_attn.{part}.bias"), &[width])?);
        }
        source.linear_from(
            transpose(&weight, 3 * width, width),
            Some(bias),
            width,
            3 * width,
        )
    } else {
        source.linear(
            &format!("{block}.attn.in_proj_weight"),
            Some(&format!("{block}.attn.in_proj_bias")),
            width,
            3 * width,
        )?
    };
    let linear = |name: &str, d_in: usize, d_out: usize| {
        source.linear(
            &format!("{block}.{name}.weight"),
            Some(&format!("{block}.{name}.bias")),
            d_in,
            d_out,
        )
    };
    Ok(ResidualAttentionBlock {
        ln_1: source.layer_norm(&format!("{block}.{ln_1}"), width, epsilon)?,
        attn_in,
        attn_out: linear(out, width, width)?,
        ln_2: source.layer_norm(&format!("{block}.{ln_2}"), width, epsilon)?,
        mlp_fc: linear(fc, width, mlp_width)?,
        mlp_proj: linear(proj, mlp_width, width)?,
        heads,
        activation,
    })
}

#[derive(Clone, Copy)]
enum Tower {
    Text,
    Vision,
}

/// The key remap table of the module docs, as code.
struct Names {
    layout: Layout,
}

impl Names {
    fn hf(&self) -> bool {
        self.layout == Layout::HuggingFace
    }

    fn pick(&self, hf: &str, open_clip: &str) -> String {
        if self.hf() { hf } else { open_clip }.to_owned()
    }

    fn text_token_embedding(&self) -> String {
        self.pick(HF_TOKEN_EMBEDDING, OPEN_CLIP_TOKEN_EMBEDDING)
    }
    fn text_positional_embedding(&self) -> String {
        self.pick(
            "text_model.embeddings.position_embedding.weight",
            "positional_embedding",
        )
    }
    fn text_ln_final(&self) -> String {
        self.pick("text_model.final_layer_norm", "ln_final")
    }
    fn patch_embedding(&self) -> String {
        self.pick(
            "vision_model.embeddings.patch_embedding.weight",
            "visual.conv1.weight",
        )
    }
    fn class_embedding(&self) -> String {
        self.pick(
            "vision_model.embeddings.class_embedding",
            "visual.class_embedding",
        )
    }
    fn vision_positional_embedding(&self) -> String {
        self.pick(
            "vision_model.embeddings.position_embedding.weight",
            "visual.positional_embedding",
        )
    }
    fn ln_pre(&self) -> String {
        self.pick("vision_model.pre_layrnorm", "visual.ln_pre")
    }
    fn ln_post(&self) -> String {
        self.pick("vision_model.post_layernorm", "visual.ln_post")
    }
    fn block(&self, tower: Tower, index: usize) -> String {
        match (self.layout, tower) {
            (Layout::HuggingFace, Tower::Text) => format!("text_model.encoder.layers.{index}"),
            (Layout::HuggingFace, Tower::Vision) => format!("vision_model.encoder.layers.{index}"),
            (Layout::OpenClip, Tower::Text) => format!("transformer.resblocks.{index}"),
            (Layout::OpenClip, Tower::Vision) => format!("visual.transformer.resblocks.{index}"),
        }
    }

    /// HF stores the projections as `[out, in]` Linears, open_clip as `[in, out]` matrices.
    fn projection(
        &self,
        source: &Source<'_>,
        tower: Tower,
        width: usize,
        projection_dim: usize,
    ) -> Result<Linear, LoadError> {
        match (self.layout, tower) {
            (Layout::HuggingFace, Tower::Text) => {
                source.linear("text_projection.weight", None, width, projection_dim)
            }
            (Layout::HuggingFace, Tower::Vision) => {
                source.linear("visual_projection.weight", None, width, projection_dim)
            }
            (Layout::OpenClip, tower) => {
                let name = match tower {
                    Tower::Text => "text_projection",
                    Tower::Vision => "visual.proj",
                };
                let weight = source.tensor(name, &[width, projection_dim])?;
                Ok(source.linear_from(weight, None, width, projection_dim))
            }
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

/// `[rows, cols]` -> `[cols, rows]`, row-major.
pub fn transpose(values: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; values.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = values[r * cols + c];
        }
    }
    out
}
