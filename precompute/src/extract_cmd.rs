//! `precompute extract` and `precompute merge`: CLIP image features of a list of image
//! files, in checkpointed chunks, optionally split across machines.
//!
//! The list is cut into fixed chunks of `--chunk` images; each chunk's features are
//! written atomically to `OUT/chunks/chunk-NNNNNN.npy` as soon as they are done, so a
//! killed run resumes at the first missing chunk. `--part i/n` encodes only the chunks
//! `k` with `k % n == i`; `merge` gathers the parts' chunks. Batches never cross chunk
//! boundaries, so every split gives the same bytes as one run. When every chunk is there,
//! `OUT/features.npy` (n x projection_dim, f32) is written.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use anyhow::{Context, Result, bail};
use burn::tensor::{Device, Tensor, TensorData};
use clap::Args;
use clip::{ClipModel, PreprocessConfig, read_rows};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::device::DeviceKind;
use crate::images::clip_input;
use crate::model_files::ModelFiles;
use crate::npy::{self, Matrix};
use crate::output::{write_atomic, write_atomic_with};
use crate::part::{Part, PartArgs};

/// Encode image files into CLIP features, resumably.
#[derive(Args)]
pub struct ExtractArgs {
    /// Image files, one path per line (relative paths are relative to the list's folder).
    #[arg(long)]
    list: PathBuf,
    /// The model: a Hugging Face CLIP folder, or an open_clip / OpenAI checkpoint file.
    #[arg(long)]
    model: PathBuf,
    /// The model config, when it is not beside the weights.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Work folder: `chunks/`, `extract.json` and, when complete, `features.npy`.
    #[arg(long)]
    out: PathBuf,
    /// Images per model call.
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Images per checkpoint.
    #[arg(long, default_value_t = 1024)]
    chunk: usize,
    // A split run's share; `precompute merge` joins the parts.
    #[command(flatten)]
    split: PartArgs,
    /// Pixel rows cut from the bottom of each image before resizing (banners).
    #[arg(long, default_value_t = 0)]
    bottom_crop: usize,
    /// The backend that runs the model.
    #[arg(long, value_enum, default_value_t)]
    device: DeviceKind,
}

/// What a work folder's chunks were made from: a rerun or merge with other settings is refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtractPlan {
    /// blake3 of the image list's text.
    pub list_blake3: String,
    /// Images in the list.
    pub images: usize,
    /// Images per chunk.
    pub chunk: usize,
    /// Width of a feature row.
    pub dims: usize,
    /// blake3 of the weights file.
    pub weights_blake3: String,
    /// Bottom crop applied before resizing.
    pub bottom_crop: usize,
}

impl ExtractPlan {
    fn chunks(&self) -> usize {
        self.images.div_ceil(self.chunk)
    }

    /// What first tells `other`'s chunks from this plan's, or `None` when they may mix.
    fn difference(&self, other: &ExtractPlan) -> Option<&'static str> {
        if self.list_blake3 != other.list_blake3 || self.images != other.images {
            Some("another image list: the images or their order changed")
        } else if self.weights_blake3 != other.weights_blake3 || self.dims != other.dims {
            Some("another model")
        } else if self.chunk != other.chunk {
            Some("another chunk size")
        } else if self.bottom_crop != other.bottom_crop {
            Some("another bottom crop")
        } else if self != other {
            Some("other settings")
        } else {
            None
        }
    }
}

const PLAN_FILE: &str = "extract.json";
const FEATURES_FILE: &str = "features.npy";

fn chunk_path(out: &Path, k: usize) -> PathBuf {
    out.join("chunks").join(format!("chunk-{k:06}.npy"))
}

/// Runs `precompute extract`.
pub fn run(args: &ExtractArgs) -> Result<()> {
    let part = args.split.part()?.unwrap_or(Part::WHOLE);
    let list_text = fs::read_to_string(&args.list)
        .with_context(|| format!("cannot read image list {}", args.list.display()))?;
    let base = args.list.parent().unwrap_or(Path::new("."));
    let paths: Vec<PathBuf> = list_text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(|line| base.join(line))
        .collect();
    let device = args.device.device()?;
    let files = ModelFiles::open(&args.model, args.config.as_deref())?;
    let model = files.load(&device)?;
    let plan = ExtractPlan {
        list_blake3: blake3::hash(list_text.as_bytes()).to_hex().to_string(),
        images: paths.len(),
        chunk: args.chunk.max(1),
        dims: files.config.projection_dim,
        weights_blake3: blake3::hash(
            &fs::read(&files.weights_path)
                .with_context(|| format!("cannot read {}", files.weights_path.display()))?,
        )
        .to_hex()
        .to_string(),
        bottom_crop: args.bottom_crop,
    };
    let extractor = Extractor::new(&model, &device, args.bottom_crop, args.batch);
    extract(&extractor, &paths, &plan, part, &args.out)?;
    match finish(&args.out)? {
        Some(rows) => eprintln!(
            "{rows} feature rows in {}",
            args.out.join(FEATURES_FILE).display()
        ),
        None => eprintln!(
            "part {part} done; join the parts with `precompute merge --out DIR PART_DIR...`"
        ),
    }
    Ok(())
}

/// Encodes images on one device.
pub struct Extractor<'a> {
    pub model: &'a ClipModel,
    pub device: &'a Device,
    pub preprocess: PreprocessConfig,
    pub batch: usize,
}

impl<'a> Extractor<'a> {
    /// An extractor with the model's own preprocessing, cutting `bottom_crop` pixel rows
    /// first, in batches of `batch` (at least 1).
    pub fn new(model: &'a ClipModel, device: &'a Device, bottom_crop: usize, batch: usize) -> Self {
        Extractor {
            model,
            device,
            preprocess: PreprocessConfig {
                image_size: model.vision.image_size,
                bottom_crop,
                ..Default::default()
            },
            batch: batch.max(1),
        }
    }

    /// Decodes and preprocesses `paths` in parallel: `[n, 3, size, size]` floats.
    fn pixels(&self, paths: &[PathBuf]) -> Result<Vec<f32>> {
        let per_image: Vec<Vec<f32>> = paths
            .par_iter()
            .map(|path| clip_input(path, &self.preprocess))
            .collect::<Result<_>>()?;
        Ok(per_image.concat())
    }

    /// Feature rows of preprocessed images, `self.batch` at a time.
    fn encode(&self, pixels: &[f32], n: usize) -> Result<Vec<f32>> {
        let size = self.preprocess.image_size;
        let per_image = 3 * size * size;
        let mut rows = Vec::new();
        for start in (0..n).step_by(self.batch) {
            let count = self.batch.min(n - start);
            let slice = pixels[start * per_image..(start + count) * per_image].to_vec();
            let batch =
                Tensor::<4>::from_data(TensorData::new(slice, [count, 3, size, size]), self.device);
            rows.extend(read_rows(self.model.encode_image(batch)?)?);
        }
        Ok(rows)
    }
}

/// Encodes this part's missing chunks of `paths` into `out/chunks`, decoding the next chunk
/// while the model runs on the current one.
pub fn extract(
    extractor: &Extractor<'_>,
    paths: &[PathBuf],
    plan: &ExtractPlan,
    part: Part,
    out: &Path,
) -> Result<()> {
    fs::create_dir_all(out.join("chunks"))
        .with_context(|| format!("cannot create {}", out.join("chunks").display()))?;
    for folder in [out.to_owned(), out.join("chunks")] {
        ingest::output::remove_abandoned_temporaries(&folder)?;
    }
    check_plan(out, plan)?;
    let todo: Vec<usize> = (0..plan.chunks())
        .filter(|k| k % part.count == part.index)
        .filter(|&k| !chunk_path(out, k).is_file())
        .collect();
    let range = |k: usize| k * plan.chunk..((k + 1) * plan.chunk).min(paths.len());
    let images: usize = todo.iter().map(|&k| range(k).len()).sum();
    let bar = ProgressBar::new(images as u64).with_style(
        ProgressStyle::with_template("extract {bar:30} {pos}/{len} images, {per_sec}, ETA {eta}")
            .expect("valid template"),
    );
    let (sender, receiver) = mpsc::sync_channel::<Result<(usize, Vec<f32>)>>(1);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            for &k in &todo {
                let decoded = extractor.pixels(&paths[range(k)]).map(|pixels| (k, pixels));
                let failed = decoded.is_err();
                if sender.send(decoded).is_err() || failed {
                    break;
                }
            }
            drop(sender);
        });
        for message in receiver {
            let (k, pixels) = message?;
            let n = range(k).len();
            let data = extractor.encode(&pixels, n)?;
            let matrix = Matrix::F32 {
                rows: n,
                cols: plan.dims,
                data,
            };
            write_atomic(&chunk_path(out, k), &npy::write(&matrix))?;
            bar.inc(n as u64);
        }
        anyhow::Ok(())
    })?;
    bar.finish();
    Ok(())
}

/// Writes `extract.json` on the first run; refuses a folder made with other settings.
fn check_plan(out: &Path, plan: &ExtractPlan) -> Result<()> {
    let path = out.join(PLAN_FILE);
    match fs::read_to_string(&path) {
        Ok(text) => {
            let found: ExtractPlan = serde_json::from_str(&text)
                .with_context(|| format!("{} is not an extract plan", path.display()))?;
            if let Some(difference) = found.difference(plan) {
                bail!(
                    "{} holds features of another run ({difference}): remove the folder or pick \
                     another --out",
                    out.display()
                );
            }
            Ok(())
        }
        Err(_) => write_atomic(&path, serde_json::to_string_pretty(plan)?.as_bytes()),
    }
}

/// The plan of a work folder.
fn read_plan(folder: &Path) -> Result<ExtractPlan> {
    let path = folder.join(PLAN_FILE);
    serde_json::from_str(
        &fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?,
    )
    .with_context(|| format!("{} is not an extract plan", path.display()))
}

/// When every chunk is present, writes `features.npy` and returns its rows. The file is
/// written a chunk at a time: the rows of a collection need not fit in memory.
pub fn finish(out: &Path) -> Result<Option<usize>> {
    let plan = read_plan(out)?;
    if (0..plan.chunks()).any(|k| !chunk_path(out, k).is_file()) {
        return Ok(None);
    }
    write_atomic_with(&out.join(FEATURES_FILE), |file| {
        file.write_all(&npy::f32_header(plan.images, plan.dims))?;
        for_each_chunk(out, |_, rows| {
            let bytes: Vec<u8> = rows.iter().flat_map(|v| v.to_le_bytes()).collect();
            Ok(file.write_all(&bytes)?)
        })
        .map_err(std::io::Error::other)?;
        Ok(())
    })?;
    Ok(Some(plan.images))
}

/// When every chunk is present, calls `each` with each chunk's first row and its rows, in
/// order, one chunk in memory at a time, and returns true; false when a chunk is missing.
pub fn for_each_chunk(
    out: &Path,
    mut each: impl FnMut(usize, &[f32]) -> Result<()>,
) -> Result<bool> {
    let plan = read_plan(out)?;
    if (0..plan.chunks()).any(|k| !chunk_path(out, k).is_file()) {
        return Ok(false);
    }
    let mut first = 0;
    for k in 0..plan.chunks() {
        let chunk = chunk_path(out, k);
        let bytes = fs::read(&chunk).with_context(|| format!("cannot read {}", chunk.display()))?;
        match npy::read(&bytes).with_context(|| chunk.display().to_string())? {
            Matrix::F32 {
                cols, data: rows, ..
            } if cols == plan.dims => {
                each(first, &rows)?;
                first += rows.len() / plan.dims.max(1);
            }
            _ => bail!("{}: not f32 rows of {} dims", chunk.display(), plan.dims),
        }
    }
    if first != plan.images {
        bail!(
            "{}: the chunks hold {first} rows, the plan {}",
            out.display(),
            plan.images
        );
    }
    Ok(true)
}

/// Join the parts of a split `precompute build` (their folders, into the dataset folder,
/// which a build then finishes) or of a split `precompute extract` (their work folders,
/// into one that gets every chunk and `features.npy`).
#[derive(Args)]
pub struct MergeArgs {
    /// The dataset folder (parts of a build), or the joined work folder (of `extract`).
    #[arg(long)]
    out: PathBuf,
    /// The parts' folders (`build --part`'s `--out`, or `extract --part`'s).
    #[arg(required = true)]
    parts: Vec<PathBuf>,
}

/// Runs `precompute merge`.
pub fn run_merge(args: &MergeArgs) -> Result<()> {
    if args
        .parts
        .iter()
        .any(|part| crate::part_join::is_build_part(part))
    {
        return crate::part_join::join(&args.out, &args.parts);
    }
    // The joined folder's own chunks, when it has some, count as one more part.
    let joined_before = args.out.join(PLAN_FILE).is_file().then_some(&args.out);
    let mut plan: Option<(&PathBuf, ExtractPlan)> = None;
    for part in joined_before.into_iter().chain(&args.parts) {
        let found = read_plan(part)?;
        match &plan {
            Some((first, first_plan)) => {
                if let Some(difference) = first_plan.difference(&found) {
                    bail!(
                        "{} and {} are parts of different runs ({difference}), so their \
                         features do not mix: rerun every part on the same collection and model",
                        first.display(),
                        part.display()
                    );
                }
            }
            None => plan = Some((part, found)),
        }
    }
    let (_, plan) = plan.context("no parts given")?;
    fs::create_dir_all(args.out.join("chunks"))
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    check_plan(&args.out, &plan)?;
    for k in 0..plan.chunks() {
        let target = chunk_path(&args.out, k);
        if target.is_file() {
            continue;
        }
        if let Some(source) = args
            .parts
            .iter()
            .map(|part| chunk_path(part, k))
            .find(|p| p.is_file())
        {
            let bytes =
                fs::read(&source).with_context(|| format!("cannot read {}", source.display()))?;
            write_atomic(&target, &bytes)?;
        }
    }
    match finish(&args.out)? {
        Some(rows) => {
            eprintln!(
                "{rows} feature rows in {}",
                args.out.join(FEATURES_FILE).display()
            );
            Ok(())
        }
        None => {
            let missing: Vec<usize> = (0..plan.chunks())
                .filter(|&k| !chunk_path(&args.out, k).is_file())
                .collect();
            bail!(
                "the parts lack {} of {} chunks (first missing: chunk {}): run the missing parts",
                missing.len(),
                plan.chunks(),
                missing[0]
            )
        }
    }
}
