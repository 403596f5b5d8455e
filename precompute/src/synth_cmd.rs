//! `precompute synth`: a synthetic captioned collection (see the `synth` crate) as PNG files,
//! a `captions.csv` (`filename,caption`, every caption naming every attribute) that
//! `precompute ingest` reads, and a `training.csv` for `precompute train` that adds, per
//! scene, captions naming only some attributes ("green hearts"), as queries do, and a
//! `scenes.csv` of each scene's description: the ground truth of benchmarks and tests.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, ensure};
use clap::Args;
use image::ImageEncoder;
use rayon::prelude::*;

use crate::output::write_atomic;

/// The table `precompute synth` writes, beside the `images/` folder.
pub const CAPTIONS_FILE: &str = "captions.csv";
/// The table of training text: each scene's full caption, then its partial captions.
pub const TRAINING_FILE: &str = "training.csv";
/// The table of ground truth: each scene's description, one column per attribute.
pub const SCENES_FILE: &str = "scenes.csv";
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
    /// Captions naming a subset of the attributes, per scene, in `training.csv` (beside
    /// the full caption).
    #[arg(long, default_value_t = 2)]
    pub partial_captions: u64,
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
    let scenes: Vec<(String, synth::Scene)> = (args.first..last)
        .into_par_iter()
        .map(|index| write_scene(&images, args.seed, index, args.size))
        .collect::<Result<_>>()?;
    let training = table(scenes.iter().flat_map(|(filename, scene)| {
        let partial =
            (0..args.partial_captions).map(|variant| synth::partial_caption(scene, variant));
        std::iter::once(synth::caption(scene))
            .chain(partial)
            .map(move |caption| (filename.as_str(), caption))
    }))?;
    write_atomic(&args.out.join(TRAINING_FILE), &training)?;
    write_atomic(&args.out.join(SCENES_FILE), &scenes_table(&scenes)?)?;
    // Written last: its presence marks the collection complete.
    let captions = table(
        scenes
            .iter()
            .map(|(filename, scene)| (filename.as_str(), synth::caption(scene))),
    )?;
    write_atomic(&args.out.join(CAPTIONS_FILE), &captions)?;
    eprintln!(
        "wrote {} scenes ({} px), {} and {}",
        scenes.len(),
        args.size,
        args.out.join(CAPTIONS_FILE).display(),
        args.out.join(TRAINING_FILE).display()
    );
    Ok(())
}

/// The ground truth: `filename,shape,colour,count,size,position,texture,background`, the
/// shape and colours as captions name them ("heart", "green"), the rest lower case.
fn scenes_table(scenes: &[(String, synth::Scene)]) -> Result<Vec<u8>> {
    let mut table = csv::Writer::from_writer(Vec::new());
    table.write_record([
        "filename",
        "shape",
        "colour",
        "count",
        "size",
        "position",
        "texture",
        "background",
    ])?;
    let lower = |value: &dyn std::fmt::Debug| format!("{value:?}").to_lowercase();
    for (filename, scene) in scenes {
        let d = &scene.description;
        table.write_record([
            filename.clone(),
            synth::caption::shape_word(d.shape, false).to_owned(),
            synth::caption::colour_word(d.colour).to_owned(),
            d.count.get().to_string(),
            lower(&d.size),
            lower(&d.position),
            lower(&d.background.texture),
            synth::caption::colour_word(d.background.colour).to_owned(),
        ])?;
    }
    table.into_inner().context("cannot build the scenes table")
}

/// A `filename,caption` CSV table of `rows`.
fn table<'a>(rows: impl Iterator<Item = (&'a str, String)>) -> Result<Vec<u8>> {
    let mut table = csv::Writer::from_writer(Vec::new());
    table.write_record(["filename", "caption"])?;
    for (filename, caption) in rows {
        table.write_record([filename, &caption])?;
    }
    table.into_inner().context("cannot build a captions table")
}

/// Renders scene `index`, writes its PNG, and returns its file name and scene.
fn write_scene(images: &Path, seed: u64, index: u64, size: u32) -> Result<(String, synth::Scene)> {
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
    Ok((format!("{IMAGES_DIR}/{name}"), scene))
}
