//! `precompute train`: trains a CLIP model on a captioned collection (a `filename,caption`
//! table, as `precompute synth` writes) and writes a Hugging Face model folder
//! (`config.json`, `model.safetensors`) that `clip` loads.
//!
//! Checkpoints (`checkpoint-<step>.safetensors` with `checkpoint-<step>.optim`) are written
//! atomically every `--checkpoint-every` steps; a run started on a folder that holds one
//! continues from the latest, so a killed run loses at most that many steps.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use clip::{ClipConfig, PreprocessConfig, RgbImage, TensorMap, TokenBatch, Tokenizer};
use rayon::prelude::*;
use train::{
    CaptionPairs, Checkpoint, Positives, TrainConfig, Trainer, batch_indices, check_collection,
    compact_weights,
};

use crate::device::DeviceKind;
use crate::images::{DecodedImage, clip_target};
use crate::output::write_atomic;

/// Train (or fine-tune) a CLIP model with the symmetric contrastive loss.
#[derive(Args)]
pub struct TrainArgs {
    /// A CSV table with a column of image paths (relative to the table's folder) and one of
    /// captions.
    #[arg(long)]
    pub input: PathBuf,
    /// Output folder: checkpoints, then `config.json` and `model.safetensors`.
    #[arg(long)]
    pub out: PathBuf,
    /// Column of image paths.
    #[arg(long, default_value = "filename", allow_hyphen_values = true)]
    pub file_column: String,
    /// Column of captions.
    #[arg(long, default_value = "caption", allow_hyphen_values = true)]
    pub caption_column: String,
    /// A Hugging Face model folder to start from (fine-tuning) instead of the demo model's
    /// random initialisation; its `config.json` sets the model's size.
    #[arg(long)]
    pub init: Option<PathBuf>,
    /// Optimisation steps in all.
    #[arg(long, default_value_t = TrainConfig::default().total_steps)]
    pub steps: u64,
    /// Image-text pairs per step.
    #[arg(long, default_value_t = TrainConfig::default().batch_size)]
    pub batch_size: u32,
    /// Peak learning rate (AdamW, linear warm-up, cosine decay).
    #[arg(long, default_value_t = TrainConfig::default().learning_rate)]
    pub learning_rate: f64,
    /// Warm-up steps.
    #[arg(long, default_value_t = TrainConfig::default().warmup_steps)]
    pub warmup_steps: u64,
    /// Weight of the KoLeo regulariser that spreads the features (0: off).
    #[arg(long, default_value_t = 0.0)]
    pub koleo: f32,
    /// Seed of the initial weights and the batch order.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Steps between checkpoints.
    #[arg(long, default_value_t = 100)]
    pub checkpoint_every: u64,
    /// Write the final model in f32 instead of f16 with an int8 token embedding.
    #[arg(long)]
    pub full_precision: bool,
    /// The backend that trains the model (GPU kinds need their cargo feature).
    #[arg(long, value_enum, default_value_t)]
    pub device: DeviceKind,
    /// Which captions of a batch count as an image's positives.
    #[arg(long, value_enum, default_value_t)]
    pub targets: Targets,
}

/// Runs the subcommand.
pub fn run(args: &TrainArgs) -> Result<()> {
    let settings = TrainConfig {
        batch_size: args.batch_size,
        learning_rate: args.learning_rate,
        warmup_steps: args.warmup_steps,
        total_steps: args.steps,
        koleo_weight: args.koleo,
        seed: args.seed,
        ..TrainConfig::default()
    };
    let (config, init_weights) = match &args.init {
        Some(folder) => {
            let (config, weights) = read_model(folder)?;
            (config, Some(weights))
        }
        None => (train::weights::demo_config(), None),
    };
    let collection = Collection::read(
        &args.input,
        &args.file_column,
        &args.caption_column,
        config.vision_config.image_size,
    )?;
    check_collection(collection.rows, collection.captions.len(), args.batch_size)?;
    fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let device = args.device.device()?;
    let mut trainer = match latest_checkpoint(&args.out)? {
        Some(checkpoint) => {
            eprintln!("resuming from step {}", checkpoint.step);
            Trainer::resume(&checkpoint, &config, settings, device)?
        }
        None => match &init_weights {
            Some(weights) => Trainer::from_weights(weights, &config, settings, device)?,
            None => Trainer::new(&config, settings, device)?,
        },
    };
    let tokenizer = Tokenizer::new().context("cannot read the embedded CLIP vocabulary")?;
    let context = config.text_config.max_position_embeddings;
    let preprocess = PreprocessConfig {
        image_size: config.vision_config.image_size,
        ..Default::default()
    };
    let items = u32::try_from(collection.captions.len()).context("over 2^32 items")?;
    let pairs = CaptionPairs::new(&collection.image_of, &collection.captions);
    let started = Instant::now();
    let first_step = trainer.step_count();
    while trainer.step_count() < args.steps {
        let step = trainer.step_count();
        let batch = batch_indices(args.seed, step, args.batch_size, items);
        let images: Vec<RgbImage<'_>> = batch
            .iter()
            .map(|&i| collection.image(i as usize))
            .collect::<Result<_>>()?;
        let pixels = preprocess.preprocess_batch(&images)?;
        let texts: Vec<&str> = batch
            .iter()
            .map(|&i| collection.captions[i as usize].as_str())
            .collect();
        let tokens = TokenBatch::new(tokenizer.tokenize_batch(&texts, context), context)?;
        let rows: Vec<usize> = batch.iter().map(|&i| i as usize).collect();
        let report = trainer.step(pixels, &tokens, &args.targets.positives(&pairs, &rows))?;
        let done = trainer.step_count();
        if done % 10 == 0 || done == args.steps {
            let per_step = started.elapsed().as_secs_f64() / (done - first_step) as f64;
            eprintln!(
                "step {done}/{} loss {:.4} (contrastive {:.4}, koleo {:.4}) lr {:.2e} scale {:.1} {:.2} s/step",
                args.steps,
                report.loss,
                report.contrastive,
                report.koleo,
                report.learning_rate,
                report.logit_scale,
                per_step
            );
        }
        if done % args.checkpoint_every.max(1) == 0 || done == args.steps {
            write_checkpoint(&args.out, &trainer.checkpoint()?)?;
        }
    }
    let weights = trainer.weights()?;
    let bytes = if args.full_precision {
        clip::tensors::export_tensors(&weights, |_, _| clip::tensors::Storage::F32)?
    } else {
        compact_weights(&weights)?
    };
    write_atomic(
        &args.out.join("config.json"),
        train::weights::hf_config_json(&config).as_bytes(),
    )?;
    write_atomic(&args.out.join("model.safetensors"), &bytes)?;
    eprintln!(
        "wrote {} ({} bytes of weights) after {} steps",
        args.out.display(),
        bytes.len(),
        trainer.step_count()
    );
    Ok(())
}

/// A Hugging Face model folder's config and weights.
pub fn read_model(folder: &Path) -> Result<(ClipConfig, TensorMap)> {
    let config_path = folder.join("config.json");
    let json = fs::read_to_string(&config_path)
        .with_context(|| format!("cannot read {}", config_path.display()))?;
    let config = ClipConfig::from_hf_json(&json)
        .with_context(|| format!("invalid {}", config_path.display()))?;
    let weights_path = folder.join("model.safetensors");
    let bytes = fs::read(&weights_path)
        .with_context(|| format!("cannot read {}", weights_path.display()))?;
    let weights = TensorMap::from_safetensors(&bytes)
        .with_context(|| format!("invalid {}", weights_path.display()))?;
    Ok((config, weights))
}

/// Which captions of a batch the contrastive loss counts as describing an image.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Targets {
    /// Every caption that captions the image somewhere in the table: a caption shared by
    /// several images ("green hearts") is a positive of each, not a negative.
    #[default]
    Shared,
    /// Only the image's own row (CLIP's targets; the committed demo model's).
    Own,
}

impl Targets {
    /// The targets of a batch of caption rows.
    pub(crate) fn positives(self, pairs: &CaptionPairs, rows: &[usize]) -> Positives {
        match self {
            Self::Shared => pairs.positives(rows),
            Self::Own => Positives::diagonal(rows.len()),
        }
    }
}

/// The captioned items of a table, their images decoded and sized for the model once (an
/// image on several rows, with several captions, once).
pub(crate) struct Collection {
    /// Rows in the table, captioned or not.
    pub(crate) rows: usize,
    /// Captions of the usable items.
    pub(crate) captions: Vec<String>,
    /// The index in `pixels` of each caption's image.
    pub(crate) image_of: Vec<usize>,
    /// `side * side * 3` RGB bytes per distinct image.
    pub(crate) pixels: Vec<Vec<u8>>,
    /// Image side after resize and crop.
    side: usize,
}

impl Collection {
    /// Reads table `input` (image paths relative to its folder in `file_column`, captions
    /// in `caption_column`) and decodes its images at `side` pixels.
    pub(crate) fn read(
        input: &Path,
        file_column: &str,
        caption_column: &str,
        side: usize,
    ) -> Result<Self> {
        let base = input.parent().unwrap_or(Path::new("."));
        let mut table = csv::Reader::from_path(input)
            .with_context(|| format!("cannot read {}", input.display()))?;
        let headers = table.headers()?.clone();
        let column = |name: &str| {
            headers
                .iter()
                .position(|h| h == name)
                .with_context(|| format!("{} has no column {name:?}", input.display()))
        };
        let (file_column, caption_column) = (column(file_column)?, column(caption_column)?);
        let mut rows = 0;
        let mut captions = Vec::new();
        let mut image_of = Vec::new();
        let mut paths: Vec<PathBuf> = Vec::new();
        let mut path_index: HashMap<PathBuf, usize> = HashMap::new();
        for record in table.records() {
            let record = record.with_context(|| format!("in {}", input.display()))?;
            rows += 1;
            let caption = record.get(caption_column).unwrap_or("").trim();
            let file = record.get(file_column).unwrap_or("").trim();
            if !caption.is_empty() && !file.is_empty() {
                let path = base.join(file);
                let index = *path_index.entry(path.clone()).or_insert_with(|| {
                    paths.push(path);
                    paths.len() - 1
                });
                captions.push(caption.to_owned());
                image_of.push(index);
            }
        }
        let preprocess = PreprocessConfig {
            image_size: side,
            ..Default::default()
        };
        let target = clip_target(&preprocess);
        let pixels = paths
            .par_iter()
            .map(|path| {
                let image = DecodedImage::open(path, &target)?;
                Ok(preprocess.resize_and_crop(&image.as_rgb()?)?)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            rows,
            captions,
            image_of,
            pixels,
            side,
        })
    }

    /// Distinct image `index`.
    pub(crate) fn distinct_image(&self, index: usize) -> Result<RgbImage<'_>> {
        Ok(RgbImage::new(self.side, self.side, &self.pixels[index])?)
    }

    /// The image of caption `index`.
    fn image(&self, index: usize) -> Result<RgbImage<'_>> {
        self.distinct_image(self.image_of[index])
    }
}

fn checkpoint_paths(out: &Path, step: u64) -> (PathBuf, PathBuf) {
    (
        out.join(format!("checkpoint-{step:08}.safetensors")),
        out.join(format!("checkpoint-{step:08}.optim")),
    )
}

/// Writes the optimizer state, then the weights (whose presence marks a complete
/// checkpoint), then removes older checkpoints.
pub(crate) fn write_checkpoint(out: &Path, checkpoint: &Checkpoint) -> Result<()> {
    let (weights, optimizer) = checkpoint_paths(out, checkpoint.step);
    write_atomic(&optimizer, &checkpoint.optimizer)?;
    write_atomic(&weights, &checkpoint.weights)?;
    for step in checkpoint_steps(out)? {
        if step < checkpoint.step {
            let (old_weights, old_optimizer) = checkpoint_paths(out, step);
            fs::remove_file(&old_weights)
                .with_context(|| format!("cannot remove {}", old_weights.display()))?;
            // Best effort: an orphaned state file is never read.
            let _ = fs::remove_file(old_optimizer);
        }
    }
    Ok(())
}

/// Steps of the complete checkpoints in `out`.
fn checkpoint_steps(out: &Path) -> Result<Vec<u64>> {
    let mut steps = Vec::new();
    for entry in fs::read_dir(out).with_context(|| format!("cannot list {}", out.display()))? {
        let name = entry?.file_name();
        let step = name
            .to_str()
            .and_then(|n| n.strip_prefix("checkpoint-"))
            .and_then(|n| n.strip_suffix(".safetensors"))
            .and_then(|n| n.parse::<u64>().ok());
        steps.extend(step);
    }
    steps.sort_unstable();
    Ok(steps)
}

/// The latest complete checkpoint in `out`, if any.
pub(crate) fn latest_checkpoint(out: &Path) -> Result<Option<Checkpoint>> {
    if !out.exists() {
        return Ok(None);
    }
    let Some(&step) = checkpoint_steps(out)?.last() else {
        return Ok(None);
    };
    let (weights, optimizer) = checkpoint_paths(out, step);
    let read =
        |path: &Path| fs::read(path).with_context(|| format!("cannot read {}", path.display()));
    if !optimizer.exists() {
        bail!(
            "{} has no optimizer state {}",
            weights.display(),
            optimizer.display()
        );
    }
    Ok(Some(Checkpoint {
        step,
        weights: read(&weights)?,
        optimizer: read(&optimizer)?,
    }))
}
