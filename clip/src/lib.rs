//! CLIP for clip-branches: the CLIP BPE tokenizer, image preprocessing, and the image and
//! text towers in burn, with the paper's optional feature heads.
//!
//! One model code path serves every device: burn 0.22 dispatches on the runtime
//! [`Device`](burn::tensor::Device), so the precompute CLI (CPU, or wgpu / CUDA behind
//! features) and the browser (WebGPU, or the CPU fallback) run the same code. The crate does
//! no I/O (except the optional PyTorch reader, which needs a file path): weights,
//! vocabularies and images come in as bytes.
//!
//! - [`Tokenizer`]: ids identical to open_clip's ([`text_clean`] ports ftfy's fixes).
//! - [`PreprocessConfig`]: PIL-exact bicubic resize, centre crop, normalisation.
//! - [`ClipConfig`], [`loader`]: sizes and weights (Hugging Face, open_clip, OpenAI, and the
//!   paper's full model with heads), named by the one table of [`names`], read from the
//!   file format of [`tensors`] ([`TensorMap`]).
//! - [`ClipModel`], [`FeatureHead`]: the towers and heads; [`Encoder`] puts them together.
//! - [`export`]: a model back to named tensors, and the text tower as a compact (f16 or
//!   int8) safetensors file for the browser.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use burn::tensor::Device;
//! use clip::{ClipConfig, Encoder, TensorMap, TokenBatch, Tokenizer, load_clip, read_rows};
//!
//! let device = Device::flex();
//! let weights = TensorMap::from_safetensors(&std::fs::read("model.safetensors")?)?;
//! let config = ClipConfig::from_hf_json(&std::fs::read_to_string("config.json")?)?;
//! let encoder = Encoder::new(load_clip(&weights, &config, &device)?, device);
//! let tokenizer = Tokenizer::new()?;
//! let tokens = TokenBatch::new(tokenizer.tokenize_batch(&["a photo of a cat"], 77), 77)?;
//! let features = read_rows(encoder.text_features(&tokens)?)?;
//! # Ok(()) }
//! ```

pub mod config;
pub mod encoder;
pub mod export;
pub mod loader;
pub mod model;
pub mod names;
pub mod packed;
pub mod pooling;
pub mod preprocess;
pub mod query;
pub mod tensors;
pub mod text_clean;
pub mod tokenize;

pub use config::{Activation, ClipConfig, ConfigError, HeadConfig, TextConfig, VisionConfig};
pub use encoder::{Encoder, EncoderError, read_rows, read_rows_async};
pub use loader::{load_clip, load_head, load_head_sized, load_image_tower, load_text_tower};
pub use model::{
    ClipModel, FeatureHead, LinearProjection, MlpHead, TextTransformer, VisionTransformer,
};
pub use names::Layout;
pub use pooling::{EncodeError, TokenBatch};
pub use preprocess::{CLIP_MEAN, CLIP_STD, PreprocessConfig, PreprocessError, RgbImage};
pub use query::{QueryTerm, combine, parse_query};
pub use tensors::{LoadError, RawTensor, TensorMap};
pub use tokenize::{CONTEXT_LENGTH, END_OF_TEXT, START_OF_TEXT, Tokenizer, TokenizerError};
