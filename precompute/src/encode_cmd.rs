//! `precompute encode`: CLIP features of texts, image files and preprocessed tensors, as
//! open_clip's `encode_text` / `encode_image` (and Hugging Face's `get_text_features` /
//! `get_image_features`) give them: the unnormalised projection outputs.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use burn::tensor::{Device, Tensor, TensorData};
use clap::Args;
use clip::{ClipModel, PreprocessConfig, TokenBatch, Tokenizer, read_rows};
use serde::Serialize;

use crate::device::DeviceKind;
use crate::images::clip_input;
use crate::model_files::ModelFiles;
use crate::npy;

/// Print the CLIP features of texts, images and preprocessed tensors as JSON.
#[derive(Args)]
pub struct EncodeArgs {
    /// The model: a Hugging Face CLIP folder, or an open_clip / OpenAI checkpoint file.
    #[arg(long)]
    model: PathBuf,
    /// The model config, when it is not beside the weights.
    #[arg(long)]
    config: Option<PathBuf>,
    /// A text to encode, whatever its first character (`-5 apples` too); repeat the flag
    /// for several.
    #[arg(long = "text", allow_hyphen_values = true)]
    texts: Vec<String>,
    /// An image file to encode (JPEG, PNG, WebP, GIF, BMP); repeat for several.
    #[arg(long = "image")]
    images: Vec<PathBuf>,
    /// Already preprocessed images: an (n, 3, H, W) float `.npy` array.
    #[arg(long)]
    tensor: Option<PathBuf>,
    /// Pixel rows cut from the bottom of each image before resizing (banners).
    #[arg(long, default_value_t = 0)]
    bottom_crop: usize,
    /// The backend that runs the model.
    #[arg(long, value_enum, default_value_t)]
    device: DeviceKind,
}

/// The output document: one feature row per input, in input order.
#[derive(Serialize)]
pub struct Encoded {
    pub text: Vec<Vec<f32>>,
    pub image: Vec<Vec<f32>>,
    pub tensor: Vec<Vec<f32>>,
}

/// Runs the subcommand and prints the JSON document.
pub fn run(args: &EncodeArgs) -> Result<()> {
    let encoded = encode(args)?;
    println!("{}", serde_json::to_string(&encoded)?);
    Ok(())
}

/// Encodes every input of `args`.
pub fn encode(args: &EncodeArgs) -> Result<Encoded> {
    if args.texts.is_empty() && args.images.is_empty() && args.tensor.is_none() {
        bail!("nothing to encode: pass --text, --image or --tensor");
    }
    let device = args.device.device()?;
    let files = ModelFiles::open(&args.model, args.config.as_deref())?;
    let model = files.load(&device)?;
    let width = files.config.projection_dim;
    let text = encode_texts(&model, &args.texts, width)?;
    let preprocess = PreprocessConfig {
        image_size: model.vision.image_size,
        bottom_crop: args.bottom_crop,
        ..Default::default()
    };
    let mut pixels = Vec::new();
    for path in &args.images {
        pixels.extend(clip_input(path, &preprocess)?);
    }
    let image = encode_pixels(&model, &device, pixels, args.images.len(), width)?;
    let tensor = match &args.tensor {
        Some(path) => {
            let bytes =
                std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            let array = npy::read_array(&bytes).with_context(|| path.display().to_string())?;
            let size = model.vision.image_size;
            let npy::Values::F32(values) = array.values else {
                bail!("{}: expected a float array, found uint8", path.display());
            };
            match array.shape[..] {
                [n, 3, h, w] if h == size && w == size => {
                    encode_pixels(&model, &device, values, n, width)?
                }
                _ => bail!(
                    "{}: shape {:?}, expected (n, 3, {size}, {size}) for this model",
                    path.display(),
                    array.shape
                ),
            }
        }
        None => Vec::new(),
    };
    Ok(Encoded {
        text,
        image,
        tensor,
    })
}

fn encode_texts(model: &ClipModel, texts: &[String], width: usize) -> Result<Vec<Vec<f32>>> {
    if texts.is_empty() {
        return Ok(Vec::new());
    }
    let tokenizer = Tokenizer::new().context("cannot read the embedded CLIP vocabulary")?;
    let context = model.text.context_length();
    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
    let tokens = TokenBatch::new(tokenizer.tokenize_batch(&texts, context), context)?;
    let features = read_rows(model.encode_text(&tokens)?)?;
    Ok(features.chunks(width).map(<[f32]>::to_vec).collect())
}

/// Features of `n` preprocessed images, `[n, 3, size, size]` floats in C order.
fn encode_pixels(
    model: &ClipModel,
    device: &Device,
    pixels: Vec<f32>,
    n: usize,
    width: usize,
) -> Result<Vec<Vec<f32>>> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let size = model.vision.image_size;
    let batch = Tensor::<4>::from_data(TensorData::new(pixels, [n, 3, size, size]), device);
    let features = read_rows(model.encode_image(batch)?)?;
    Ok(features.chunks(width).map(<[f32]>::to_vec).collect())
}
