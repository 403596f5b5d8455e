//! `precompute`: turns a collection into a dataset folder that a browser can search.
use clap::Parser;

/// Build and query clip-branches datasets.
#[derive(Parser)]
#[command(version, about)]
struct Cli {}

fn main() -> anyhow::Result<()> {
    let _cli = Cli::parse();
    Ok(())
}
