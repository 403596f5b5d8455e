//! Model sizes: the OpenAI CLIP family (ViT-B/32 by default, B/16, L/14) and the paper's
//! feature heads, readable from Hugging Face's `config.json` and open_clip's model configs.
//!
//! Field names follow Hugging Face's `CLIPTextConfig` / `CLIPVisionConfig` (`hidden_size`,
//! `intermediate_size`, `num_attention_heads`, ...), so a `config.json` maps field for field.

use serde::{Deserialize, Serialize};

/// The MLP activation inside the residual blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Activation {
    /// `x * sigmoid(1.702 x)`: OpenAI's CLIP weights (HF `quick_gelu`, open_clip `-quickgelu`).
    #[serde(rename = "quick_gelu")]
    QuickGelu,
    /// The exact (erf) GELU: open_clip models trained without `quick_gelu`.
    #[serde(rename = "gelu")]
    Gelu,
}

/// The causal text transformer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextConfig {
    /// Token embedding rows (49408 for the CLIP BPE vocabulary).
    pub vocab_size: usize,
    /// Transformer width.
    pub hidden_size: usize,
    /// MLP hidden width (4x `hidden_size` in CLIP).
    pub intermediate_size: usize,
    /// Attention heads; `hidden_size` must be a multiple.
    pub num_attention_heads: usize,
    /// Residual attention blocks.
    pub num_hidden_layers: usize,
    /// Context length (77).
    pub max_position_embeddings: usize,
    /// MLP activation.
    pub hidden_act: Activation,
    /// LayerNorm epsilon.
    pub layer_norm_eps: f64,
}

/// The ViT vision tower.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VisionConfig {
    /// Square input side in pixels.
    pub image_size: usize,
    /// Square patch side in pixels; `image_size` must be a multiple.
    pub patch_size: usize,
    /// Input channels (3).
    pub num_channels: usize,
    /// Transformer width.
    pub hidden_size: usize,
    /// MLP hidden width.
    pub intermediate_size: usize,
    /// Attention heads.
    pub num_attention_heads: usize,
    /// Residual attention blocks.
    pub num_hidden_layers: usize,
    /// MLP activation.
    pub hidden_act: Activation,
    /// LayerNorm epsilon.
    pub layer_norm_eps: f64,
}

/// A CLIP model: both towers and the shared embedding width.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClipConfig {
    /// Text tower.
    pub text_config: TextConfig,
    /// Vision tower.
    pub vision_config: VisionConfig,
    /// Width of the joint embedding (512 for ViT-B).
    pub projection_dim: usize,
}

/// The paper's per-modality head: Linear(input, hidden), BatchNorm, ReLU,
/// Linear(hidden, hidden), BatchNorm, ReLU, Linear(hidden, output), L2 normalise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct HeadConfig {
    /// Input width: the CLIP projection width (512).
    pub input: usize,
    /// Hidden width (8192 in the paper).
    pub hidden: usize,
    /// Output width (32 in the paper).
    pub output: usize,
}

impl Default for HeadConfig {
    fn default() -> Self {
        Self {
            input: 512,
            hidden: 8192,
            output: 32,
        }
    }
}

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The JSON does not parse into the expected fields.
    #[error("config JSON is invalid: {0}")]
    Json(#[from] serde_json::Error),
    /// A size is zero or two sizes disagree.
    #[error("config field {field} is invalid: {reason}")]
    Invalid {
        /// The field, as `text_config.hidden_size`.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

impl Default for ClipConfig {
    fn default() -> Self {
        Self::vit_b_32()
    }
}

impl ClipConfig {
    /// OpenAI's ViT-B/32.
    pub fn vit_b_32() -> Self {
        Self::openai(32, 224, 768, 12, 512, 512)
    }

    /// OpenAI's ViT-B/16.
    pub fn vit_b_16() -> Self {
        Self::openai(16, 224, 768, 12, 512, 512)
    }

    /// OpenAI's ViT-L/14 (224 px).
    pub fn vit_l_14() -> Self {
        Self::openai(14, 224, 1024, 24, 768, 768)
    }

    fn openai(
        patch_size: usize,
        image_size: usize,
        vision_width: usize,
        vision_layers: usize,
        text_width: usize,
        projection_dim: usize,
    ) -> Self {
        Self {
            text_config: TextConfig {
                vocab_size: 49408,
                hidden_size: text_width,
                intermediate_size: 4 * text_width,
                num_attention_heads: text_width / 64,
                num_hidden_layers: 12,
                max_position_embeddings: 77,
                hidden_act: Activation::QuickGelu,
                layer_norm_eps: 1e-5,
            },
            vision_config: VisionConfig {
                image_size,
                patch_size,
                num_channels: 3,
                hidden_size: vision_width,
                intermediate_size: 4 * vision_width,
                num_attention_heads: vision_width / 64,
                num_hidden_layers: vision_layers,
                hidden_act: Activation::QuickGelu,
                layer_norm_eps: 1e-5,
            },
            projection_dim,
        }
    }

    /// A Hugging Face `CLIPModel` `config.json`.
    pub fn from_hf_json(json: &str) -> Result<Self, ConfigError> {
        let config: HfConfig = serde_json::from_str(json)?;
        let config = Self {
            text_config: config.text_config.into_text(),
            vision_config: config.vision_config.into_vision(),
            projection_dim: config.projection_dim,
        };
        config.validate()?;
        Ok(config)
    }

    /// An open_clip model config (`{"embed_dim", "vision_cfg", "text_cfg", "quick_gelu"}`,
    /// as in open_clip's `model_configs/*.json`). `quick_gelu` defaults to false there; pass
    /// `Activation::QuickGelu` via the JSON's `quick_gelu: true` for OpenAI weights.
    pub fn from_open_clip_json(json: &str) -> Result<Self, ConfigError> {
        let config: OpenClipConfig = serde_json::from_str(json)?;
        let activation = if config.quick_gelu {
            Activation::QuickGelu
        } else {
            Activation::Gelu
        };
        let text = config.text_cfg;
        let vision = config.vision_cfg;
        let config = Self {
            text_config: TextConfig {
                vocab_size: text.vocab_size,
                hidden_size: text.width,
                intermediate_size: mlp_width(text.width, text.mlp_ratio),
                num_attention_heads: text.heads,
                num_hidden_layers: text.layers,
                max_position_embeddings: text.context_length,
                hidden_act: activation,
                layer_norm_eps: 1e-5,
            },
            vision_config: VisionConfig {
                image_size: vision.image_size,
                patch_size: vision.patch_size,
                num_channels: 3,
                hidden_size: vision.width,
                intermediate_size: mlp_width(vision.width, vision.mlp_ratio),
                num_attention_heads: vision.width / vision.head_width.max(1),
                num_hidden_layers: vision.layers,
                hidden_act: activation,
                layer_norm_eps: 1e-5,
            },
            projection_dim: config.embed_dim,
        };
        config.validate()?;
        Ok(config)
    }

    /// Checks that every size is positive and that widths divide as the model needs.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let t = &self.text_config;
        let v = &self.vision_config;
        let positive: [(&'static str, usize); 14] = [
            ("text_config.vocab_size", t.vocab_size),
            ("text_config.hidden_size", t.hidden_size),
            ("text_config.intermediate_size", t.intermediate_size),
            ("text_config.num_attention_heads", t.num_attention_heads),
            (
                "text_config.max_position_embeddings",
                t.max_position_embeddings,
            ),
            ("vision_config.image_size", v.image_size),
            ("vision_config.patch_size", v.patch_size),
            ("vision_config.num_channels", v.num_channels),
            ("vision_config.hidden_size", v.hidden_size),
            ("vision_config.intermediate_size", v.intermediate_size),
            ("vision_config.num_attention_heads", v.num_attention_heads),
            ("projection_dim", self.projection_dim),
            ("text_config.num_hidden_layers", t.num_hidden_layers),
            ("vision_config.num_hidden_layers", v.num_hidden_layers),
        ];
        if let Some((field, _)) = positive.iter().find(|(_, size)| *size == 0) {
            return Err(ConfigError::Invalid {
                field,
                reason: "must be positive".into(),
            });
        }
        if !t.hidden_size.is_multiple_of(t.num_attention_heads) {
            return Err(ConfigError::Invalid {
                field: "text_config.num_attention_heads",
                reason: format!("does not divide hidden_size {}", t.hidden_size),
            });
        }
        if !v.hidden_size.is_multiple_of(v.num_attention_heads) {
            return Err(ConfigError::Invalid {
                field: "vision_config.num_attention_heads",
                reason: format!("does not divide hidden_size {}", v.hidden_size),
            });
        }
        if !v.image_size.is_multiple_of(v.patch_size) {
            return Err(ConfigError::Invalid {
                field: "vision_config.patch_size",
                reason: format!("does not divide image_size {}", v.image_size),
            });
        }
        Ok(())
    }
}

fn mlp_width(width: usize, ratio: f64) -> usize {
    // open_clip computes `int(width * mlp_ratio)`; widths and ratios are small exact values.
    (width as f64 * ratio) as usize
}

/// Hugging Face's `config.json`, with its defaults for absent fields.
#[derive(Deserialize)]
struct HfConfig {
    #[serde(default)]
    text_config: HfTowerConfig,
    #[serde(default)]
    vision_config: HfTowerConfig,
    #[serde(default = "default_projection_dim")]
    projection_dim: usize,
}

fn default_projection_dim() -> usize {
    512
}

/// One tower of a Hugging Face config; absent fields take `CLIPTextConfig`'s or
/// `CLIPVisionConfig`'s defaults when converted.
#[derive(Deserialize, Default)]
struct HfTowerConfig {
    vocab_size: Option<usize>,
    hidden_size: Option<usize>,
    intermediate_size: Option<usize>,
    num_attention_heads: Option<usize>,
    num_hidden_layers: Option<usize>,
    max_position_embeddings: Option<usize>,
    image_size: Option<usize>,
    patch_size: Option<usize>,
    num_channels: Option<usize>,
    hidden_act: Option<Activation>,
    layer_norm_eps: Option<f64>,
}

impl HfTowerConfig {
    fn into_text(self) -> TextConfig {
        TextConfig {
            vocab_size: self.vocab_size.unwrap_or(49408),
            hidden_size: self.hidden_size.unwrap_or(512),
            intermediate_size: self.intermediate_size.unwrap_or(2048),
            num_attention_heads: self.num_attention_heads.unwrap_or(8),
            num_hidden_layers: self.num_hidden_layers.unwrap_or(12),
            max_position_embeddings: self.max_position_embeddings.unwrap_or(77),
            hidden_act: self.hidden_act.unwrap_or(Activation::QuickGelu),
            layer_norm_eps: self.layer_norm_eps.unwrap_or(1e-5),
        }
    }

    fn into_vision(self) -> VisionConfig {
        VisionConfig {
            image_size: self.image_size.unwrap_or(224),
            patch_size: self.patch_size.unwrap_or(32),
            num_channels: self.num_channels.unwrap_or(3),
            hidden_size: self.hidden_size.unwrap_or(768),
            intermediate_size: self.intermediate_size.unwrap_or(3072),
            num_attention_heads: self.num_attention_heads.unwrap_or(12),
            num_hidden_layers: self.num_hidden_layers.unwrap_or(12),
            hidden_act: self.hidden_act.unwrap_or(Activation::QuickGelu),
            layer_norm_eps: self.layer_norm_eps.unwrap_or(1e-5),
        }
    }
}

#[derive(Deserialize)]
struct OpenClipConfig {
    embed_dim: usize,
    #[serde(default)]
    quick_gelu: bool,
    vision_cfg: OpenClipVision,
    text_cfg: OpenClipText,
}

#[derive(Deserialize)]
struct OpenClipVision {
    image_size: usize,
    layers: usize,
    width: usize,
    #[serde(default = "default_head_width")]
    head_width: usize,
    patch_size: usize,
    #[serde(default = "default_mlp_ratio")]
    mlp_ratio: f64,
}

#[derive(Deserialize)]
struct OpenClipText {
    #[serde(default = "default_context_length")]
    context_length: usize,
    #[serde(default = "default_vocab_size")]
    vocab_size: usize,
    width: usize,
    heads: usize,
    layers: usize,
    #[serde(default = "default_mlp_ratio")]
    mlp_ratio: f64,
}

fn default_head_width() -> usize {
    64
}
fn default_mlp_ratio() -> f64 {
    4.0
}
fn default_context_length() -> usize {
    77
}
fn default_vocab_size() -> usize {
    49408
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_validate() {
        for config in [
            ClipConfig::vit_b_32(),
            ClipConfig::vit_b_16(),
            ClipConfig::vit_l_14(),
        ] {
            config.validate().unwrap();
        }
        assert_eq!(ClipConfig::default().vision_config.patch_size, 32);
    }

    #[test]
    fn open_clip_json_reads_sizes() {
        let json = r#"{"embed_dim": 512, "quick_gelu": true,
            "vision_cfg": {"image_size": 224, "layers": 12, "width": 768, "patch_size": 32},
            "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 512, "heads": 8, "layers": 12}}"#;
        assert_eq!(
            ClipConfig::from_open_clip_json(json).unwrap(),
            ClipConfig::vit_b_32()
        );
    }

    #[test]
    fn bad_sizes_are_named() {
        let mut config = ClipConfig::vit_b_32();
        config.vision_config.patch_size = 30;
        let err = config.validate().unwrap_err();
        assert!(
            err.to_string().contains("vision_config.patch_size"),
            "{err}"
        );
    }
}
