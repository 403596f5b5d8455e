//! `precompute reduce`: CLIP features (`.npy`, f32) to the index's compact quantised rows,
//! by the PCA `build` uses (turned to independent axes unless `--axes native`); writes the fitted map and the u8 rows for `precompute index`.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use crate::build_cmd::reduce_and_quantise;
use crate::compact::AxesChoice;
use crate::dataset::read_float_rows;
use crate::npy::{self, Matrix};
use crate::output::write_atomic;

/// Fit a PCA on features and write the compact quantised rows.
#[derive(Args)]
pub struct ReduceArgs {
    /// An (n, d) f32 .npy of CLIP features.
    #[arg(long)]
    features: PathBuf,
    /// Dims of the compact rows.
    #[arg(long, default_value_t = 32)]
    dims: usize,
    /// The axes: as `precompute build --axes`.
    #[arg(long, value_enum, default_value_t)]
    axes: AxesChoice,
    /// The fitted PCA (safetensors: mean, components, variances).
    #[arg(long)]
    pca: PathBuf,
    /// The (n, dims) u8 rows, for `precompute index --features`.
    #[arg(long)]
    out: PathBuf,
}

/// Runs the subcommand.
pub fn run(args: &ReduceArgs) -> Result<()> {
    let (features, dims_in) = read_float_rows(&args.features)?;
    let (pca, quantised) = reduce_and_quantise(&features, dims_in, args.dims, args.axes)?;
    write_atomic(&args.pca, &pca.to_safetensors())?;
    let rows = quantised.len() / args.dims;
    let matrix = Matrix::U8 {
        rows,
        cols: args.dims,
        data: quantised,
    };
    write_atomic(&args.out, &npy::write(&matrix))?;
    eprintln!(
        "reduced {rows} x {dims_in} to {} x {} ({})",
        rows,
        args.dims,
        args.out.display()
    );
    Ok(())
}
