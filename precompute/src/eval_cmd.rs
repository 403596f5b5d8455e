//! `precompute eval`: the retrieval quality of a model on held-out synthetic scenes.
//!
//! The gallery is scenes `first..first + count` of a synth seed (by default far beyond the
//! 20,000 a training collection uses, so no scene was seen in training). Two figures:
//! - text-to-image recall@k of each scene's caption: a hit when one of the k nearest images
//!   has the caption's description (equal descriptions are indistinguishable by text);
//! - one simulated feedback round per "colour shape" query (e.g. "red stars"; relevant:
//!   every gallery scene of that colour and shape): F1 of the 60 nearest images, then F1
//!   of the images decision branches accept after the 60 are labelled from ground truth.

use std::path::PathBuf;

use anyhow::{Context, Result};
use branches::{MemoryIndex, PoolSettings, SearchEngine, SearchRequest};
use burn::tensor::Device;
use clap::Args;
use clip::{Encoder, RgbImage, TokenBatch, Tokenizer, read_rows};
use index_shards::TreeSetConfig;
use index_shards::quantize::quantize_row;
use serde::Serialize;
use synth::caption::{colour_word, shape_word};
use synth::{Colour, Scene, Shape};

use crate::train_cmd::read_model;

/// Measure text-to-image retrieval and one feedback round on held-out synthetic scenes.
#[derive(Args)]
pub struct EvalArgs {
    /// A Hugging Face model folder (`config.json`, `model.safetensors`).
    #[arg(long)]
    pub model: PathBuf,
    /// Synth seed of the gallery.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Index of the gallery's first scene.
    #[arg(long, default_value_t = 1_000_000)]
    pub first: u64,
    /// Gallery size.
    #[arg(long, default_value_t = 2000)]
    pub count: u64,
    /// The k of recall@k.
    #[arg(long, default_value_t = 10)]
    pub k: usize,
    /// Results labelled in the feedback round.
    #[arg(long, default_value_t = 60)]
    pub labelled: usize,
}

/// What `precompute eval` prints (JSON).
#[derive(Debug, Serialize)]
pub struct EvalReport {
    /// Gallery size.
    pub gallery: usize,
    /// The k of `recall_at_k`.
    pub k: usize,
    /// Caption queries with an image of their description among the k nearest.
    pub recall_at_k: f64,
    /// Caption queries whose own image is the nearest.
    pub instance_recall_at_1: f64,
    /// "colour shape" queries run.
    pub feedback_queries: usize,
    /// Mean F1 of the `labelled` nearest images.
    pub knn_f1: f64,
    /// Mean F1 of decision branches' results after one round of ground-truth labels.
    pub feedback_f1: f64,
}

/// Runs the subcommand and prints the report as JSON.
pub fn run(args: &EvalArgs) -> Result<()> {
    let report = evaluate(args)?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

/// Computes the report.
pub fn evaluate(args: &EvalArgs) -> Result<EvalReport> {
    let (config, weights) = read_model(&args.model)?;
    let device = Device::flex();
    let encoder = Encoder::new(clip::load_clip(&weights, &config, &device)?, device);
    let tokenizer = Tokenizer::new().context("cannot read the embedded CLIP vocabulary")?;
    let context = config.text_config.max_position_embeddings;
    let side = config.vision_config.image_size;
    let scenes = synth::generate(args.seed, args.first..args.first + args.count);
    let dims = config.projection_dim;

    let mut images = Vec::with_capacity(scenes.len() * dims);
    for chunk in scenes.chunks(64) {
        let pixels: Vec<Vec<u8>> = chunk
            .iter()
            .map(|scene| synth::render(scene, side as u32))
            .collect::<Result<_, _>>()?;
        let batch: Vec<RgbImage<'_>> = pixels
            .iter()
            .map(|p| RgbImage::new(side, side, p))
            .collect::<Result<_, _>>()?;
        images.extend(read_rows(encoder.image_features(&batch)?)?);
    }
    let encode_texts = |texts: &[String]| -> Result<Vec<f32>> {
        let mut rows = Vec::with_capacity(texts.len() * dims);
        for chunk in texts.chunks(256) {
            let tokens = TokenBatch::new(tokenizer.tokenize_batch(chunk, context), context)?;
            rows.extend(read_rows(encoder.text_features(&tokens)?)?);
        }
        Ok(rows)
    };

    let captions: Vec<String> = scenes.iter().map(synth::caption).collect();
    let queries = encode_texts(&captions)?;
    let mut hits = 0;
    let mut own_first = 0;
    for (i, query) in queries.chunks(dims).enumerate() {
        let nearest = nearest(&images, dims, query, args.k);
        if nearest
            .iter()
            .any(|&j| scenes[j].description == scenes[i].description)
        {
            hits += 1;
        }
        if nearest.first() == Some(&i) {
            own_first += 1;
        }
    }

    let (knn_f1, feedback_f1, feedback_queries) =
        feedback_round(args, &scenes, &images, dims, |t| encode_texts(t))?;
    let n = scenes.len() as f64;
    Ok(EvalReport {
        gallery: scenes.len(),
        k: args.k,
        recall_at_k: f64::from(hits) / n,
        instance_recall_at_1: f64::from(own_first) / n,
        feedback_queries,
        knn_f1,
        feedback_f1,
    })
}

/// Mean F1 of the k-NN results and of the branches' results over every colour-shape query
/// with at least one relevant image in the gallery.
fn feedback_round(
    args: &EvalArgs,
    scenes: &[Scene],
    images: &[f32],
    dims: usize,
    encode_texts: impl Fn(&[String]) -> Result<Vec<f32>>,
) -> Result<(f64, f64, usize)> {
    let features: Vec<u8> = images.chunks(dims).flat_map(quantize_row).collect();
    let index = MemoryIndex::build(features, dims, &TreeSetConfig::default())?;
    let engine = SearchEngine::new(index, PoolSettings::default())?;
    let pairs: Vec<(Colour, Shape)> = Colour::ALL
        .iter()
        .flat_map(|&c| Shape::ALL.iter().map(move |&s| (c, s)))
        .collect();
    let texts: Vec<String> = pairs
        .iter()
        .map(|&(c, s)| format!("{} {}", colour_word(c), shape_word(s, true)))
        .collect();
    let queries = encode_texts(&texts)?;
    let (mut knn_sum, mut feedback_sum, mut runs) = (0.0, 0.0, 0);
    for ((colour, shape), query) in pairs.iter().zip(queries.chunks(dims)) {
        let relevant: Vec<bool> = scenes
            .iter()
            .map(|s| s.description.colour == *colour && s.description.shape == *shape)
            .collect();
        let total = relevant.iter().filter(|&&r| r).count();
        if total == 0 {
            continue;
        }
        let shown = nearest(images, dims, query, args.labelled);
        let as_ids = |ids: &[usize]| ids.iter().map(|&i| i as u32).collect::<Vec<u32>>();
        let (positives, negatives): (Vec<usize>, Vec<usize>) =
            shown.iter().partition(|&&i| relevant[i]);
        knn_sum += f1(&shown, &relevant, total);
        let accepted: Vec<usize> = if positives.is_empty() {
            shown.clone()
        } else {
            let mut request = SearchRequest::new(as_ids(&positives));
            request.negatives = as_ids(&negatives);
            let response = engine.run(&request)?;
            response.results.iter().map(|&id| id as usize).collect()
        };
        feedback_sum += f1(&accepted, &relevant, total);
        runs += 1;
    }
    let runs_f = f64::from(runs.max(1));
    Ok((knn_sum / runs_f, feedback_sum / runs_f, runs as usize))
}

/// F1 of `returned` against the `total` relevant items flagged in `relevant`.
fn f1(returned: &[usize], relevant: &[bool], total: usize) -> f64 {
    let found = returned.iter().filter(|&&i| relevant[i]).count();
    if found == 0 {
        return 0.0;
    }
    let precision = found as f64 / returned.len() as f64;
    let recall = found as f64 / total as f64;
    2.0 * precision * recall / (precision + recall)
}

/// The `k` rows of `rows` with the largest dot product with `query` (ties by index).
fn nearest(rows: &[f32], dims: usize, query: &[f32], k: usize) -> Vec<usize> {
    let mut scored: Vec<(f32, usize)> = rows
        .chunks(dims)
        .enumerate()
        .map(|(i, row)| (row.iter().zip(query).map(|(a, b)| a * b).sum(), i))
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    scored.into_iter().take(k).map(|(_, i)| i).collect()
}
