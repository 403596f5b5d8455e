//! `precompute search`: one round of search by classification over an index folder, as
//! the browser runs it, from a JSON request.

use std::fs;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use branches::{PoolSettings, SearchEngine, SearchRequest};
use clap::Args;
use serde::Serialize;

use crate::dataset::load_index;
use crate::output::write_atomic;

/// Train a classifier on labelled ids and return every image it accepts.
#[derive(Args)]
pub struct SearchArgs {
    /// The index folder (manifest.json and its shards), or a dataset folder.
    #[arg(long)]
    index: PathBuf,
    /// A JSON request: {"positives":[ids], "negatives":[ids], "random_negatives":500,
    /// "negative_weight":1, "searcher":"db"|"ens"|"dtree"|"rf", "seed":42}.
    #[arg(long)]
    request: PathBuf,
    /// Write the response here instead of standard output.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// The response of the reference system's search API, with timings.
#[derive(Serialize)]
struct Response {
    results: Vec<u32>,
    count: u32,
    train_ms: f64,
    search_ms: f64,
    rules: Vec<String>,
    sql: Vec<String>,
}

/// Runs the subcommand.
pub fn run(args: &SearchArgs) -> Result<()> {
    let text = fs::read(&args.request)
        .with_context(|| format!("cannot read {}", args.request.display()))?;
    let request: SearchRequest = serde_json::from_slice(&text)
        .with_context(|| format!("invalid request {}", args.request.display()))?;
    let index = load_index(&args.index)?;
    let pool = PoolSettings::of_index(index.manifest());
    let engine = SearchEngine::new(index, pool)?;
    let started = Instant::now();
    let model = engine.train(&request).context("cannot train")?;
    let trained = Instant::now();
    let results = engine.search(&model).context("cannot search")?;
    let searched = Instant::now();
    let response = Response {
        count: results.len() as u32,
        results,
        train_ms: (trained - started).as_secs_f64() * 1e3,
        search_ms: (searched - trained).as_secs_f64() * 1e3,
        rules: model.rules(),
        sql: model.sql(),
    };
    let json = serde_json::to_vec(&response)?;
    match &args.out {
        Some(path) => write_atomic(path, &json),
        None => {
            println!("{}", String::from_utf8(json)?);
            Ok(())
        }
    }
}
