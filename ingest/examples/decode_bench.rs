//! Decode + thumbnail throughput on camera-sized JPEGs, full decode against the scaled
//! decode `ingest::decode` picks: generates N 4000 x 3000 (12 MP) photo-like JPEGs in memory,
//! each with an EXIF orientation of 6 as a phone held upright writes and a date taken, and times on one
//! thread what ingest does per image (decode, turn upright, 256 px thumbnail) and what
//! extract does (decode for a 224 px CLIP input).
//! `cargo run --release -p ingest --example decode_bench -- [N]` (N defaults to 6).

use std::io::Cursor;
use std::time::Instant;

use ingest::decode::{Target, UprightDecoder};
use ingest::exif::{ExifValue, Tag, with_exif};
use ingest::process::thumbnail_jpeg;

const THUMB_SIZE: u32 = 256;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: u32 = match std::env::args().nth(1) {
        Some(n) => n.parse()?,
        None => 6,
    };
    let photos = (0..n).map(camera_jpeg).collect::<Result<Vec<_>, _>>()?;
    let megabytes = photos.iter().map(Vec::len).sum::<usize>() as f64 / 1e6;
    println!("{n} JPEGs of 4000 x 3000, {megabytes:.1} MB, EXIF orientation 6; one thread");
    let thumbnail = Target {
        min_short_side: 0,
        min_long_side: THUMB_SIZE,
        bottom_crop: 0,
    };
    let clip = Target {
        min_short_side: 224,
        min_long_side: 0,
        bottom_crop: 0,
    };
    for (name, target) in [
        ("thumbnail, full decode", Target::FULL_SIZE),
        ("thumbnail, scaled decode", thumbnail),
        ("CLIP input, full decode", Target::FULL_SIZE),
        ("CLIP input, scaled decode", clip),
    ] {
        let start = Instant::now();
        for bytes in &photos {
            let image = UprightDecoder::new(bytes)?.decode(image::Limits::default(), &target)?;
            if name.starts_with("thumbnail") {
                std::hint::black_box(thumbnail_jpeg(&image, THUMB_SIZE)?);
            } else {
                std::hint::black_box(image.into_rgb8());
            }
        }
        let seconds = start.elapsed().as_secs_f64();
        println!(
            "{name:>26}: {:7.1} images/s ({:.0} ms each)",
            f64::from(n) / seconds,
            seconds * 1000.0 / f64::from(n)
        );
    }
    Ok(())
}

/// Photo `seed`: shading, a disc and fine texture (so that the JPEG is as large as a
/// camera's, about 2-4 MB at quality 90), stored sideways with orientation 6, dated.
fn camera_jpeg(seed: u32) -> Result<Vec<u8>, image::ImageError> {
    let phase = seed as f32;
    let picture = image::RgbImage::from_fn(3000, 4000, |x, y| {
        let (fx, fy) = (x as f32, y as f32);
        let shade = 128.0 + 90.0 * (fx / 310.0 + phase).sin() * (fy / 270.0).cos();
        let disc = if (fx - 1200.0).hypot(fy - 1900.0) < 700.0 {
            50.0
        } else {
            0.0
        };
        let grain = ((x * 7 + y * 13 + seed) % 23) as f32;
        image::Rgb([
            (shade + disc + grain) as u8,
            (shade * 0.8 + grain + 20.0) as u8,
            (230.0 - shade * 0.6 - disc + grain) as u8,
        ])
    });
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut Cursor::new(&mut jpeg), 90)
        .encode_image(&picture)?;
    Ok(with_exif(
        &jpeg,
        &[
            (Tag::Orientation, ExifValue::Short(6)),
            (
                Tag::DateTimeOriginal,
                ExifValue::Ascii("2023:05:01 14:02:33"),
            ),
        ],
    ))
}
