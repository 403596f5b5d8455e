//! `precompute`: turns a collection into a dataset folder that a browser can search, and
//! queries such a folder offline with the same engine the browser runs.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use precompute::{
    bench_cmd, build_cmd, catalog_cmd, encode_cmd, eval_cmd, extract_cmd, index_cmd, ingest_cmd,
    knn_cmd, layout_cmd, reduce_cmd, search_cmd, synth_cmd, tokenize_cmd, train_cmd,
    train_head_cmd, verify_cmd,
};

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
    BenchKnn(bench_cmd::BenchKnnArgs),
    Layout(layout_cmd::LayoutArgs),
    Tokenize(tokenize_cmd::TokenizeArgs),
    Encode(encode_cmd::EncodeArgs),
    Extract(extract_cmd::ExtractArgs),
    Merge(extract_cmd::MergeArgs),
    Ingest(ingest_cmd::IngestArgs),
    Verify(verify_cmd::VerifyArgs),
    Catalog(catalog_cmd::CatalogArgs),
    Build(build_cmd::BuildArgs),
    Reduce(reduce_cmd::ReduceArgs),
    Synth(synth_cmd::SynthArgs),
    Train(train_cmd::TrainArgs),
    TrainHead(train_head_cmd::TrainHeadArgs),
    Eval(eval_cmd::EvalArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Index(args) => index_cmd::run(&args),
        Command::Search(args) => search_cmd::run(&args),
        Command::Knn(args) => knn_cmd::run(&args),
        Command::Bench(args) => bench_cmd::run(&args),
        Command::BenchKnn(args) => bench_cmd::run_knn(&args),
        Command::Layout(args) => layout_cmd::run(&args),
        Command::Tokenize(args) => tokenize_cmd::run(&args),
        Command::Encode(args) => encode_cmd::run(&args),
        Command::Extract(args) => extract_cmd::run(&args),
        Command::Merge(args) => extract_cmd::run_merge(&args),
        Command::Ingest(args) => ingest_cmd::run(&args),
        Command::Verify(args) => verify_cmd::run(&args),
        Command::Catalog(args) => catalog_cmd::run(&args),
        Command::Build(args) => build_cmd::run(&args),
        Command::Reduce(args) => reduce_cmd::run(&args),
        Command::Synth(args) => synth_cmd::run(&args),
        Command::Train(args) => train_cmd::run(&args),
        Command::TrainHead(args) => train_head_cmd::run(&args),
        Command::Eval(args) => eval_cmd::run(&args),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
