//! `precompute bench`: the engine's figures on a seeded synthetic set (see `engine-bench`).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use clap::Args;
use engine_bench::BenchConfig;

use crate::output::write_atomic;

/// Measure index build, search rounds (time and F1), box queries and k-NN.
#[derive(Args)]
pub struct BenchArgs {
    /// Images in the synthetic set.
    #[arg(long, default_value_t = 1_000_000)]
    n: usize,
    /// Points per rare cluster (five clusters).
    #[arg(long, default_value_t = 1_000)]
    cluster_size: usize,
    /// Threads (default: every core).
    #[arg(long)]
    threads: Option<usize>,
    /// Also write the figures as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// Runs the subcommand.
pub fn run(args: &BenchArgs) -> Result<()> {
    if let Some(threads) = args.threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build_global()?;
    }
    let mut config = BenchConfig::default();
    config.data.n = args.n;
    config.data.rare_cluster_size = args.cluster_size;
    let origin = Instant::now();
    let now_ms = || origin.elapsed().as_secs_f64() * 1e3;
    println!(
        "engine benchmark: {} x {}, {} threads",
        config.data.n,
        config.data.dims,
        rayon::current_num_threads()
    );
    let report = engine_bench::run(&config, &now_ms, &mut |line| println!("{line}"));
    if let Some(path) = &args.json {
        write_atomic(path, &serde_json::to_vec_pretty(&report)?)?;
    }
    Ok(())
}
