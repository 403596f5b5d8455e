//! `precompute train-head`: fits the paper's compact heads (spec section 2; `train::head`)
//! on frozen CLIP image and text features of a captioned collection, and writes
//! `head.safetensors` under the paper's names (`image_head.*`, `text_head.*`), which
//! `clip::load_head` reads.
//!
//! The features are computed once per run (the CLIP model stays frozen). The last
//! `--held-out` share of the distinct images, with their captions, never trains: the
//! text-to-image recall@10 on them is printed for the frozen features and for the heads.
//! Checkpoints are written atomically every `--checkpoint-every` steps, and a run started on
//! a folder that holds one continues from the latest.
//!
//! The paper scores pairs by Euclidean distance; on unit rows `-|a - b|² = 2 a·b - 2`, so
//! InfoNCE over those logits is InfoNCE over cosine logits at twice the scale, which the
//! learned scale absorbs.

use std::fs;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::tensor::{Device, Tensor, TensorData};
use clap::Args;
use clip::{Encoder, HeadConfig, RgbImage, TokenBatch, Tokenizer, read_rows};
use indicatif::{ProgressBar, ProgressStyle};
use train::head::HEAD_NAMES;
use train::{CaptionPairs, HeadTrainer, TrainConfig, batch_indices, check_collection};

use crate::device::DeviceKind;
use crate::npy;
use crate::output::write_atomic;
use crate::train_cmd::{Collection, Targets, latest_checkpoint, read_model, write_checkpoint};

/// The heads file `train-head` writes in its output folder.
pub const HEAD_FILE: &str = "head.safetensors";

/// Train the paper's compact per-modality heads on a CLIP model's frozen features.
#[derive(Args)]
pub struct TrainHeadArgs {
    /// A CSV table with a column of image paths (relative to the table's folder) and one of
    /// captions (`precompute synth` writes `training.csv`).
    #[arg(long)]
    pub input: PathBuf,
    /// The frozen CLIP model (a Hugging Face folder).
    #[arg(long)]
    pub model: PathBuf,
    /// Output folder: checkpoints, then `head.safetensors`.
    #[arg(long)]
    pub out: PathBuf,
    /// Column of image paths.
    #[arg(long, default_value = "filename", allow_hyphen_values = true)]
    pub file_column: String,
    /// Column of captions.
    #[arg(long, default_value = "caption", allow_hyphen_values = true)]
    pub caption_column: String,
    /// Hidden width of both hidden layers (the paper's is 8192).
    #[arg(long, default_value_t = 1024)]
    pub hidden: usize,
    /// Output width, the index's dims (the paper's is 32).
    #[arg(long, default_value_t = 32)]
    pub output: usize,
    /// Optimisation steps in all.
    #[arg(long, default_value_t = 2000)]
    pub steps: u64,
    /// Pairs per step.
    #[arg(long, default_value_t = 256)]
    pub batch_size: u32,
    /// Peak learning rate (AdamW, linear warm-up, cosine decay).
    #[arg(long, default_value_t = 1e-3)]
    pub learning_rate: f64,
    /// Warm-up steps.
    #[arg(long, default_value_t = 100)]
    pub warmup_steps: u64,
    /// Weight of the KoLeo regulariser on both heads' outputs.
    #[arg(long, default_value_t = 0.1)]
    pub koleo: f32,
    /// Share of the distinct images (the last ones) held out of training for the recall.
    #[arg(long, default_value_t = 0.05)]
    pub held_out: f64,
    /// Seed of the initial weights and the batch order.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Steps between checkpoints.
    #[arg(long, default_value_t = 200)]
    pub checkpoint_every: u64,
    /// The backend (GPU kinds need their cargo feature).
    #[arg(long, value_enum, default_value_t)]
    pub device: DeviceKind,
    /// Which captions of a batch count as an image's positives.
    #[arg(long, value_enum, default_value_t)]
    pub targets: Targets,
    /// Where to keep the frozen features between runs (other widths, steps or seeds on the
    /// same collection): read when it holds those of this model, table and images, else
    /// computed and written there.
    #[arg(long)]
    pub features: Option<PathBuf>,
}

/// Runs the subcommand.
pub fn run(args: &TrainHeadArgs) -> Result<()> {
    if !(0.0..1.0).contains(&args.held_out) {
        bail!("--held-out must be in [0, 1), not {}", args.held_out);
    }
    let (config, weights) = read_model(&args.model)?;
    let head = HeadConfig {
        input: config.projection_dim,
        hidden: args.hidden,
        output: args.output,
    };
    let collection = Collection::read(
        &args.input,
        &args.file_column,
        &args.caption_column,
        config.vision_config.image_size,
    )?;
    let distinct = collection.pixels.len();
    let held = ((distinct as f64 * args.held_out).ceil() as usize).min(distinct.saturating_sub(1));
    let first_held = distinct - held;
    let training: Vec<usize> = (0..collection.captions.len())
        .filter(|&i| collection.image_of[i] < first_held)
        .collect();
    check_collection(collection.rows, training.len(), args.batch_size)
        .with_context(|| format!("cannot train heads on {}", args.input.display()))?;

    let device = args.device.device()?;
    let (image_features, text_features) = match &args.features {
        Some(path) => {
            let key = features_key(&args.model, &collection)?;
            match read_features(path, &key, head.input)? {
                Some(features) => {
                    eprintln!("frozen features from {}", path.display());
                    features
                }
                None => {
                    let features = frozen_features(&collection, &config, &weights, &device)?;
                    write_features(path, &key, head.input, &features)?;
                    features
                }
            }
        }
        None => frozen_features(&collection, &config, &weights, &device)?,
    };
    let width = head.input;

    let settings = TrainConfig {
        batch_size: args.batch_size,
        learning_rate: args.learning_rate,
        warmup_steps: args.warmup_steps,
        total_steps: args.steps,
        koleo_weight: args.koleo,
        seed: args.seed,
        ..TrainConfig::default()
    };
    fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let mut trainer = match latest_checkpoint(&args.out)? {
        Some(checkpoint) => {
            eprintln!("resuming from step {}", checkpoint.step);
            HeadTrainer::resume(&checkpoint, &head, settings, device.clone())?
        }
        None => HeadTrainer::new(&head, settings, device.clone())?,
    };
    let bar = ProgressBar::new(args.steps).with_style(
        ProgressStyle::with_template(
            "train-head {bar:30} {pos}/{len} steps, {per_sec}, ETA {eta} {msg}",
        )
        .expect("valid template"),
    );
    bar.set_position(trainer.step_count());
    let started = Instant::now();
    let rows = u32::try_from(training.len()).context("over 2^32 captions")?;
    let pairs = CaptionPairs::new(&collection.image_of, &collection.captions);
    while trainer.step_count() < args.steps {
        let step = trainer.step_count();
        let batch = batch_indices(args.seed, step, args.batch_size, rows);
        let captions: Vec<usize> = batch.iter().map(|&row| training[row as usize]).collect();
        let mut image = Vec::with_capacity(batch.len() * width);
        let mut text = Vec::with_capacity(batch.len() * width);
        for &caption in &captions {
            let picture = collection.image_of[caption];
            image.extend_from_slice(&image_features[picture * width..(picture + 1) * width]);
            text.extend_from_slice(&text_features[caption * width..(caption + 1) * width]);
        }
        let report = trainer.step(image, text, &args.targets.positives(&pairs, &captions))?;
        bar.inc(1);
        bar.set_message(format!(
            "loss {:.4} (contrastive {:.4}, koleo {:.4})",
            report.loss, report.contrastive, report.koleo
        ));
        let done = trainer.step_count();
        if done % args.checkpoint_every.max(1) == 0 || done == args.steps {
            write_checkpoint(&args.out, &trainer.checkpoint()?)?;
        }
    }
    bar.finish();
    let heads = trainer.weights()?;
    let bytes = clip::tensors::export_tensors(&heads, |_, _| clip::tensors::Storage::F32)?;
    write_atomic(&args.out.join(HEAD_FILE), &bytes)?;

    if held > 0 {
        let held_captions: Vec<usize> = (0..collection.captions.len())
            .filter(|&i| collection.image_of[i] >= first_held)
            .collect();
        let recall = |image: &[f32], text: &[f32], dims: usize| {
            held_out_recall(&collection, &held_captions, first_held, image, text, dims)
        };
        let frozen = recall(&image_features, &text_features, width);
        let load = |name: &str| -> Result<Vec<f32>> {
            let features = if name == HEAD_NAMES[0] {
                &image_features
            } else {
                &text_features
            };
            let cpu = Device::flex();
            let head_model = clip::load_head(&heads, name, &head, &cpu)?;
            let rows = features.len() / width;
            let input =
                Tensor::<2>::from_data(TensorData::new(features.clone(), [rows, width]), &cpu);
            Ok(read_rows(head_model.forward(input))?)
        };
        let (image_out, text_out) = (load(HEAD_NAMES[0])?, load(HEAD_NAMES[1])?);
        let with_heads = recall(&image_out, &text_out, head.output);
        eprintln!(
            "held-out text->image recall@10 over {} captions of {held} images: frozen {:.4} ({width} dims), heads {:.4} ({} dims)",
            held_captions.len(),
            frozen,
            with_heads,
            head.output
        );
    }
    eprintln!(
        "wrote {} ({} bytes, {}-{}-{}-{} heads) after {} steps in {:.0} s",
        args.out.join(HEAD_FILE).display(),
        bytes.len(),
        head.input,
        head.hidden,
        head.hidden,
        head.output,
        trainer.step_count(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// A heads file (`train-head`'s, or a full checkpoint with the paper's heads) and the
/// widths its tensors have; the heads must take `input`-wide features.
pub fn read_heads(path: &std::path::Path, input: usize) -> Result<(clip::TensorMap, HeadConfig)> {
    let bytes = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let weights = clip::TensorMap::from_safetensors(&bytes)
        .with_context(|| format!("invalid heads file {}", path.display()))?;
    let config =
        head_config(&weights, input).with_context(|| format!("heads file {}", path.display()))?;
    Ok((weights, config))
}

/// Whether `weights` hold the paper's heads (beside a backbone or alone).
pub fn has_heads(weights: &clip::TensorMap) -> bool {
    weights
        .names()
        .iter()
        .any(|n| n.ends_with("image_head.0.weight"))
}

/// The widths of the heads in `weights`, checked: they must take `input`-wide features,
/// and every tensor must have the shape the widths imply (a wrong one is named).
pub fn head_config(weights: &clip::TensorMap, input: usize) -> Result<HeadConfig> {
    let (_, config) = clip::load_head_sized(weights, HEAD_NAMES[0], input, &Device::flex())
        .with_context(|| format!("{} does not fit", HEAD_NAMES[0]))?;
    clip::load_head(weights, HEAD_NAMES[1], &config, &Device::flex())
        .with_context(|| format!("{} does not fit", HEAD_NAMES[1]))?;
    Ok(config)
}

/// What the frozen features are made from: the model's files, every caption and every
/// decoded image.
fn features_key(model: &std::path::Path, collection: &Collection) -> Result<[u8; 32]> {
    let mut hasher = blake3::Hasher::new();
    for name in ["config.json", "model.safetensors"] {
        let path = model.join(name);
        let bytes = fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        hasher.update(&(bytes.len() as u64).to_le_bytes());
        hasher.update(&bytes);
    }
    for caption in &collection.captions {
        hasher.update(&(caption.len() as u64).to_le_bytes());
        hasher.update(caption.as_bytes());
    }
    for pixels in &collection.pixels {
        hasher.update(pixels);
    }
    Ok(*hasher.finalize().as_bytes())
}

/// Magic of a frozen-features file: the key (32 bytes), image and text rows (u64 LE each),
/// then the image rows' and the text rows' f32 LE values.
const FEATURES_MAGIC: &[u8; 8] = b"CBFEAT01";

fn read_features(
    path: &std::path::Path,
    key: &[u8; 32],
    width: usize,
) -> Result<Option<(Vec<f32>, Vec<f32>)>> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let header = FEATURES_MAGIC.len() + 32 + 16;
    if bytes.len() < header || &bytes[..8] != FEATURES_MAGIC || &bytes[8..40] != key {
        eprintln!(
            "{} holds other features: computing them again",
            path.display()
        );
        return Ok(None);
    }
    let count = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
    let (images, texts) = (count(40) as usize, count(48) as usize);
    let values = npy::floats(npy::Dtype::F32, &bytes[header..]);
    if bytes.len() - header != values.len() * 4 || values.len() != (images + texts) * width {
        bail!(
            "{}: {} values do not make {images} image and {texts} text rows of {width}",
            path.display(),
            values.len()
        );
    }
    let mut images_values = values;
    let texts_values = images_values.split_off(images * width);
    Ok(Some((images_values, texts_values)))
}

fn write_features(
    path: &std::path::Path,
    key: &[u8; 32],
    width: usize,
    (images, texts): &(Vec<f32>, Vec<f32>),
) -> Result<()> {
    let mut bytes = Vec::with_capacity(56 + 4 * (images.len() + texts.len()));
    bytes.extend_from_slice(FEATURES_MAGIC);
    bytes.extend_from_slice(key);
    for rows in [images.len() / width, texts.len() / width] {
        bytes.extend_from_slice(&(rows as u64).to_le_bytes());
    }
    for value in images.iter().chain(texts) {
        bytes.extend_from_slice(&value.to_le_bytes());
    }
    write_atomic(path, &bytes)
}

/// The frozen model's features (before any head, unnormalised, as `clip::Encoder` feeds a
/// head): one row per distinct image, one per caption.
fn frozen_features(
    collection: &Collection,
    config: &clip::ClipConfig,
    weights: &clip::TensorMap,
    device: &Device,
) -> Result<(Vec<f32>, Vec<f32>)> {
    let model = clip::load_clip(weights, config, device)?;
    let encoder = Encoder::new(model, device.clone());
    let tokenizer = Tokenizer::new().context("cannot read the embedded CLIP vocabulary")?;
    let context = config.text_config.max_position_embeddings;
    let total = (collection.pixels.len() + collection.captions.len()) as u64;
    let bar = ProgressBar::new(total).with_style(
        ProgressStyle::with_template(
            "features {bar:30} {pos}/{len} images and captions, {per_sec}, ETA {eta}",
        )
        .expect("valid template"),
    );
    let mut images = Vec::new();
    for start in (0..collection.pixels.len()).step_by(256) {
        let end = (start + 256).min(collection.pixels.len());
        let batch: Vec<RgbImage<'_>> = (start..end)
            .map(|i| collection.distinct_image(i))
            .collect::<Result<_>>()?;
        images.extend(read_rows(
            encoder
                .model
                .encode_image(pixels_of(&encoder, &batch, device)?)?,
        )?);
        bar.inc((end - start) as u64);
    }
    let mut texts = Vec::new();
    for chunk in collection.captions.chunks(256) {
        let tokens = TokenBatch::new(tokenizer.tokenize_batch(chunk, context), context)?;
        texts.extend(read_rows(encoder.model.encode_text(&tokens)?)?);
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    Ok((images, texts))
}

fn pixels_of(encoder: &Encoder, batch: &[RgbImage<'_>], device: &Device) -> Result<Tensor<4>> {
    let size = encoder.preprocess.image_size;
    let pixels = encoder.preprocess.preprocess_batch(batch)?;
    Ok(Tensor::<4>::from_data(
        TensorData::new(pixels, [batch.len(), 3, size, size]),
        device,
    ))
}

/// Text-to-image recall@10 of the held-out captions among the held-out images: a hit when
/// the caption's own image is among the 10 nearest (cosine).
fn held_out_recall(
    collection: &Collection,
    captions: &[usize],
    first_held: usize,
    images: &[f32],
    texts: &[f32],
    dims: usize,
) -> f64 {
    let unit = |row: &[f32]| {
        let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
        row.iter().map(|v| v / norm).collect::<Vec<f32>>()
    };
    let gallery: Vec<Vec<f32>> = (first_held..collection.pixels.len())
        .map(|i| unit(&images[i * dims..(i + 1) * dims]))
        .collect();
    let hits = captions
        .iter()
        .filter(|&&c| {
            let query = unit(&texts[c * dims..(c + 1) * dims]);
            let own = collection.image_of[c] - first_held;
            let score = |g: &Vec<f32>| g.iter().zip(&query).map(|(a, b)| a * b).sum::<f32>();
            let own_score = score(&gallery[own]);
            // Rank of the own image: images scoring higher (ties count against it).
            gallery
                .iter()
                .enumerate()
                .filter(|&(i, g)| i != own && score(g) >= own_score)
                .count()
                < 10
        })
        .count();
    hits as f64 / captions.len().max(1) as f64
}
