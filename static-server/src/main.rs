//! `static-server`: serves the app and dataset folders as a static host would.
use clap::Parser;

/// Serve the clip-branches app and datasets.
#[derive(Parser)]
#[command(version, about)]
struct Cli {}

fn main() -> anyhow::Result<()> {
    let _cli = Cli::parse();
    Ok(())
}
