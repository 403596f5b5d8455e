//! `precompute bench` and `bench-knn`: the engine's figures and the partitioned k-NN's on
//! a seeded synthetic set (see `engine-bench`).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use clap::Args;
use engine_bench::BenchConfig;
use engine_bench::partitioned_knn::{self, BuildFigures, PartitionedKnnConfig, QueryFigures};
use index_shards::PartitionConfig;
use index_shards::synthetic::{RareClusterSet, SyntheticConfig};
use serde::Serialize;

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

/// Measure the partitioned k-NN against the exact scan: build time, peak memory, and per
/// query kind and nprobe the recall@k, the bytes and files a query fetches and its time.
#[derive(Args)]
pub struct BenchKnnArgs {
    /// Images in the synthetic set.
    #[arg(long, default_value_t = 1_000_000)]
    n: usize,
    /// Lists (default: `PartitionConfig::for_rows`).
    #[arg(long)]
    lists: Option<usize>,
    /// The nprobe values to measure, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "8,16,32,64")]
    nprobe: Vec<usize>,
    /// Queries of each kind.
    #[arg(long, default_value_t = 100)]
    queries: usize,
    /// Threads (default: every core).
    #[arg(long)]
    threads: Option<usize>,
    /// Also write the figures as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// The figures `bench-knn` writes as JSON.
#[derive(Serialize)]
struct KnnReport {
    build: BuildFigures,
    set_peak_rss_mib: Option<f64>,
    build_peak_rss_mib: Option<f64>,
    queries: Vec<QueryFigures>,
}

/// Runs `bench-knn`.
pub fn run_knn(args: &BenchKnnArgs) -> Result<()> {
    if let Some(threads) = args.threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build_global()?;
    }
    let data = SyntheticConfig {
        n: args.n,
        ..SyntheticConfig::default()
    };
    let mut partition = PartitionConfig::for_rows(args.n);
    if let Some(lists) = args.lists {
        partition.lists = lists;
    }
    let config = PartitionedKnnConfig {
        partition,
        nprobes: args.nprobe.clone(),
        queries: args.queries,
        k: 60,
        seed: data.seed ^ 0x4e4e,
    };
    let origin = Instant::now();
    let now_ms = || origin.elapsed().as_secs_f64() * 1e3;
    println!(
        "partitioned k-NN benchmark: {} x {}, {} lists, {} threads",
        data.n,
        data.dims,
        config.partition.lists,
        rayon::current_num_threads()
    );
    let set = RareClusterSet::generate(&data);
    let set_peak_rss_mib = peak_rss_mib();
    reset_peak_rss();
    let built = partitioned_knn::build(&set, &config.partition, &now_ms);
    let build_peak_rss_mib = peak_rss_mib();
    let b = &built.figures;
    let mib = |bytes: f64| bytes / f64::from(1 << 20);
    println!(
        "build: {} lists (largest {} rows): centroids trained in {:.0} ms, lists assigned and written in {:.0} ms; centroids file {:.1} KiB, lists {:.1} MiB ({:.1} bytes per image)",
        b.lists,
        b.largest_list_rows,
        b.train_ms,
        b.write_ms,
        b.centroids_bytes as f64 / 1024.0,
        mib(b.list_bytes as f64),
        b.list_bytes as f64 / b.n as f64
    );
    let rss = |r: Option<f64>| r.map_or("unknown".into(), |r| format!("{r:.0} MiB"));
    println!(
        "peak RSS: {} after generating the set ({:.0} MiB of rows); {} while building (the set and every file held in memory)",
        rss(set_peak_rss_mib),
        mib(set.features.len() as f64),
        rss(build_peak_rss_mib)
    );
    let queries = partitioned_knn::measure(&set, &built, &config, &now_ms, &mut |line| {
        println!("{line}")
    });
    if let Some(path) = &args.json {
        let report = KnnReport {
            build: built.figures.clone(),
            set_peak_rss_mib,
            build_peak_rss_mib,
            queries,
        };
        write_atomic(path, &serde_json::to_vec_pretty(&report)?)?;
    }
    Ok(())
}

/// The process's peak resident set (`VmHWM` of `/proc/self/status`), where Linux gives it.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Restarts the peak resident set from the current one (Linux's `clear_refs` code 5), so
/// the next reading is one stage's peak; elsewhere readings stay the whole run's.
fn reset_peak_rss() {
    // Best effort: without it the reading is the whole run's peak, still an upper bound.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}
