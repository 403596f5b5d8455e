//! Writes N varied gradient JPEGs (sizes 320..=800 x 240..=600, quality 90) into a folder,
//! the input of `ingest/bench/run.sh`: `cargo run --release -p ingest --example make_jpegs -- DIR N`.

use std::io::Cursor;
use std::path::PathBuf;

use rayon::prelude::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().ok_or("usage: make_jpegs DIR N")?);
    let n: u32 = args.next().ok_or("usage: make_jpegs DIR N")?.parse()?;
    std::fs::create_dir_all(&dir)?;
    (0..n)
        .into_par_iter()
        .try_for_each(|i| {
            // A cheap deterministic mix so that sizes, directions and colours vary.
            let h = i.wrapping_mul(2_654_435_761);
            let width = 320 + (h % 481);
            let height = 240 + ((h >> 9) % 361);
            let (a, b, c) = ((h >> 3) % 256, (h >> 11) % 256, (h >> 19) % 256);
            let image = image::RgbImage::from_fn(width, height, |x, y| {
                image::Rgb([
                    ((x * 255 / width + a) % 256) as u8,
                    ((y * 255 / height + b) % 256) as u8,
                    (((x + y) * 127 / (width + height) + c + (x * y) % 7) % 256) as u8,
                ])
            });
            let mut bytes = Vec::new();
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut Cursor::new(&mut bytes), 90)
                .encode_image(&image)?;
            std::fs::write(dir.join(format!("gradient_{i:05}.jpg")), bytes)?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
        })
        .map_err(|e| e as Box<dyn std::error::Error>)?;
    println!("wrote {n} JPEGs to {}", dir.display());
    Ok(())
}
