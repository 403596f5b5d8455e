//! This project's side of the side-by-side run against the reference's decision branches
//! (`engine-bench/reference/`): reads the sets of `make_sets.py`, runs each request with
//! the app's default settings through a brute-force index over the set's own subsets, and
//! prints one JSON line per request and searcher, like `run_reference.py`.
//!
//! The request's random negatives were drawn by `make_sets.py` and are passed as labelled
//! negatives (with `random_negatives: 0`), so both sides train on the same rows.
//!
//! `cargo run --release -p precompute --example side_by_side -- SETS_DIR [db,ens] [SEEDS]`
//! (each request runs with seeds `42..42 + SEEDS`, default 1).

use std::collections::HashSet;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use branches::{BoxIndex, FlatIndex, PoolSettings, SearchEngine, SearchRequest, Searcher};
use precompute::npy::{Array, Values, read_array};
use serde::Deserialize;

#[derive(Deserialize)]
struct Request {
    name: String,
    members: Vec<u32>,
    positives: Vec<u32>,
    negatives: Vec<u32>,
    random_negatives: Vec<u32>,
}

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let Some(sets) = args.next() else {
        bail!("usage: side_by_side SETS_DIR [db,ens,dtree,rf] [SEEDS]");
    };
    let searchers: Vec<Searcher> = args
        .next()
        .unwrap_or_else(|| "db,ens".into())
        .split(',')
        .map(|name| {
            serde_json::from_value(serde_json::Value::String(name.into()))
                .with_context(|| format!("unknown searcher {name}"))
        })
        .collect::<Result<_>>()?;
    let seeds: u64 = match args.next() {
        Some(n) => n
            .parse()
            .with_context(|| format!("SEEDS: not a count: {n}"))?,
        None => 1,
    };
    let mut folders: Vec<_> = std::fs::read_dir(&sets)
        .with_context(|| format!("reading {sets}"))?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    folders.retain(|p| p.join("requests.json").exists());
    folders.sort();
    for folder in folders {
        run_set(&folder, &searchers, seeds)?;
    }
    Ok(())
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    serde_json::from_slice(
        &std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
    )
    .with_context(|| format!("parsing {}", path.display()))
}

fn run_set(folder: &Path, searchers: &[Searcher], seeds: u64) -> Result<()> {
    let path = folder.join("features.npy");
    let Array { shape, values } = read_array(&std::fs::read(&path)?)
        .with_context(|| format!("parsing {}", path.display()))?;
    let (Values::U8(features), &[_, dims]) = (values, &shape[..]) else {
        bail!("{}: expected a 2-D u8 array", path.display());
    };
    let subsets: Vec<Vec<u16>> = read_json(&folder.join("subsets.json"))?;
    let requests: Vec<Request> = read_json(&folder.join("requests.json"))?;
    let index = FlatIndex::new(features, dims, subsets)?;
    let engine = SearchEngine::new(&index, PoolSettings::default())?;
    let set = folder.file_name().unwrap_or_default().to_string_lossy();
    for request in &requests {
        let members: HashSet<u32> = request.members.iter().copied().collect();
        for (&searcher, seed) in searchers
            .iter()
            .flat_map(|s| (42..42 + seeds).map(move |seed| (s, seed)))
        {
            let mut ours = SearchRequest::new(request.positives.clone());
            ours.negatives = [&request.negatives[..], &request.random_negatives[..]].concat();
            ours.random_negatives = 0;
            ours.searcher = searcher;
            ours.seed = seed;
            let start = Instant::now();
            let model = engine.train(&ours)?;
            let train_ms = start.elapsed().as_secs_f64() * 1e3;
            let start = Instant::now();
            let found = engine.search(&model)?;
            let search_ms = start.elapsed().as_secs_f64() * 1e3;
            let hits = found.iter().filter(|id| members.contains(id)).count() as f64;
            let precision = if found.is_empty() {
                0.0
            } else {
                hits / found.len() as f64
            };
            let recall = hits / members.len() as f64;
            // Images inside some box before post-trees and votes: how tight the boxes are.
            let in_boxes = (0..index.len())
                .filter(|&id| {
                    index
                        .row(id)
                        .is_ok_and(|row| model.boxes().iter().any(|rule| rule.contains(row)))
                })
                .count();
            let f1 = if hits > 0.0 {
                2.0 * precision * recall / (precision + recall)
            } else {
                0.0
            };
            println!(
                "{}",
                serde_json::json!({
                    "set": set, "request": request.name, "searcher": searcher, "seed": seed,
                    "f1": f1, "precision": precision, "recall": recall, "count": found.len(),
                    "boxes": model.boxes().len(), "in_boxes": in_boxes, "train_ms": train_ms, "search_ms": search_ms,
                })
            );
        }
    }
    Ok(())
}
