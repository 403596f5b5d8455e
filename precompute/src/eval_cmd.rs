//! `precompute eval`: the retrieval quality of a model on synthetic scenes, with ground
//! truth from the scenes' descriptions (never from caption words).
//!
//! The gallery is scenes `first..first + count` of a synth seed (by default far beyond the
//! scenes a training collection uses, so none was seen in training; `--first 0 --count
//! 20000` is the demo collection). Figures:
//! - text-to-image recall@k of each scene's full caption: a hit when one of the k nearest
//!   images has the caption's description (equal descriptions are indistinguishable);
//! - the concept benchmark: for every colour+shape concept ("green hearts"), every shape
//!   ("hearts") and every colour ("green shapes"), the precision of the first page the
//!   text query shows, then simulated feedback as a user gives it: label the shown page
//!   from ground truth, fine-tune, show the first page of unlabelled results, repeat; the
//!   F1 over the whole gallery after each round, per searcher. Median and worst concept.
//!   With `--label uncertain` the user labels the images the model is least sure about
//!   instead of the first page.
//!
//! Everything runs on the `u8` grid the app uses: image rows reduced as `precompute build`
//! reduces them (PCA fitted on the gallery or the heads, turned to independent axes unless
//! `--axes native`; or `--reduction projection`) and quantised, the
//! text query likewise, exact k-NN ([`knn_exact`]) and the search engine.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use branches::{MemoryIndex, PoolSettings, SearchEngine, SearchRequest, Searcher};
use burn::tensor::Device;
use burn::tensor::{Tensor, TensorData};
use clap::{Args, ValueEnum};
use clip::{Encoder, RgbImage, TokenBatch, Tokenizer, read_rows};
use index_shards::quantize::quantize_row;
use index_shards::{Features, TreeSetConfig, knn_exact};
use rayon::prelude::*;
use serde::Serialize;
use synth::{Concept, ConceptKind};

use crate::compact::{AxesChoice, CompactMap};
use crate::train_cmd::read_model;
use crate::train_head_cmd::read_heads;

/// Which images the simulated user labels after a round.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum LabelNext {
    /// The first page of unlabelled results, as the app shows them.
    #[default]
    Page,
    /// The unlabelled images the model is least sure about.
    Uncertain,
    /// Half and half, alternating: the surest results and the least sure images.
    Mixed,
}

/// Measure text-to-image retrieval and simulated feedback rounds on synthetic scenes.
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
    #[arg(long, default_value_t = 20_000)]
    pub count: u64,
    /// The k of recall@k.
    #[arg(long, default_value_t = 10)]
    pub k: usize,
    /// Images on a page: the first page of a text query, and the page labelled after each
    /// round.
    #[arg(long, default_value_t = 60)]
    pub page: usize,
    /// Feedback rounds per concept.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// The compact space: `pca` to the model's width fitted on the gallery's image
    /// features, as `precompute build` makes it (the app's space), or `projection`, the
    /// model's own joint space.
    #[arg(long, value_enum, default_value_t = EvalReduction::Pca)]
    pub reduction: EvalReduction,
    /// Heads (`precompute train-head`'s `head.safetensors`) applied to both modalities'
    /// features; their output is the compact space (no PCA).
    #[arg(long)]
    pub head: Option<PathBuf>,
    /// The axes of the PCA or the heads, as `precompute build --axes` sets them (not used
    /// with `--reduction projection`).
    #[arg(long, value_enum, default_value_t)]
    pub axes: AxesChoice,
    /// What the simulated user labels after each round: `page`, the first page of
    /// unlabelled results (the searcher's surest); `uncertain`, the unlabelled images the
    /// trained model is least sure about (`SearchEngine::search_and_uncertain`).
    #[arg(long, value_enum, default_value_t)]
    pub label: LabelNext,
    /// Searchers fine-tuned in the feedback rounds (db, ens, dtree, rf), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "ens,db,dtree,rf", value_parser = parse_searcher)]
    pub searchers: Vec<Searcher>,
}

/// The compact space `precompute eval` searches in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum EvalReduction {
    /// PCA fitted on the gallery, as `precompute build` does.
    Pca,
    /// The model's own projection.
    Projection,
}

fn parse_searcher(name: &str) -> Result<Searcher, String> {
    serde_json::from_value(serde_json::Value::String(name.to_owned()))
        .map_err(|_| format!("unknown searcher {name:?} (db, ens, dtree, rf)"))
}

fn searcher_name(searcher: Searcher) -> String {
    serde_json::to_value(searcher)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
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
    /// The page size of the concept benchmark.
    pub page: usize,
    /// The concept benchmark per kind: colour+shape, shape, colour.
    pub kinds: Vec<KindSummary>,
    /// Every concept's figures.
    pub concepts: Vec<ConceptResult>,
}

/// Median and worst of one figure over the concepts of a kind.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Spread {
    /// The median (the mean of the two middle values for an even count).
    pub median: f64,
    /// The lowest.
    pub worst: f64,
}

/// The benchmark over the concepts of one kind.
#[derive(Debug, Serialize)]
pub struct KindSummary {
    /// "colour+shape", "shape" or "colour".
    pub kind: String,
    /// Concepts with at least one member in the gallery.
    pub concepts: usize,
    /// Precision of the text query's first page.
    pub text_precision: Spread,
    /// Per searcher, the F1 over the gallery after each round.
    pub feedback_f1: Vec<SearcherSpread>,
}

/// One searcher's F1 spread after each round.
#[derive(Debug, Serialize)]
pub struct SearcherSpread {
    /// The searcher's name (db, ens, dtree, rf).
    pub searcher: String,
    /// After round 1, 2, ...
    pub rounds: Vec<Spread>,
}

/// One concept's figures.
#[derive(Debug, Serialize)]
pub struct ConceptResult {
    /// Its kind.
    pub kind: String,
    /// The query typed.
    pub query: String,
    /// Gallery scenes that belong to it.
    pub members: usize,
    /// Precision of the text query's first page.
    pub text_precision: f64,
    /// Per searcher (in `--searchers` order), the F1 after each round.
    pub feedback_f1: Vec<Vec<f64>>,
}

/// Runs the subcommand: the report as JSON on standard output, a table on standard error.
pub fn run(args: &EvalArgs) -> Result<()> {
    let report = evaluate(args)?;
    eprint!("{}", table(&report, args));
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

/// Computes the report.
pub fn evaluate(args: &EvalArgs) -> Result<EvalReport> {
    if args.page == 0 || args.rounds == 0 || args.searchers.is_empty() {
        bail!("--page, --rounds and --searchers must be positive");
    }
    let (config, weights) = read_model(&args.model)?;
    let device = Device::flex();
    let encoder = Encoder::new(clip::load_clip(&weights, &config, &device)?, device.clone());
    let width = config.projection_dim;
    let tokenizer = Tokenizer::new().context("cannot read the embedded CLIP vocabulary")?;
    let context = config.text_config.max_position_embeddings;
    let side = config.vision_config.image_size;
    let scenes = synth::generate(args.seed, args.first..args.first + args.count);

    // The model's features before any head or normalisation, as `build` stores them.
    let mut images = Vec::with_capacity(scenes.len() * width);
    for chunk in scenes.chunks(256) {
        let pixels: Vec<f32> = chunk
            .par_iter()
            .map(|scene| -> Result<Vec<f32>> {
                let rgb = synth::render(scene, side as u32)?;
                Ok(encoder
                    .preprocess
                    .preprocess(&RgbImage::new(side, side, &rgb)?)?)
            })
            .collect::<Result<Vec<_>>>()?
            .concat();
        let batch = Tensor::<4>::from_data(
            TensorData::new(pixels, [chunk.len(), 3, side, side]),
            &device,
        );
        images.extend(read_rows(encoder.model.encode_image(batch)?)?);
    }
    let (compact, rows) = match (&args.head, args.reduction) {
        (Some(path), _) => {
            let (heads, config) = read_heads(path, width)?;
            let compact = CompactMap::heads(&heads, config, &device, args.axes, &images)?;
            let rows = compact.images(&images)?;
            (Some(compact), rows)
        }
        (None, EvalReduction::Pca) => {
            let (compact, rows) = CompactMap::fit_pca(&images, width, width, args.axes)?;
            (Some(compact), rows)
        }
        (None, EvalReduction::Projection) => {
            (None, images.chunks(width).flat_map(quantize_row).collect())
        }
    };
    let dims = compact.as_ref().map_or(width, CompactMap::dims);
    let encode_texts = |texts: &[String]| -> Result<Vec<Vec<u8>>> {
        let mut rows = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(256) {
            let tokens = TokenBatch::new(tokenizer.tokenize_batch(chunk, context), context)?;
            let features = read_rows(encoder.model.encode_text(&tokens)?)?;
            let queries = match &compact {
                Some(compact) => compact.queries(&features)?,
                None => features.chunks(width).flat_map(quantize_row).collect(),
            };
            rows.extend(queries.chunks(dims).map(<[u8]>::to_vec));
        }
        Ok(rows)
    };
    let features = Features::new(&rows, dims)?;

    let captions: Vec<String> = scenes.iter().map(synth::caption).collect();
    let queries = encode_texts(&captions)?;
    let (hits, own_first) = queries
        .par_iter()
        .enumerate()
        .map(|(i, query)| -> Result<(usize, usize)> {
            let nearest = nearest(features, query, args.k)?;
            let hit = nearest
                .iter()
                .any(|&j| scenes[j as usize].description == scenes[i].description);
            Ok((
                usize::from(hit),
                usize::from(nearest.first() == Some(&(i as u32))),
            ))
        })
        .try_reduce(|| (0, 0), |a, b| Ok((a.0 + b.0, a.1 + b.1)))?;

    let index = MemoryIndex::build(rows.clone(), dims, &TreeSetConfig::default())?;
    let engine = SearchEngine::new(index, PoolSettings::default())?;
    let mut concepts = Vec::new();
    let mut kinds = Vec::new();
    for (kind, name) in [
        (ConceptKind::ColourShape, "colour+shape"),
        (ConceptKind::Shape, "shape"),
        (ConceptKind::Colour, "colour"),
    ] {
        let all = Concept::all_of(kind);
        let texts: Vec<String> = all.iter().map(Concept::query).collect();
        let text_queries = encode_texts(&texts)?;
        let results: Vec<ConceptResult> = all
            .par_iter()
            .zip(&text_queries)
            .filter_map(|(concept, query)| {
                let relevant: Vec<bool> = scenes
                    .iter()
                    .map(|s| concept.contains(&s.description))
                    .collect();
                let members = relevant.iter().filter(|&&r| r).count();
                (members > 0).then(|| {
                    concept_result(args, &engine, features, query, &relevant, members).map(
                        |(text_precision, feedback_f1)| ConceptResult {
                            kind: name.to_owned(),
                            query: concept.query(),
                            members,
                            text_precision,
                            feedback_f1,
                        },
                    )
                })
            })
            .collect::<Result<_>>()?;
        kinds.push(summarise(name, &results, args));
        concepts.extend(results);
    }

    let n = scenes.len() as f64;
    Ok(EvalReport {
        gallery: scenes.len(),
        k: args.k,
        recall_at_k: hits as f64 / n,
        instance_recall_at_1: own_first as f64 / n,
        page: args.page,
        kinds,
        concepts,
    })
}

/// `a[0], b[0], a[1], b[1], ...`, the longer one's rest at the end.
fn alternate(a: &[u32], b: &[u32]) -> Vec<u32> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    for i in 0..a.len().max(b.len()) {
        out.extend(a.get(i));
        out.extend(b.get(i));
    }
    out
}

/// One concept: the first page's precision, then per searcher the F1 after each round.
fn concept_result(
    args: &EvalArgs,
    engine: &SearchEngine<MemoryIndex>,
    features: Features<'_>,
    query: &[u8],
    relevant: &[bool],
    members: usize,
) -> Result<(f64, Vec<Vec<f64>>)> {
    // The text ranking of the whole gallery: the first page, and the pages a user scrolls
    // to when a round has nothing to train on or returns fewer than a page.
    let by_text = nearest(features, query, features.len())?;
    let first_page = &by_text[..args.page.min(by_text.len())];
    let found = first_page
        .iter()
        .filter(|&&id| relevant[id as usize])
        .count();
    let text_precision = found as f64 / first_page.len() as f64;
    let feedback = args
        .searchers
        .iter()
        .map(|&searcher| {
            let mut labelled = vec![false; relevant.len()];
            let (mut positives, mut negatives) = (Vec::new(), Vec::new());
            let mut page = first_page.to_vec();
            let mut f1s = Vec::with_capacity(args.rounds);
            for _ in 0..args.rounds {
                for &id in &page {
                    labelled[id as usize] = true;
                    if relevant[id as usize] {
                        positives.push(id);
                    } else {
                        negatives.push(id);
                    }
                }
                let (results, uncertain) = if positives.is_empty() {
                    (Vec::new(), Vec::new())
                } else {
                    let mut request = SearchRequest::new(positives.clone());
                    request.negatives = negatives.clone();
                    request.searcher = searcher;
                    let model = engine.train(&request)?;
                    match args.label {
                        LabelNext::Page => (engine.search(&model)?, Vec::new()),
                        // Labelled ones stay in the list (left out below, as the
                        // results' are), so `page` more than those are asked for.
                        LabelNext::Uncertain | LabelNext::Mixed => {
                            let k = args.page + positives.len() + negatives.len();
                            engine.search_and_uncertain(&model, k, &[])?
                        }
                    }
                };
                f1s.push(f1(&results, relevant, members));
                // An id can be in several of these lists: each is labelled once.
                page.clear();
                let first: Vec<u32> = match args.label {
                    LabelNext::Mixed => alternate(&results, &uncertain),
                    LabelNext::Page | LabelNext::Uncertain => {
                        uncertain.iter().chain(&results).copied().collect()
                    }
                };
                for &id in first.iter().chain(&by_text) {
                    if page.len() == args.page {
                        break;
                    }
                    if !labelled[id as usize] && !page.contains(&id) {
                        page.push(id);
                    }
                }
            }
            Ok(f1s)
        })
        .collect::<Result<_>>()?;
    Ok((text_precision, feedback))
}

fn summarise(kind: &str, results: &[ConceptResult], args: &EvalArgs) -> KindSummary {
    let spread_of = |values: Vec<f64>| spread(values);
    KindSummary {
        kind: kind.to_owned(),
        concepts: results.len(),
        text_precision: spread_of(results.iter().map(|r| r.text_precision).collect()),
        feedback_f1: args
            .searchers
            .iter()
            .enumerate()
            .map(|(s, &searcher)| SearcherSpread {
                searcher: searcher_name(searcher),
                rounds: (0..args.rounds)
                    .map(|round| {
                        spread_of(results.iter().map(|r| r.feedback_f1[s][round]).collect())
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// Median and minimum of `values` (zeros when empty).
fn spread(mut values: Vec<f64>) -> Spread {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        return Spread {
            median: 0.0,
            worst: 0.0,
        };
    }
    let median = if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    };
    Spread {
        median,
        worst: values[0],
    }
}

/// The report as a Markdown table: per kind, the text page's precision and each searcher's
/// F1 after each round, as median / worst.
fn table(report: &EvalReport, args: &EvalArgs) -> String {
    let cell = |s: &Spread| format!("{:.3} / {:.3}", s.median, s.worst);
    let mut header = "| concepts | text precision@page |".to_owned();
    for searcher in &args.searchers {
        for round in 1..=args.rounds {
            header.push_str(&format!(" {} F1 r{round} |", searcher_name(*searcher)));
        }
    }
    let mut out = format!(
        "gallery {} · recall@{} {:.4} · own image first {:.4} · page {} · median / worst\n{header}\n|{}\n",
        report.gallery,
        report.k,
        report.recall_at_k,
        report.instance_recall_at_1,
        report.page,
        "---|".repeat(2 + args.searchers.len() * args.rounds)
    );
    for kind in &report.kinds {
        out.push_str(&format!(
            "| {} ({}) | {} |",
            kind.kind,
            kind.concepts,
            cell(&kind.text_precision)
        ));
        for searcher in &kind.feedback_f1 {
            for round in &searcher.rounds {
                out.push_str(&format!(" {} |", cell(round)));
            }
        }
        out.push('\n');
    }
    out
}

/// F1 of `returned` against the `total` relevant items flagged in `relevant`.
fn f1(returned: &[u32], relevant: &[bool], total: usize) -> f64 {
    let found = returned.iter().filter(|&&i| relevant[i as usize]).count();
    if found == 0 {
        return 0.0;
    }
    let precision = found as f64 / returned.len() as f64;
    let recall = found as f64 / total as f64;
    2.0 * precision * recall / (precision + recall)
}

/// The ids of the `k` rows nearest to `query` on the `u8` grid, as the app's text search
/// ranks them.
fn nearest(features: Features<'_>, query: &[u8], k: usize) -> Result<Vec<u32>> {
    Ok(knn_exact(features, query, k)?
        .into_iter()
        .map(|n| n.id)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_takes_the_middle_and_the_lowest() {
        let s = spread(vec![0.9, 0.1, 0.5]);
        assert_eq!((s.median, s.worst), (0.5, 0.1));
        let s = spread(vec![0.2, 0.8, 0.4, 0.6]);
        assert!((s.median - 0.5).abs() < 1e-12 && s.worst == 0.2);
    }

    #[test]
    fn f1_of_a_partial_answer() {
        let relevant = [true, true, false, false];
        assert_eq!(f1(&[2, 3], &relevant, 2), 0.0);
        assert!((f1(&[0, 2], &relevant, 2) - 0.5).abs() < 1e-12);
        assert_eq!(f1(&[0, 1], &relevant, 2), 1.0);
    }

    #[test]
    fn searchers_parse_by_their_request_names() {
        assert_eq!(parse_searcher("ens"), Ok(Searcher::Ensemble));
        assert_eq!(searcher_name(Searcher::RandomForest), "rf");
        assert!(parse_searcher("svm").unwrap_err().contains("db, ens"));
    }
}
