//! Writes the seed corpora that code can make, deterministically, into `fuzz/corpus/`:
//! the small index's shards and manifest, `.npy` arrays, safetensors (f32, f16, int8),
//! images of every decoded kind (one with camera EXIF, one in a camera's 4:2:0 with restart
//! markers), caption tables, texts and HTTP requests. The dataset JSON files, the CIFAR
//! batches and the PyTorch checkpoints are committed as made elsewhere (see
//! `fuzz/README.md`).
//!
//! `cargo run -p fuzz-targets --example write_seeds`

use std::io::Cursor;
use std::path::Path;

use anyhow::{Context, Result};
use clip::tensors::{Precision, Storage, export_tensors};
use clip::{RawTensor, TensorMap};
use exif::Tag;
use image::{ImageFormat, Rgb, RgbImage};
use ingest::exif::{ExifValue, with_exif};
use precompute::npy::{Array, Values, write_array};

fn main() -> Result<()> {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let put = |target: &str, name: &str, bytes: &[u8]| -> Result<()> {
        let dir = corpus.join(target);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = dir.join(name);
        std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))
    };

    for (i, seed) in fuzz_targets::index_shard_seeds().iter().enumerate() {
        put("index_shard", &format!("file-{i:02}"), seed)?;
    }
    put(
        "manifest",
        "small.json",
        &fuzz_targets::small_index_manifest(),
    )?;

    let arrays = [
        ("u8-2d.npy", vec![3, 4], Values::U8((0..12).collect())),
        (
            "f32-3d.npy",
            vec![2, 2, 2],
            Values::F32(vec![0.5, -1.0, 2.0, 1e-3, 0.0, -0.0, 7.0, 3.25]),
        ),
        ("f32-1d.npy", vec![3], Values::F32(vec![1.0, 2.0, 3.0])),
    ];
    for (name, shape, values) in arrays {
        put("npy", name, &write_array(&Array { shape, values }))?;
    }
    // Version 2.0, f64, as numpy writes a header over 64 KiB (here a short one).
    let header = "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }\n";
    let mut v2 = b"\x93NUMPY\x02\x00".to_vec();
    v2.extend_from_slice(&(header.len() as u32).to_le_bytes());
    v2.extend_from_slice(header.as_bytes());
    v2.extend(
        1.5f64
            .to_le_bytes()
            .into_iter()
            .chain((-2.0f64).to_le_bytes()),
    );
    put("npy", "f64-v2.npy", &v2)?;

    let mut tensors = TensorMap::default();
    let matrix = |rows: usize, cols: usize| RawTensor {
        shape: vec![rows, cols],
        values: (0..rows * cols).map(|i| (i as f32 - 5.0) / 7.0).collect(),
    };
    tensors.insert("text.proj", matrix(4, 3));
    tensors.insert("visual.proj", matrix(3, 2));
    tensors.insert(
        "logit_scale",
        RawTensor {
            shape: vec![],
            values: vec![4.6],
        },
    );
    for (name, storage) in [
        ("f32.safetensors", Storage::F32),
        ("f16.safetensors", Storage::Compact(Precision::F16)),
        ("int8.safetensors", Storage::Compact(Precision::Int8)),
    ] {
        put(
            "safetensors",
            name,
            &export_tensors(&tensors, |_, _| storage)?,
        )?;
    }

    let picture = RgbImage::from_fn(40, 24, |x, y| Rgb([(x * 6) as u8, (y * 10) as u8, 128]));
    for (name, format) in [
        ("small.png", ImageFormat::Png),
        ("small.jpg", ImageFormat::Jpeg),
        ("small.gif", ImageFormat::Gif),
        ("small.bmp", ImageFormat::Bmp),
        ("small.webp", ImageFormat::WebP),
    ] {
        let mut bytes = Cursor::new(Vec::new());
        picture
            .write_to(&mut bytes, format)
            .with_context(|| format!("encoding {name}"))?;
        let bytes = bytes.into_inner();
        put("image", name, &bytes)?;
        if format == ImageFormat::Jpeg {
            let camera = with_exif(
                &bytes,
                &[
                    (Tag::Orientation, ExifValue::Short(6)),
                    (
                        Tag::DateTimeOriginal,
                        ExifValue::Ascii("2023:05:01 14:02:33"),
                    ),
                    (Tag::OffsetTimeOriginal, ExifValue::Ascii("+02:00")),
                ],
            );
            put("image", "camera.jpg", &camera)?;
        }
    }
    // A camera's layout, large enough for ingest's 1/8-scale decode (its DC-only decoder):
    // 4:2:0 with restart markers every 8 MCUs.
    let camera = RgbImage::from_fn(520, 400, |x, y| Rgb([(x / 3) as u8, (y / 2) as u8, 90]));
    let mut bytes = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut bytes, 40);
    encoder.set_sampling_factor(jpeg_encoder::SamplingFactor::R_4_2_0);
    encoder.set_restart_interval(8);
    encoder.encode(camera.as_raw(), 520, 400, jpeg_encoder::ColorType::Rgb)?;
    put("image", "camera-420-restarts.jpg", &bytes)?;

    let tables: [(&str, &[u8]); 3] = [
        (
            "captions.csv",
            b"\0filename,caption\nimg/a.jpg,a red star\n\"img/b,c.jpg\",\"two \"\"blue\"\" hearts\"\nimg/c.png,\n",
        ),
        ("urls.csv", b"\0url,caption,filename\nhttps://example.invalid/a.jpg,a cat,a.jpg\n"),
        ("captions.tsv", b"\x01filename\tcaption\nphotos/IMG_0001.JPG\ta green heart\n"),
    ];
    for (name, bytes) in tables {
        put("csv_rows", name, bytes)?;
    }

    let texts = [
        ("plain.txt", "a photo of a cat"),
        (
            "mixed.txt",
            "Two hearts &amp; a STAR, 3 circles... don't stop!",
        ),
        ("mojibake.txt", "cafÃ© dÃ©jÃ  vu â€” naÃ¯ve"),
        ("scripts.txt", "東京の猫 🐱 Ελληνικά ١٢٣ naïve"),
        (
            "special.txt",
            "<start_of_text> text <end_of_text> \u{345}\u{200b}",
        ),
    ];
    for (name, text) in texts {
        put("tokenizer", name, text.as_bytes())?;
    }

    let requests: [(&str, &str); 6] = [
        ("get-root.http", "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"),
        (
            "get-shard-range.http",
            "GET /data/shapes/features-0000.0123456789abcdef.shard HTTP/1.1\r\nHost: a\r\nRange: bytes=10-99\r\n\r\n",
        ),
        (
            "suffix-range.http",
            "GET /data/shapes/dataset.json HTTP/1.1\r\nHost: a\r\nRange: bytes=-5000\r\nIf-None-Match: \"x\"\r\n\r\n",
        ),
        (
            "traversal.http",
            "GET /data/../../etc/passwd HTTP/1.1\r\nHost: a\r\n\r\n",
        ),
        (
            "head-link.http",
            "HEAD /data/shapes/outside.json HTTP/1.0\r\n\r\n",
        ),
        (
            "options-cors.http",
            "OPTIONS /data/catalog.json HTTP/1.1\r\nHost: a\r\nOrigin: http://b\r\nAccess-Control-Request-Method: GET\r\n\r\n",
        ),
    ];
    for (name, request) in requests {
        put("http_request", name, request.as_bytes())?;
    }
    Ok(())
}
