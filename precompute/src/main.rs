//! `precompute`: turns a collection into a dataset folder that a browser can search, and
//! queries such a folder offline with the same engine the browser runs.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use precompute::{bench_cmd, index_cmd, knn_cmd, search_cmd, tokenize_cmd};
use precompute::{catalog_cmd, ingest_cmd, verify_cmd};

/// Build clip-branches datasets and query them offline.
#[derive(Parser)]
#[command(version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Index(index_cmd::IndexArgs),
    Search(search_cmd::SearchArgs),
    Knn(knn_cmd::KnnArgs),
    Bench(bench_cmd::BenchArgs),
    Tokenize(tokenize_cmd::TokenizeArgs),
    Ingest(ingest_cmd::IngestArgs),
    Verify(verify_cmd::VerifyArgs),
    Catalog(catalog_cmd::CatalogArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Index(args) => index_cmd::run(&args),
        Command::Search(args) => search_cmd::run(&args),
        Command::Knn(args) => knn_cmd::run(&args),
        Command::Bench(args) => bench_cmd::run(&args),
        Command::Tokenize(args) => tokenize_cmd::run(&args),
        Command::Ingest(args) => ingest_cmd::run(&args),
        Command::Verify(args) => verify_cmd::run(&args),
        Command::Catalog(args) => catalog_cmd::run(&args),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
