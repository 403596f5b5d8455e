//! `precompute build`: a collection to a dataset folder that a browser can search, in one
//! command: ingest -> thumbnails -> extract -> reduce -> quantise -> index shards ->
//! text-encoder export -> the index manifest -> `dataset.json`. Every file but
//! `dataset.json` is named by its content, and `dataset.json` is replaced last in one
//! rename, so a rebuild into a served folder keeps it whole: a reader sees the old dataset
//! or the new one, and the old files go only after.
//!
//! Reruns are cheap: ingest reuses thumbnails and downloads, extract resumes from its
//! chunks (and skips entirely when the images and model are unchanged), and the index
//! skips shards already written under the same content hash.
//!
//! Memory does not grow with the model's width times the collection: the feature rows go
//! to the feature cache as extract's chunks complete and are read back from it, the fit
//! sample (at most `reduce::MAX_FIT_ROWS`) and then a block of rows at a time
//! ([`CachedRows`]); what grows with N is the compact u8 rows the index is built from.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use clip::export::{export_image_tower, export_text_tower};
use clip::tensors::Precision;
use clip::{TokenBatch, Tokenizer, read_rows};
use dataset::{
    DATASET_FILE, DATASET_FORMAT_VERSION, DatasetManifest, FileRef, FullFeatures, ImageEncoder,
    Reduction, TextEncoder, hashed_name,
};
use index_shards::quantize::quantize_row;
use index_shards::{Features, ShardConfig, TreeSetConfig, knn_exact};
use reduce::Pca;
use serde::Serialize;

use crate::compact::{AxesChoice, CompactMap};
use crate::device::DeviceKind;
use crate::extract_cmd::{self, ExtractPlan, Extractor};
use crate::feature_cache::{CachedRows, FeatureCache};
use crate::ingest_cmd::IngestArgs;
use crate::model_files::ModelFiles;
use crate::npy::{self, Matrix};
use crate::output::{write_atomic, write_content_named};
use crate::part::{Part, PartArgs};
use crate::part_join::PartRecord;
use crate::search_settings;
use crate::train_head_cmd::{has_heads, head_config, read_heads};
use ingest::IngestedItem;

/// Build a complete dataset folder from a collection and a CLIP model.
///
/// Split over machines, each runs it with its `--part` (or as a Slurm array task or a
/// Kubernetes Indexed Job pod) into a folder of its own, which ingests and extracts that
/// share of the images and stops; then `precompute merge` joins the part folders into the
/// dataset folder and one more run there, not split, finishes ([`crate::part_join`]).
#[derive(Args)]
pub struct BuildArgs {
    #[command(flatten)]
    ingest: IngestArgs,
    #[command(flatten)]
    knn: crate::index_cmd::KnnListsArg,
    /// The model: a Hugging Face CLIP folder, or an open_clip / OpenAI checkpoint file.
    #[arg(long)]
    model: PathBuf,
    /// The model config, when it is not beside the weights.
    #[arg(long)]
    config: Option<PathBuf>,
    /// The dataset's name (default: the output folder's name).
    #[arg(long, allow_hyphen_values = true)]
    name: Option<String>,
    /// One sentence about the dataset, shown in the catalog.
    #[arg(long, default_value = "", allow_hyphen_values = true)]
    description: String,
    /// Dims of the compact features the index holds (PCA; heads give their own width).
    #[arg(long, default_value_t = 32)]
    dims: usize,
    /// How features become compact rows: `pca` fitted on the collection, or `head`, the
    /// paper's learned heads (`--head`, or the model checkpoint's own `image_head.*` and
    /// `text_head.*`). Default: `head` when the checkpoint holds heads or `--head` is given.
    #[arg(long, value_enum)]
    reduction: Option<BuildReduction>,
    /// A heads file (`precompute train-head`'s `head.safetensors`).
    #[arg(long)]
    head: Option<PathBuf>,
    /// The compact space's axes: `independent` turns the PCA or the heads to the
    /// collection's most non-Gaussian directions (distances, and so text search, are
    /// unchanged; boxes over a few dims then meet one factor of the collection per axis),
    /// `native` keeps the PCA's components or the head's outputs.
    #[arg(long, value_enum, default_value_t)]
    axes: AxesChoice,
    /// Precision of the browser's text encoder.
    #[arg(long, value_enum, default_value_t = TextPrecision::Int8)]
    text_precision: TextPrecision,
    /// Precision of the browser's image encoder, which turns a user's own image into a
    /// query (fetched only when used); `none` leaves it out.
    #[arg(long, value_enum, default_value_t = ImagePrecision::Int8)]
    image_precision: ImagePrecision,
    /// Also ship the full-dimension features (int8) for exact text search and re-ranking.
    #[arg(long)]
    full_features: bool,
    /// Images per model call.
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Images per extraction checkpoint (every part of a split build must use the same).
    #[arg(long, default_value_t = 1024)]
    chunk: usize,
    // A part extracts its share of the features and stops (see the struct's doc).
    #[command(flatten)]
    split: PartArgs,
    /// Write the compact rows the index's trees are built from (OUT/.work/index/
    /// features.npy) and stop, so that `precompute index --features THAT --out OUT --part
    /// i/n` builds the trees on other machines (scripts/slurm/submit --tree-parts); the
    /// build run again without this flag then lists the trees they recorded instead of
    /// building them.
    #[arg(long)]
    prepare_trees: bool,
    /// The backend that runs the model.
    #[arg(long, value_enum, default_value_t)]
    device: DeviceKind,
    /// The app's search settings for this dataset, a TOML (`.toml`) or JSON file: which
    /// searchers it offers, its sliders' ranges and defaults, training settings (README,
    /// "Search settings"). Checked before anything is built.
    #[arg(long)]
    search: Option<PathBuf>,
}

/// `build --reduction`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BuildReduction {
    /// PCA fitted on the collection's image features.
    Pca,
    /// The paper's learned heads.
    Head,
}

/// The text tower's storage precision in the dataset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TextPrecision {
    F16,
    Int8,
}

/// The image tower's storage precision in the dataset, or none.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ImagePrecision {
    F16,
    Int8,
    None,
}

/// Seconds per stage and the quality figure of the compact space.
#[derive(Debug, Default, Serialize)]
pub struct BuildStats {
    pub images: usize,
    pub ingest_s: f64,
    pub extract_s: f64,
    pub reduce_s: f64,
    pub index_s: f64,
    pub export_s: f64,
    pub total_s: f64,
    /// Items with a caption (a collection of photos may have none).
    pub captioned: usize,
    /// Images decoded and thumbnailed; the others' outcomes came from an earlier build's
    /// (or the joined parts') ingest records.
    pub images_inspected: usize,
    /// Images whose features were extracted; the others' came from the feature cache.
    pub features_extracted: usize,
    /// Caption queries the recall was measured with: the captions of the first 200
    /// (`RECALL_QUERIES`) captioned items; an item without a caption is no query.
    pub recall_queries: usize,
    /// Mean overlap of the top 60 by compact u8 features with the top 60 by the full
    /// features, for the caption queries (`None` when no item has a caption).
    pub caption_recall_at_60: Option<f64>,
}

const FULL_ROWS_PER_FILE: u64 = 65_536;
/// Caption queries used to measure the compact space's recall.
const RECALL_QUERIES: usize = 200;

/// How far a build went.
pub enum Built {
    /// The whole dataset, with the stage times.
    Dataset(BuildStats),
    /// A `--part`'s share of the features.
    Part,
    /// The compact rows of `--prepare-trees`, in this file.
    RowsForTrees(PathBuf),
}

/// Runs `precompute build`.
pub fn run(args: &BuildArgs) -> Result<()> {
    let stats = match build(args)? {
        Built::Dataset(stats) => stats,
        Built::Part => {
            eprintln!(
                "this part's thumbnails and features are in {}; when every part is done, join \
                 them into the dataset folder with `precompute merge --out DATASET \
                 PART_FOLDERS...` and build it there (without --part, outside the job array)",
                args.ingest.out().display()
            );
            return Ok(());
        }
        Built::RowsForTrees(rows) => {
            eprintln!(
                "the compact rows are in {0}; build the trees with `precompute index --features \
                 {0} --out {1} --part i/n` for each part (or as a job array), then run the build \
                 again without --prepare-trees",
                rows.display(),
                args.ingest.out().display()
            );
            return Ok(());
        }
    };
    eprintln!(
        "built {} images in {:.1} s (ingest {:.1}, extract {:.1}, reduce {:.1}, index {:.1}, export {:.1}){}",
        stats.images,
        stats.total_s,
        stats.ingest_s,
        stats.extract_s,
        stats.reduce_s,
        stats.index_s,
        stats.export_s,
        match stats.caption_recall_at_60 {
            Some(recall) => format!(
                "; caption recall@60 of the compact index {recall:.3} ({} queries from the {} captioned items)",
                stats.recall_queries, stats.captioned
            ),
            None => "; no item has a caption, so no caption recall".to_owned(),
        }
    );
    println!("{}", serde_json::to_string_pretty(&stats)?);
    Ok(())
}

/// The work folder of a build's extraction.
fn extract_folder(out: &Path) -> PathBuf {
    out.join(".work").join("extract")
}

/// Builds the dataset, or as far as `--part` or `--prepare-trees` asks.
pub fn build(args: &BuildArgs) -> Result<Built> {
    let search = args
        .search
        .as_deref()
        .map(search_settings::read)
        .transpose()?;
    let out = args.ingest.out().to_owned();
    let part = args.split.part()?;
    let started = Instant::now();
    let mut stats = BuildStats::default();
    let device = args.device.device()?;
    let files = ModelFiles::open(&args.model, args.config.as_deref())?;
    let model = files.load(&device)?;
    let projection_dim = files.config.projection_dim;
    let heads = match (args.reduction, &args.head) {
        (Some(BuildReduction::Pca), _) => None,
        (_, Some(path)) => Some(read_heads(path, projection_dim)?),
        (_, None) if has_heads(&files.weights) => {
            let config = head_config(&files.weights, projection_dim)
                .with_context(|| format!("the heads of {}", files.weights_path.display()))?;
            Some((files.weights.clone(), config))
        }
        (Some(BuildReduction::Head), None) => bail!(
            "--reduction head needs --head FILE (precompute train-head writes one) or a checkpoint with image_head.* and text_head.*"
        ),
        (None, None) => None,
    };
    if args.dims == 0 || args.dims > projection_dim {
        bail!(
            "--dims {} must be between 1 and the model's {projection_dim}",
            args.dims
        );
    }

    let stage = Instant::now();
    let ingested =
        crate::ingest_cmd::ingest(&args.ingest, part.map_or(ingest::Share::WHOLE, Part::share))?;
    stats.ingest_s = stage.elapsed().as_secs_f64();
    let n = ingested.items.len();
    stats.images = n;
    stats.images_inspected = ingested.inspected;
    let weights_blake3 = file_blake3(&files.weights_path)?;
    let options = args.ingest.options();
    let bottom_crop = options.filters.bottom_crop as usize;
    // What a part records of itself, for the join to check the parts against each other.
    let part_record = |part: Part| PartRecord {
        part: part.to_string(),
        listing_blake3: ingested.listing_blake3.clone(),
        settings: format!(
            "{:?} thumb_size {} weights {weights_blake3} bottom_crop {bottom_crop}",
            options.filters, options.thumb_size
        ),
    };
    if let (0, Some(part)) = (n, part) {
        // A share without an image (more parts than images) is done.
        part_record(part).write(&out)?;
        return Ok(Built::Part);
    }
    if n == 0 {
        bail!(
            "no image of {} could be ingested: see {}",
            args.ingest.input().display(),
            out.join(dataset::REPORT_FILE).display()
        );
    }

    // Extract: the features of images seen before come from the cache; the plan names the
    // rest by content, so unchanged inputs reuse its chunks. A part does the same for its
    // share of the images, into its own cache.
    let stage = Instant::now();
    let work = extract_folder(&out);
    let cache = FeatureCache::new(
        &out.join(crate::feature_cache::CACHE_DIR),
        &weights_blake3,
        bottom_crop,
        projection_dim,
    );
    let missing: Vec<&IngestedItem> = ingested
        .items
        .iter()
        .filter(|i| !cache.contains(&i.entry.blake3))
        .collect();
    stats.features_extracted = missing.len();
    if !missing.is_empty() {
        let paths: Vec<PathBuf> = missing.iter().map(|i| i.entry.path.clone()).collect();
        let mut list = String::new();
        for item in &missing {
            list.push_str(&item.entry.blake3);
            list.push('\n');
        }
        let plan = ExtractPlan {
            list_blake3: blake3::hash(list.as_bytes()).to_hex().to_string(),
            images: missing.len(),
            chunk: args.chunk.max(1),
            dims: projection_dim,
            weights_blake3: weights_blake3.clone(),
            bottom_crop,
        };
        if work.join("extract.json").is_file() && !plan_matches(&work, &plan) {
            fs::remove_dir_all(&work)
                .with_context(|| format!("cannot clear stale features in {}", work.display()))?;
        }
        let extractor = Extractor::new(&model, &device, bottom_crop, args.batch);
        extract_cmd::extract(&extractor, &paths, &plan, Part::WHOLE, &work)?;
        // Into the cache a chunk at a time: the rows are read from there on.
        let complete = extract_cmd::for_each_chunk(&work, |first, rows| {
            for (item, row) in missing[first..]
                .iter()
                .zip(rows.chunks_exact(projection_dim))
            {
                cache.put(&item.entry.blake3, row)?;
            }
            Ok(())
        })?;
        if !complete {
            bail!("extract left chunks missing in {}", work.display());
        }
    }
    if let Some(part) = part {
        part_record(part).write(&out)?;
        return Ok(Built::Part);
    }
    let images: Vec<&str> = ingested
        .items
        .iter()
        .map(|i| i.entry.blake3.as_str())
        .collect();
    cache.keep_only(&images.iter().copied().collect())?;
    let rows = CachedRows::new(&cache, images);
    stats.extract_s = stage.elapsed().as_secs_f64();

    // Reduce and quantise: fitted on the fit sample, then the rows a block at a time; the
    // same pass writes the full features and finds the captions' exact neighbours.
    let stage = Instant::now();
    let sample = rows.fit_sample()?;
    let compact = match heads {
        Some((weights, config)) => {
            CompactMap::heads(&weights, config, &device, args.axes, &sample)?
        }
        None => CompactMap::pca(&sample, projection_dim, args.dims, args.axes)?,
    };
    drop(sample);
    let dims = compact.dims();
    let finishing = !args.prepare_trees;
    let captions: Vec<&str> = ingested
        .items
        .iter()
        .map(|i| i.item.caption.as_str())
        .filter(|c| !c.is_empty())
        .collect();
    stats.captioned = captions.len();
    let captions = &captions[..captions.len().min(RECALL_QUERIES)];
    stats.recall_queries = captions.len();
    let mut recall = match finishing && !captions.is_empty() {
        true => Some(CaptionRecall::new(&model, captions, &compact)?),
        false => None,
    };
    let mut quantised = Vec::with_capacity(n * dims);
    let mut full_files = Vec::new();
    rows.for_each_block(FULL_ROWS_PER_FILE as usize, |first, block| {
        quantised.extend(compact.images(block)?);
        if finishing && args.full_features {
            let k = first / FULL_ROWS_PER_FILE as usize;
            full_files.push(write_full_features(&out, k, block, projection_dim)?);
        }
        if let Some(recall) = &mut recall {
            recall.offer(first, block);
        }
        Ok(())
    })?;
    stats.reduce_s = stage.elapsed().as_secs_f64();
    if args.prepare_trees {
        let path = out.join(".work").join("index").join("features.npy");
        fs::create_dir_all(path.parent().expect("a folder"))
            .with_context(|| format!("cannot create {}", path.display()))?;
        let matrix = Matrix::U8 {
            rows: n,
            cols: dims,
            data: quantised,
        };
        write_atomic(&path, &npy::write(&matrix))?;
        return Ok(Built::RowsForTrees(path));
    }

    let stage = Instant::now();
    let crate::index_cmd::IndexShards {
        manifest: mut index,
        leaf_packs: mut tabled,
    } = crate::index_cmd::write_index_shards(
        &quantised,
        dims,
        &TreeSetConfig::default(),
        &ShardConfig::default(),
        &out,
    )?;
    index.knn = crate::index_cmd::write_knn_parts(&quantised, dims, args.knn, &out)?;
    let rows = crate::index_cmd::write_row_parts(&quantised, dims, args.knn, &out)?;
    index.rows = rows.as_ref().map(|rows| rows.manifest.clone());
    tabled.extend(rows.map(|rows| rows.files).unwrap_or_default());
    stats.index_s = stage.elapsed().as_secs_f64();

    let stage = Instant::now();
    let mut keep: HashSet<String> = index.file_names().map(str::to_owned).collect();
    keep.extend(tabled.iter().cloned());
    let (reduction_file, reduction) = match &compact {
        CompactMap::Pca(pca) => {
            let file = write_hashed(&out, "reduction", "safetensors", &pca.to_safetensors())?;
            (file.clone(), Reduction::Pca { file })
        }
        CompactMap::Heads { text_file, .. } => {
            let file = write_hashed(&out, "text-head", "safetensors", text_file)?;
            (file.clone(), Reduction::Head { file })
        }
    };
    let precision = match args.text_precision {
        TextPrecision::F16 => Precision::F16,
        TextPrecision::Int8 => Precision::Int8,
    };
    let tower =
        export_text_tower(&model.text, precision).context("cannot export the text tower")?;
    let weights = write_hashed(&out, "text-encoder", "safetensors", &tower)?;
    keep.extend([reduction_file.name.clone(), weights.name.clone()]);
    let image_precision = match args.image_precision {
        ImagePrecision::F16 => Some(Precision::F16),
        ImagePrecision::Int8 => Some(Precision::Int8),
        ImagePrecision::None => None,
    };
    let image = match image_precision {
        Some(precision) => {
            let tower = export_image_tower(&model.vision, precision)
                .context("cannot export the image tower")?;
            let weights = write_hashed(&out, "image-encoder", "safetensors", &tower)?;
            let reduction = match &compact {
                CompactMap::Pca(_) => Reduction::Pca {
                    file: reduction_file.clone(),
                },
                CompactMap::Heads { image_file, .. } => {
                    let file = write_hashed(&out, "image-head", "safetensors", image_file)?;
                    keep.insert(file.name.clone());
                    Reduction::Head { file }
                }
            };
            keep.insert(weights.name.clone());
            Some(ImageEncoder {
                weights,
                config: serde_json::to_value(&files.config.vision_config)?,
                projection_dim,
                bottom_crop,
                reduction,
            })
        }
        None => None,
    };
    let full_features = args.full_features.then(|| {
        keep.extend(full_files.iter().map(|f| f.name.clone()));
        FullFeatures {
            dims: projection_dim,
            files: full_files,
            rows_per_file: FULL_ROWS_PER_FILE,
        }
    });
    stats.export_s = stage.elapsed().as_secs_f64();

    stats.caption_recall_at_60 = recall
        .map(|recall| recall.of_index(&quantised, dims))
        .transpose()?;

    let index_file = write_hashed(&out, "manifest", "json", &index.to_json())?;
    keep.insert(index_file.name.clone());
    let manifest = DatasetManifest {
        format_version: DATASET_FORMAT_VERSION,
        name: args.name.clone().unwrap_or_else(|| {
            out.file_name()
                .map_or_else(|| "dataset".into(), |n| n.to_string_lossy().into_owned())
        }),
        description: args.description.clone(),
        count: n as u64,
        dims,
        index: index_file.name,
        items: ingested.written.table.clone(),
        text: Some(TextEncoder {
            model: args.model.display().to_string(),
            weights,
            config: serde_json::to_value(&files.config.text_config)?,
            projection_dim,
            reduction,
        }),
        image,
        full_features,
        search,
    };
    // Readers of the folder see the old dataset or the new one, whole: the one entry file
    // is replaced after every file it names is written, and the old files removed after.
    write_atomic(
        &out.join(DATASET_FILE),
        serde_json::to_string_pretty(&manifest)?.as_bytes(),
    )?;
    ingest::remove_stale_output(&out, &ingested)
        .with_context(|| format!("cannot remove stale files from {}", out.display()))?;
    crate::index_cmd::remove_stale_shards(&out, &index, &tabled)?;
    remove_stale(&out, &keep)?;
    stats.total_s = started.elapsed().as_secs_f64();
    write_atomic(
        &out.join(".work").join("build-stats.json"),
        serde_json::to_string_pretty(&stats)?.as_bytes(),
    )?;
    Ok(Built::Dataset(stats))
}

/// Fits the PCA to `dims` on the fit sample of `features` (rows of `dims_in`), turned to
/// `axes`.
pub fn fit_pca(features: &[f32], dims_in: usize, dims: usize, axes: AxesChoice) -> Result<Pca> {
    let pca = Pca::fit(features, dims_in, dims).context("cannot fit the PCA")?;
    Ok(match axes {
        AxesChoice::Independent => pca
            .rotated_independent(features)
            .context("cannot turn the PCA to independent axes")?,
        AxesChoice::Native => pca,
    })
}

/// Fits the PCA to `dims` on `features` (rows of `dims_in`) and returns it with the
/// quantised compact rows the index holds.
pub fn reduce_and_quantise(
    features: &[f32],
    dims_in: usize,
    dims: usize,
    axes: AxesChoice,
) -> Result<(Pca, Vec<u8>)> {
    let pca = fit_pca(features, dims_in, dims, axes)?;
    let compact = pca.apply_rows(features)?;
    let quantised = compact.chunks_exact(dims).flat_map(quantize_row).collect();
    Ok((pca, quantised))
}

fn plan_matches(work: &Path, plan: &ExtractPlan) -> bool {
    fs::read_to_string(work.join("extract.json"))
        .ok()
        .and_then(|text| serde_json::from_str::<ExtractPlan>(&text).ok())
        .is_some_and(|found| &found == plan)
}

fn file_blake3(path: &Path) -> Result<String> {
    let bytes = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(blake3::hash(&bytes).to_hex().to_string())
}

/// Writes `bytes` as `<stem>.<hash>.<ext>` in `out` and returns its reference.
fn write_hashed(out: &Path, stem: &str, ext: &str, bytes: &[u8]) -> Result<FileRef> {
    let hash = blake3::hash(bytes).to_hex().to_string();
    let name = hashed_name(stem, &hash, ext);
    write_content_named(&out.join(&name), bytes)?;
    Ok(FileRef {
        name,
        bytes: bytes.len() as u64,
        blake3: hash,
    })
}

/// File `k` of the full features: `block`'s rows (of `dims`) as int8 `round(127 * x / |x|)`;
/// every file but the last holds [`FULL_ROWS_PER_FILE`] rows.
fn write_full_features(out: &Path, k: usize, block: &[f32], dims: usize) -> Result<FileRef> {
    let mut bytes = Vec::with_capacity(block.len());
    for row in block.chunks_exact(dims) {
        let norm = l2_norm(row);
        bytes.extend(
            row.iter()
                .map(|x| (127.0 * x / norm).round().clamp(-127.0, 127.0) as i8 as u8),
        );
    }
    write_hashed(out, &format!("full-features-{k:04}"), "bin", &bytes)
}

/// Removes the content-named files of earlier builds that this build no longer names.
fn remove_stale(out: &Path, keep: &HashSet<String>) -> Result<()> {
    for entry in fs::read_dir(out).with_context(|| format!("cannot list {}", out.display()))? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        let ours = [
            "manifest.",
            "reduction.",
            "text-head.",
            "text-encoder.",
            "image-head.",
            "image-encoder.",
            "full-features-",
        ]
        .iter()
        .any(|prefix| name.starts_with(prefix));
        if ours && !keep.contains(&name) {
            fs::remove_file(out.join(&name))
                .with_context(|| format!("cannot remove stale {}", out.join(&name).display()))?;
        }
    }
    Ok(())
}

/// How much of the full-feature top [`CaptionRecall::K`] the compact u8 index finds, for
/// caption queries: the exact neighbours are gathered as the rows stream past
/// ([`CaptionRecall::offer`]), then the index is asked ([`CaptionRecall::of_index`]).
struct CaptionRecall {
    /// The captions' text features, each row divided by its norm on use.
    texts: Vec<f32>,
    /// The captions' quantised compact queries.
    queries: Vec<u8>,
    full_dims: usize,
    /// Per caption, the best (score, id) seen so far, best first, at most `K`.
    nearest: Vec<Vec<(f32, usize)>>,
}

impl CaptionRecall {
    const K: usize = 60;

    fn new(model: &clip::ClipModel, captions: &[&str], compact: &CompactMap) -> Result<Self> {
        let tokenizer = Tokenizer::new().context("cannot read the embedded CLIP vocabulary")?;
        let context = model.text.context_length();
        let (mut texts, mut queries) = (Vec::new(), Vec::new());
        for batch in captions.chunks(32) {
            let tokens = TokenBatch::new(tokenizer.tokenize_batch(batch, context), context)?;
            let batch_texts = read_rows(model.encode_text(&tokens)?)?;
            queries.extend(compact.queries(&batch_texts)?);
            texts.extend(batch_texts);
        }
        Ok(Self {
            full_dims: texts.len() / captions.len(),
            texts,
            queries,
            nearest: vec![Vec::new(); captions.len()],
        })
    }

    /// Scores `block`'s rows (ids from `first`) against every caption, by cosine.
    fn offer(&mut self, first: usize, block: &[f32]) {
        let full_dims = self.full_dims;
        let normalised: Vec<f32> = block
            .chunks_exact(full_dims)
            .flat_map(|row| {
                let norm = l2_norm(row);
                row.iter().map(move |x| x / norm)
            })
            .collect();
        for (text, nearest) in self.texts.chunks_exact(full_dims).zip(&mut self.nearest) {
            let norm = l2_norm(text);
            nearest.extend(
                normalised
                    .chunks_exact(full_dims)
                    .enumerate()
                    .map(|(at, row)| {
                        let score = row.iter().zip(text).map(|(a, b)| a * b / norm).sum();
                        (score, first + at)
                    }),
            );
            nearest.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            nearest.truncate(Self::K);
        }
    }

    /// The mean share of each caption's exact neighbours that the compact index's k-NN
    /// (over `quantised`, rows of `dims`) finds.
    fn of_index(self, quantised: &[u8], dims: usize) -> Result<f64> {
        let index = Features::new(quantised, dims)?;
        let k = Self::K.min(index.len());
        let mut total = 0.0;
        for (query, nearest) in self.queries.chunks_exact(dims).zip(&self.nearest) {
            let exact: HashSet<usize> = nearest.iter().take(k).map(|s| s.1).collect();
            let found = knn_exact(index, query, k)?;
            let hits = found
                .iter()
                .filter(|nb| exact.contains(&(nb.id as usize)))
                .count();
            total += hits as f64 / k as f64;
        }
        Ok(total / self.nearest.len() as f64)
    }
}

/// The Euclidean norm, never zero (so dividing by it is safe).
fn l2_norm(row: &[f32]) -> f32 {
    row.iter()
        .map(|x| x * x)
        .sum::<f32>()
        .sqrt()
        .max(f32::MIN_POSITIVE)
}
