//! Finding a CLIP model on disk: a Hugging Face `CLIPModel` folder, an open_clip or OpenAI
//! checkpoint file with its config, or a full-model state dict with the paper's heads.
//!
//! A folder needs `config.json` (Hugging Face's or open_clip's, or an open_clip hub repo's
//! `open_clip_config.json`) and `model.safetensors`
//! (or `pytorch_model.bin`, `open_clip_model.safetensors`, `open_clip_pytorch_model.bin`).
//! A file (`.safetensors`, `.bin`, `.pt`, `.pth`) takes its config from `--config`, else a
//! sibling `<stem>.json`, else `open_clip_config.json` beside it, else OpenAI's ViT-B/32.
//! A hub name (`ORG/NAME[@REVISION]`) that is not a local path is downloaded by [`hub`].

pub mod hub;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::tensor::Device;
use clip::{ClipConfig, ClipModel, TensorMap, load_clip};

use self::hub::{Hub, HubName};

/// A model's config and weights, read from disk.
pub struct ModelFiles {
    /// Sizes of both towers.
    pub config: ClipConfig,
    /// Every tensor of the checkpoint.
    pub weights: TensorMap,
    /// Where the weights came from (for messages and dataset manifests).
    pub weights_path: PathBuf,
}

impl ModelFiles {
    /// Reads the model that `spec` names; `config` overrides the config search.
    pub fn open(spec: &Path, config: Option<&Path>) -> Result<Self> {
        if spec.is_dir() {
            return Self::open_folder(spec, config);
        }
        if !spec.exists() {
            let name = spec.display().to_string();
            if let Some(hub_name) = HubName::parse(&name) {
                let folder = Hub::from_env()?.fetch(&hub_name)?;
                return Self::open_folder(&folder, config);
            }
            bail!("model '{name}': no such file or folder");
        }
        let config = match config {
            Some(path) => read_config(path)?,
            None => match sibling_config(spec) {
                Some(path) => read_config(&path)?,
                None => ClipConfig::vit_b_32(),
            },
        };
        Ok(Self {
            config,
            weights: read_weights(spec)?,
            weights_path: spec.to_owned(),
        })
    }

    fn open_folder(folder: &Path, config: Option<&Path>) -> Result<Self> {
        let config_path = match config {
            Some(path) => path.to_owned(),
            None => ["config.json", "open_clip_config.json"]
                .iter()
                .map(|name| folder.join(name))
                .find(|path| path.is_file())
                .with_context(|| {
                    format!(
                        "model folder {}: config.json is missing (pass --config FILE)",
                        folder.display()
                    )
                })?,
        };
        let weights_path = [
            "model.safetensors",
            "open_clip_model.safetensors",
            "pytorch_model.bin",
            "open_clip_pytorch_model.bin",
        ]
        .iter()
        .map(|name| folder.join(name))
        .find(|path| path.is_file())
        .with_context(|| {
            format!(
                "model folder {}: no weights (model.safetensors or pytorch_model.bin)",
                folder.display()
            )
        })?;
        Ok(Self {
            config: read_config(&config_path)?,
            weights: read_weights(&weights_path)?,
            weights_path,
        })
    }

    /// Builds the model on `device`; the error names the first missing or mis-shaped tensor.
    pub fn load(&self, device: &Device) -> Result<ClipModel> {
        load_clip(&self.weights, &self.config, device)
            .with_context(|| format!("cannot load {}", self.weights_path.display()))
    }
}

/// The config beside a checkpoint file, if there is one.
fn sibling_config(weights: &Path) -> Option<PathBuf> {
    let stem = weights.with_extension("json");
    let open_clip = weights.with_file_name("open_clip_config.json");
    [stem, open_clip].into_iter().find(|p| p.is_file())
}

/// A Hugging Face `config.json`, an open_clip model config, or open_clip's hub
/// `open_clip_config.json` (the model config under `model_cfg`).
pub fn read_config(path: &Path) -> Result<ClipConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config {}", path.display()))?;
    let json: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("config {} is not JSON", path.display()))?;
    let parsed = if json.get("text_config").is_some() {
        ClipConfig::from_hf_json(&text)
    } else if let Some(model_cfg) = json.get("model_cfg") {
        ClipConfig::from_open_clip_json(&model_cfg.to_string())
    } else {
        ClipConfig::from_open_clip_json(&text)
    };
    parsed.with_context(|| format!("config {}", path.display()))
}

fn read_weights(path: &Path) -> Result<TensorMap> {
    let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    match extension {
        "safetensors" => {
            let bytes =
                std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            TensorMap::from_safetensors(&bytes)
                .with_context(|| format!("{} is not a safetensors file", path.display()))
        }
        "bin" | "pt" | "pth" => TensorMap::from_pytorch_file(path, None)
            .or_else(|_| TensorMap::from_pytorch_file(path, Some("state_dict")))
            .with_context(|| format!("{} is not a PyTorch state dict", path.display())),
        _ => bail!(
            "{}: unknown weights format (expected .safetensors, .bin, .pt or .pth)",
            path.display()
        ),
    }
}
