//! `precompute synth`: a synthetic captioned collection (see the `synth` crate) as PNG files
//! and a `captions.csv` (`filename,caption`) that `precompute ingest` and `train` read.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, ensure};
use clap::Args;
use image::ImageEncoder;
use rayon::prelude::*;

use crate::output::write_atomic;

/// The table `precompute synth` writes, beside the `images/` folder.
pub const CAPTIONS_FILE: &str = "captions.csv";
/// The folder of images inside the output folder.
pub const IMAGES_DIR: &str = "images";

/// Write a seeded collection of captioned shape scenes.
#[derive(Args)]
pub struct SynthArgs {
    /// Output folder; created if missing.
    #[arg(long)]
    pub out: PathBuf,
    /// Scenes to make.
    #[arg(long, default_value_t = 20_000)]
    pub count: u64,
    /// Index of the first scene: disjoint ranges of one seed are disjoint collections
    /// (held-out sets).
    #[arg(long, default_value_t = 0)]
    pub first: u64,
    /// Image side in pixels.
    #[arg(long, default_value_t = 64)]
    pub size: u32,
    /// Seed of the collection.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// Runs the subcommand.
pub fn run(args: &SynthArgs) -> Result<()> {
    ensure!(args.count > 0, "--count must be positive");
    let images = args.out.join(IMAGES_DIR);
    fs::create_dir_all(&images).with_context(|| format!("cannot create {}", images.display()))?;
    let last = args
        .first
        .checked_add(args.count)
        .context("--first + --count overflows")?;
    let rows: Vec<(String, String)> = (args.first..last)
        .into_par_iter()
        .map(|index| write_scene(&images, args.seed, index, args.size))
        .collect::<Result<_>>()?;
    let mut table = csv::Writer::from_writer(Vec::new());
    table.write_record(["filename", "caption"])?;
    for (filename, caption) in &rows {
        table.write_record([filename, caption])?;
    }
    let table = table
        .into_inner()
        .context("cannot build the captions table")?;
    write_atomic(&args.out.join(CAPTIONS_FILE), &table)?;
    eprintln!(
        "wrote {} scenes ({} px) and {}",
        rows.len(),
        args.size,
        args.out.join(CAPTIONS_FILE).display()
    );
    Ok(())
}

/// Renders scene `index`, writes its PNG, and returns its table row.
fn write_scene(images: &Path, seed: u64, index: u64, size: u32) -> Result<(String, String)> {
    let scene = synth::scene(seed, index);
    let pixels = synth::render(&scene, size)?;
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new(&mut png)
        .write_image(&pixels, size, size, image::ExtendedColorType::Rgb8)
        .with_context(|| format!("cannot encode scene {index}"))?;
    let name = format!("{index:06}.png");
    // A plain write: the table, written last and atomically, is what marks the collection
    // complete, and a rerun rewrites every image.
    let path = images.join(&name);
    fs::write(&path, &png).with_context(|| format!("cannot write {}", path.display()))?;
    Ok((format!("{IMAGES_DIR}/{name}"), synth::caption(&scene)))
}
