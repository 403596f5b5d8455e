//! Decode + thumbnail throughput on camera-sized JPEGs, full decode against the scaled
//! decode `ingest::decode` picks, by each [`ScaledJpegDecoder`] the build has: generates N
//! 4000 x 3000 (12 MP) photo-like JPEGs in memory, 4:2:0 as phones and most cameras store
//! them and then 4:4:4, each with an EXIF orientation of 6 as a phone held upright writes
//! and a date taken, and times on one thread what ingest does per
//! image (decode, turn upright, 256 px thumbnail) and what extract does (decode for a 224 px
//! CLIP input). Images per second are counted against the CPU time the process's threads
//! ran (Linux), so that other work sharing the cores does not count, and against the wall
//! clock.
//! `RAYON_NUM_THREADS=1 cargo run --release -p ingest --example decode_bench [--features
//! turbojpeg] -- [N]` (N defaults to 6); `-- N FOLDER` writes the N 4:2:0 photos to FOLDER
//! instead (`IMG_0000.JPG`...).

use std::io::Cursor;
use std::time::Instant;

use ingest::decode::{ScaledJpegDecoder, Target, UprightDecoder};
use ingest::exif::{ExifValue, Tag, with_exif};
use ingest::process::thumbnail_jpeg;

const THUMB_SIZE: u32 = 256;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let n: u32 = match args.next() {
        Some(n) => n.parse()?,
        None => 6,
    };
    if let Some(folder) = args.next() {
        // The 4:2:0 photos as files, the input of `ingest/bench/camera.sh`.
        std::fs::create_dir_all(&folder)?;
        for seed in 0..n {
            let path = std::path::Path::new(&folder).join(format!("IMG_{seed:04}.JPG"));
            std::fs::write(path, camera_jpeg(seed, Subsampling::Chroma420)?)?;
        }
        println!("wrote {n} photos to {folder}");
        return Ok(());
    }
    for subsampling in [Subsampling::Chroma420, Subsampling::None444] {
        let photos = (0..n)
            .map(|seed| camera_jpeg(seed, subsampling))
            .collect::<Result<Vec<_>, _>>()?;
        let megabytes = photos.iter().map(Vec::len).sum::<usize>() as f64 / 1e6;
        println!(
            "{n} JPEGs of 4000 x 3000, {subsampling:?}, {megabytes:.1} MB, EXIF orientation 6; one thread"
        );
        time_decoders(&photos)?;
    }
    Ok(())
}

/// Chroma subsampling of the generated photos: phones and most cameras store 4:2:0.
#[derive(Clone, Copy, Debug)]
enum Subsampling {
    Chroma420,
    None444,
}

fn time_decoders(photos: &[Vec<u8>]) -> Result<(), Box<dyn std::error::Error>> {
    let n = photos.len() as u32;
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
    let scaled_decoders = [
        ("jpeg-decoder", ScaledJpegDecoder::JpegDecoder),
        #[cfg(feature = "turbojpeg")]
        ("libjpeg-turbo", ScaledJpegDecoder::LibjpegTurbo),
        ("DC only", ScaledJpegDecoder::DcOnly),
    ];
    for (output, target) in [("thumbnail", thumbnail), ("CLIP input", clip)] {
        let full = (format!("{output}, full decode"), Target::FULL_SIZE, None);
        let scaled = scaled_decoders.map(|(decoder_name, decoder)| {
            let name = format!("{output}, scaled, {decoder_name}");
            (name, target, Some(decoder))
        });
        for (name, target, scaled_decoder) in std::iter::once(full).chain(scaled) {
            let (start, cpu_start) = (Instant::now(), cpu_seconds());
            for bytes in photos {
                let decoder = UprightDecoder::new(bytes)?;
                let decoder = match scaled_decoder {
                    Some(scaled_decoder) => decoder.with_scaled_jpeg_decoder(scaled_decoder),
                    None => decoder,
                };
                let image = decoder.decode(image::Limits::default(), &target)?;
                if output == "thumbnail" {
                    std::hint::black_box(thumbnail_jpeg(&image, THUMB_SIZE)?);
                } else {
                    std::hint::black_box(image.into_rgb8());
                }
            }
            let seconds = start.elapsed().as_secs_f64();
            let per_cpu_second = match (cpu_start, cpu_seconds()) {
                (Some(start), Some(end)) => {
                    let cpu = end - start;
                    format!(
                        "{:5.1} images/s per CPU second ({:3.0} ms each), ",
                        f64::from(n) / cpu,
                        cpu * 1000.0 / f64::from(n)
                    )
                }
                _ => String::new(),
            };
            println!(
                "{name:>36}: {per_cpu_second}{:5.1} images/s wall",
                f64::from(n) / seconds,
            );
        }
    }
    Ok(())
}

/// CPU seconds the process's threads have run, from each one's `schedstat` (nanoseconds);
/// `None` off Linux.
fn cpu_seconds() -> Option<f64> {
    let mut nanoseconds = 0;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let schedstat = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
        nanoseconds += schedstat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(nanoseconds as f64 / 1e9)
}

/// Photo `seed`: shading, a disc and fine texture (so that the JPEG is as large as a
/// camera's, about 2-4 MB at quality 90), stored sideways with orientation 6, dated.
fn camera_jpeg(seed: u32, subsampling: Subsampling) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
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
    match subsampling {
        Subsampling::Chroma420 => {
            let mut encoder = jpeg_encoder::Encoder::new(&mut jpeg, 90);
            encoder.set_sampling_factor(jpeg_encoder::SamplingFactor::R_4_2_0);
            encoder.encode(picture.as_raw(), 3000, 4000, jpeg_encoder::ColorType::Rgb)?;
        }
        Subsampling::None444 => {
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut Cursor::new(&mut jpeg), 90)
                .encode_image(&picture)?;
        }
    }
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
