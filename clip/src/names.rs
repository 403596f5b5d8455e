//! The checkpoint-name table: where each of our parameters sits in a Hugging Face
//! `CLIPModel` and in an open_clip / OpenAI state dict. [`crate::loader`] reads models by it
//! and [`crate::export`] writes them by it, so a file written in a [`Layout`] loads back.
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
//! Linear and LayerNorm entries are module names: their tensors are `<name>.weight` and
//! `<name>.bias`. PyTorch Linears store `[out, in]`; burn's store `[in, out]`.
//!
//! ```
//! use clip::names::{Layout, Names, Tower};
//!
//! let names = Names::new(Layout::OpenClip);
//! assert_eq!(names.block(Tower::Vision, 2).mlp_fc, "visual.transformer.resblocks.2.mlp.c_fc");
//! ```

/// Checkpoint naming scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Hugging Face `transformers` `CLIPModel`.
    HuggingFace,
    /// open_clip's `CLIP` and OpenAI's original state dict (same names).
    OpenClip,
}

impl Layout {
    /// The name of the text token embedding, which every CLIP checkpoint of this layout has:
    /// the key a layout (and a key prefix) is told by.
    pub const fn token_embedding(self) -> &'static str {
        match self {
            Self::HuggingFace => "text_model.embeddings.token_embedding.weight",
            Self::OpenClip => "token_embedding.weight",
        }
    }

    /// The name of the class token, which every image tower of this layout has: the key an
    /// image tower's file (without the text tower) is told by.
    pub const fn class_embedding(self) -> &'static str {
        match self {
            Self::HuggingFace => "vision_model.embeddings.class_embedding",
            Self::OpenClip => "visual.class_embedding",
        }
    }

    /// The key that tells this layout in a file holding `tower`.
    pub const fn key(self, tower: Tower) -> &'static str {
        match tower {
            Tower::Text => self.token_embedding(),
            Tower::Vision => self.class_embedding(),
        }
    }
}

/// One of CLIP's two towers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tower {
    /// The text transformer.
    Text,
    /// The vision transformer.
    Vision,
}

/// A tower's projection to the joint space, which the layouts store differently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProjectionName {
    /// A bias-free PyTorch Linear: `<name>.weight`, `[out, in]` (Hugging Face).
    Linear(String),
    /// A bare `[in, out]` matrix (open_clip).
    Matrix(String),
}

impl ProjectionName {
    /// The name of the projection's weight tensor.
    pub fn weight(&self) -> String {
        match self {
            Self::Linear(name) => format!("{name}.weight"),
            Self::Matrix(name) => name.clone(),
        }
    }
}

/// The fused q, k, v input projection of a block, which the layouts store differently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttentionInNames {
    /// One `[3 * width, width]` weight and one `3 * width` bias, q, k, v stacked (open_clip).
    Fused {
        /// The stacked weight's name.
        weight: String,
        /// The stacked bias's name.
        bias: String,
    },
    /// Three Linears, q, k and v in that order (Hugging Face).
    Split([String; 3]),
}

/// The names of one residual block's modules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockNames {
    /// The LayerNorm before attention.
    pub ln_1: String,
    /// The q, k, v projection.
    pub attn_in: AttentionInNames,
    /// The attention's output Linear.
    pub attn_out: String,
    /// The LayerNorm before the MLP.
    pub ln_2: String,
    /// The MLP's first Linear.
    pub mlp_fc: String,
    /// The MLP's second Linear.
    pub mlp_proj: String,
}

/// The key remap table of the module docs, as code, for one [`Layout`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Names {
    layout: Layout,
}

impl Names {
    /// The names of `layout`.
    pub const fn new(layout: Layout) -> Self {
        Self { layout }
    }

    /// The layout these names are of.
    pub const fn layout(&self) -> Layout {
        self.layout
    }

    fn pick(&self, hf: &str, open_clip: &str) -> String {
        match self.layout {
            Layout::HuggingFace => hf,
            Layout::OpenClip => open_clip,
        }
        .to_owned()
    }

    /// The text token embedding, `[vocab, width]`.
    pub fn text_token_embedding(&self) -> String {
        self.layout.token_embedding().to_owned()
    }

    /// The text positional embedding, `[context, width]`.
    pub fn text_positional_embedding(&self) -> String {
        self.pick(
            "text_model.embeddings.position_embedding.weight",
            "positional_embedding",
        )
    }

    /// The text tower's last LayerNorm.
    pub fn text_ln_final(&self) -> String {
        self.pick("text_model.final_layer_norm", "ln_final")
    }

    /// The patch embedding, a bias-free conv weight `[width, channels, patch, patch]`.
    pub fn patch_embedding(&self) -> String {
        self.pick(
            "vision_model.embeddings.patch_embedding.weight",
            "visual.conv1.weight",
        )
    }

    /// The class token, `[width]`.
    pub fn class_embedding(&self) -> String {
        self.layout.class_embedding().to_owned()
    }

    /// The vision positional embedding, `[patches + 1, width]`.
    pub fn vision_positional_embedding(&self) -> String {
        self.pick(
            "vision_model.embeddings.position_embedding.weight",
            "visual.positional_embedding",
        )
    }

    /// The LayerNorm before the vision blocks.
    pub fn ln_pre(&self) -> String {
        self.pick("vision_model.pre_layrnorm", "visual.ln_pre")
    }

    /// The LayerNorm after the vision blocks.
    pub fn ln_post(&self) -> String {
        self.pick("vision_model.post_layernorm", "visual.ln_post")
    }

    /// The learned temperature, a scalar.
    pub fn logit_scale(&self) -> String {
        "logit_scale".to_owned()
    }

    /// The projection of `tower` to the joint space.
    pub fn projection(&self, tower: Tower) -> ProjectionName {
        match (self.layout, tower) {
            (Layout::HuggingFace, Tower::Text) => ProjectionName::Linear("text_projection".into()),
            (Layout::HuggingFace, Tower::Vision) => {
                ProjectionName::Linear("visual_projection".into())
            }
            (Layout::OpenClip, Tower::Text) => ProjectionName::Matrix("text_projection".into()),
            (Layout::OpenClip, Tower::Vision) => ProjectionName::Matrix("visual.proj".into()),
        }
    }

    /// The modules of block `index` of `tower`.
    pub fn block(&self, tower: Tower, index: usize) -> BlockNames {
        let block = match (self.layout, tower) {
            (Layout::HuggingFace, Tower::Text) => format!("text_model.encoder.layers.{index}"),
            (Layout::HuggingFace, Tower::Vision) => format!("vision_model.encoder.layers.{index}"),
            (Layout::OpenClip, Tower::Text) => format!("transformer.resblocks.{index}"),
            (Layout::OpenClip, Tower::Vision) => format!("visual.transformer.resblocks.{index}"),
        };
        match self.layout {
            Layout::HuggingFace => BlockNames {
                ln_1: format!("{block}.layer_norm1"),
                attn_in: AttentionInNames::Split(
                    ["q_proj", "k_proj", "v_proj"].map(|part| format!("{block}.self_attn.{part}")),
                ),
                attn_out: format!("{block}.self_attn.out_proj"),
                ln_2: format!("{block}.layer_norm2"),
                mlp_fc: format!("{block}.mlp.fc1"),
                mlp_proj: format!("{block}.mlp.fc2"),
            },
            Layout::OpenClip => BlockNames {
                ln_1: format!("{block}.ln_1"),
                attn_in: AttentionInNames::Fused {
                    weight: format!("{block}.attn.in_proj_weight"),
                    bias: format!("{block}.attn.in_proj_bias"),
                },
                attn_out: format!("{block}.attn.out_proj"),
                ln_2: format!("{block}.ln_2"),
                mlp_fc: format!("{block}.mlp.c_fc"),
                mlp_proj: format!("{block}.mlp.c_proj"),
            },
        }
    }
}
