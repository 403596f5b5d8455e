//! `precompute reduce`: CLIP features (`.npy`, f32) to the index's compact quantised rows,
//! by the PCA `build` uses; writes the fitted map and the u8 rows for `precompute index`.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;

use crate::build_cmd::reduce_and_quantise;
use crate::npy::{self, Dtype, Matrix};
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
    /// The fitted PCA (safetensors: mean, components, variances).
    #[arg(long)]
    pca: PathBuf,
    /// The (n, dims) u8 rows, for `precompute index --features`.
    #[arg(long)]
    out: PathBuf,
}

/// Reads a 2-D f32/f64 `.npy` file block by block into f32 rows: the file's bytes are never
/// held beside the values, which halves the peak memory on big feature files.
fn read_float_rows(path: &Path) -> Result<(Vec<f32>, usize)> {
    let mut file = File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut head = Vec::new();
    (&mut file)
        .take(1 << 20)
        .read_to_end(&mut head)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let header = npy::read_header(&head).with_context(|| path.display().to_string())?;
    let [rows, cols] = header.shape[..] else {
        bail!(
            "{}: shape {:?} is not (rows, dims)",
            path.display(),
            header.shape
        );
    };
    if header.dtype == Dtype::U8 {
        bail!(
            "{}: expected f32 or f64 features, found uint8",
            path.display()
        );
    }
    let expected = header
        .data_len()
        .with_context(|| format!("{}: shape too large", path.display()))?;
    let found = file
        .metadata()?
        .len()
        .saturating_sub(header.data_start as u64);
    if found != expected as u64 {
        bail!(
            "{}: data holds {found} bytes, the shape needs {expected}",
            path.display()
        );
    }
    file.seek(SeekFrom::Start(header.data_start as u64))?;
    let mut values = Vec::with_capacity(rows * cols);
    // A multiple of 8 bytes, so no element straddles two blocks.
    let mut block = vec![0u8; 16 << 20];
    let mut left = expected;
    while left > 0 {
        let take = left.min(block.len());
        file.read_exact(&mut block[..take])
            .with_context(|| format!("cannot read {}", path.display()))?;
        values.extend(npy::floats(header.dtype, &block[..take]));
        left -= take;
    }
    Ok((values, cols))
}

/// Runs the subcommand.
pub fn run(args: &ReduceArgs) -> Result<()> {
    let (features, dims_in) = read_float_rows(&args.features)?;
    let (pca, quantised) = reduce_and_quantise(&features, dims_in, args.dims)?;
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
