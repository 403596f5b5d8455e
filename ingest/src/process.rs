//! The per-item stage: caption clean-up (a paired caption that describes nothing skips the
//! item, an optional one leaves it uncaptioned), the image filters (empty file, not an image,
//! unsupported format, a HEIF in a build without the `heif` feature, huge dimensions read
//! from the header before any decoding, truncated or undecodable data, too small after the
//! optional bottom crop) and the thumbnail.
//! [`inspect`] and [`thumbnail_jpeg`] work on bytes; [`process`] adds the file I/O.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use dataset::SkippedItem;
use image::{DynamicImage, ImageError, ImageFormat, ImageReader, Limits};

use crate::caption::{CaptionProblem, clean_caption};
use crate::decode::{Target, UprightDecoder};
use crate::heif;
use crate::local_file::{LocalFileError, MAX_IMAGE_FILE_BYTES, read_regular_file};
use crate::memo::{Outcome, OutcomeMemo};
use crate::output::write_content_named;
use crate::source::{Candidate, ImageData, SourceCaption};
use crate::{IngestError, skipped};

/// The filters' settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterOptions {
    /// Least short side in pixels (after the bottom crop).
    pub min_size: u32,
    /// Largest width x height decoded; larger images are refused from their header.
    pub max_pixels: u64,
    /// Rows cut from the bottom of every image (a watermark strip), 0 for none.
    pub bottom_crop: u32,
    /// Keep items whose paired caption (CSV, URL list) is empty or junk, with an empty
    /// caption, instead of skipping them. Optional captions (sidecars, file names) never
    /// skip an item.
    pub allow_empty_captions: bool,
}

impl Default for FilterOptions {
    fn default() -> Self {
        Self {
            min_size: 32,
            max_pixels: 50_000_000,
            bottom_crop: 0,
            allow_empty_captions: false,
        }
    }
}

/// A skip reason and its detail.
pub type Rejection = (&'static str, String);

/// An image that passed the filters.
#[derive(Debug)]
pub struct Inspected {
    /// The decoded image, upright (its EXIF orientation applied), bottom crop applied; a
    /// big JPEG at a reduced scale.
    pub image: DynamicImage,
    /// Original width, upright.
    pub width: u32,
    /// Original height, upright.
    pub height: u32,
    /// When the photo was taken, from its EXIF: [`dataset::Item::date_taken`].
    pub date_taken: Option<String>,
}

/// Applies the image filters to `bytes` and decodes them for a thumbnail of `thumb_size`
/// (a big JPEG at a reduced scale whose long side still reaches it).
pub fn inspect(
    bytes: &[u8],
    filters: &FilterOptions,
    thumb_size: u32,
) -> Result<Inspected, Rejection> {
    if bytes.is_empty() {
        return Err(("empty_file", "the file holds 0 bytes".into()));
    }
    let format = if heif::is_heif(bytes) {
        if !heif::DECODED {
            return Err(("heif_unsupported", heif::UNSUPPORTED.to_owned()));
        }
        None
    } else {
        let format = ImageReader::new(Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|e| ("unreadable", e.to_string()))?
            .format()
            .ok_or(("not_an_image", "no known image signature".to_owned()))?;
        Some(format)
    };
    let decoder = UprightDecoder::new(bytes).map_err(rejection)?;
    let (width, height) = decoder.dimensions();
    let date_taken = decoder.date_taken().map(str::to_owned);
    let pixels = u64::from(width) * u64::from(height);
    if pixels > filters.max_pixels {
        return Err((
            "too_large",
            format!(
                "{width} x {height} is over the {}-pixel limit",
                filters.max_pixels
            ),
        ));
    }
    let kept_height = height.saturating_sub(filters.bottom_crop);
    if width.min(kept_height) < filters.min_size {
        return Err((
            "too_small",
            format!(
                "{width} x {kept_height}{} is below {} px on its short side",
                if filters.bottom_crop > 0 {
                    " after the bottom crop"
                } else {
                    ""
                },
                filters.min_size
            ),
        ));
    }
    if format == Some(ImageFormat::Jpeg) && !jpeg_is_complete(bytes) {
        return Err((
            "truncated",
            "the JPEG data ends before its end marker".into(),
        ));
    }
    let mut limits = Limits::default();
    // 8 bytes per pixel covers 16-bit RGBA, the widest layout the decoders produce.
    limits.max_alloc = Some(filters.max_pixels.saturating_mul(8));
    let target = Target {
        min_short_side: 0,
        min_long_side: thumb_size,
        bottom_crop: filters.bottom_crop,
    };
    let image = decoder.decode(limits, &target).map_err(rejection)?;
    Ok(Inspected {
        image,
        width,
        height,
        date_taken,
    })
}

fn rejection(error: ImageError) -> Rejection {
    let reason = match error {
        ImageError::Unsupported(_) => "unsupported_format",
        ImageError::Limits(_) => "too_large",
        _ => "undecodable",
    };
    (reason, error.to_string())
}

/// Whether a JPEG's last scan is followed by its end-of-image marker. The JPEG decoder
/// fills a cut-off scan with grey instead of failing, so a truncated file is caught here:
/// `FF D9` cannot occur inside entropy-coded data (an `FF` there is stuffed with `00`).
/// Searched from the end: the end marker is near it, and only the bytes after it are then
/// searched for a scan (a 12 MP photo's scan is 3 MB before it).
fn jpeg_is_complete(bytes: &[u8]) -> bool {
    let has_scan = |bytes: &[u8]| bytes.windows(2).any(|w| w == [0xff, 0xda]);
    match bytes.windows(2).rposition(|w| w == [0xff, 0xd9]) {
        Some(end) => !has_scan(&bytes[end..]),
        None => !has_scan(bytes),
    }
}

/// The thumbnail of `image`: long side at most `size` (never enlarged), RGB, JPEG quality
/// 85. The same image gives the same bytes. `thumbnail` averages the source pixels each
/// target pixel covers (integer arithmetic): as sharp as a triangle filter for downscaling,
/// and the whole ingest took 2.3 times less CPU with it (10.0 s to 4.3 s per 1,000 JPEGs).
pub fn thumbnail_jpeg(image: &DynamicImage, size: u32) -> Result<Vec<u8>, ImageError> {
    let rgb = if image.width().max(image.height()) > size {
        image.thumbnail(size, size).into_rgb8()
    } else {
        image.to_rgb8()
    };
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 85).encode_image(&rgb)?;
    Ok(jpeg)
}

/// An item that passed every filter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    /// The item's metadata.
    pub item: dataset::Item,
    /// Absolute path of the bytes to encode.
    pub image_path: PathBuf,
    /// blake3 of those bytes.
    pub content_hash: blake3::Hash,
}

/// Filters one candidate and writes its thumbnail under `out/thumbs/` (and, for bytes made
/// in memory, the image under `out/.work/`). `Ok(Err(_))` is a skip; `Err` is an output
/// failure, which stops the run.
pub fn process(
    candidate: &Candidate,
    filters: &FilterOptions,
    thumb_size: u32,
    out: &Path,
    memo: &OutcomeMemo,
) -> Result<Result<Accepted, SkippedItem>, IngestError> {
    let skip = |(reason, detail): Rejection| skipped(candidate.label.clone(), reason, detail);
    let caption = match (clean_caption(candidate.caption.text()), &candidate.caption) {
        (Ok(caption), _) => caption,
        (Err(_), SourceCaption::Optional(_)) => String::new(),
        (Err(_), SourceCaption::Paired(_)) if filters.allow_empty_captions => String::new(),
        (Err(problem), SourceCaption::Paired(raw)) => {
            let detail = match problem {
                CaptionProblem::Empty => "nothing is left after clean-up".to_owned(),
                CaptionProblem::Junk => format!("'{}' describes nothing", raw.trim()),
            };
            return Ok(Err(skip((problem.reason(), detail))));
        }
    };
    let read;
    let bytes: &[u8] = match &candidate.image {
        ImageData::File(path) => match read_regular_file(path, MAX_IMAGE_FILE_BYTES) {
            Ok(bytes) => {
                read = bytes;
                &read
            }
            Err(error) => {
                let reason = match &error {
                    LocalFileError::Io(io) if io.kind() == std::io::ErrorKind::NotFound => {
                        "missing_file"
                    }
                    LocalFileError::NotRegular { .. } => "not_a_file",
                    LocalFileError::TooLarge { .. } => "too_large",
                    _ => "unreadable",
                };
                return Ok(Err(skip((reason, format!("{}: {error}", path.display())))));
            }
        },
        ImageData::Memory { bytes, .. } => bytes,
    };
    let content_hash = blake3::hash(bytes);
    // Bytes inspected before (an earlier build, or a part of a split one) are not decoded
    // again while their thumbnail is there, whole.
    let outcome = match memo.get(&content_hash) {
        Some(Outcome::Accepted { ref thumb, .. }) if !thumb_is_whole(out, thumb) => None,
        known => known,
    };
    let outcome = match outcome {
        Some(outcome) => outcome,
        None => {
            let outcome = inspect_and_thumbnail(bytes, filters, thumb_size, out)?;
            memo.put(&content_hash, &outcome)?;
            outcome
        }
    };
    let (thumb, width, height, date_taken) = match outcome {
        Outcome::Accepted {
            thumb,
            width,
            height,
            date_taken,
        } => (thumb, width, height, date_taken),
        Outcome::Rejected { reason, detail } => {
            return Ok(Err(skipped(candidate.label.clone(), &reason, detail)));
        }
    };
    let image_path = match &candidate.image {
        ImageData::File(path) => std::path::absolute(path).map_err(|source| IngestError::Read {
            path: path.clone(),
            source,
        })?,
        ImageData::Memory {
            bytes,
            ext,
            work_folder,
        } => {
            let path = out
                .join(".work")
                .join(work_folder)
                .join(format!("{}.{ext}", &content_hash.to_hex()[..16]));
            write_content_named(&path, bytes)?;
            std::path::absolute(&path).map_err(|source| IngestError::Read { path, source })?
        }
    };
    Ok(Ok(Accepted {
        item: dataset::Item {
            caption,
            thumb,
            source: candidate.source.clone(),
            width,
            height,
            date_taken,
        },
        image_path,
        content_hash,
    }))
}

/// Whether the thumbnail `thumb` is in `out` with the bytes its name hashes
/// ([`dataset::thumb_name`]): a damaged one is made again, as a rerun repairs every file
/// it names.
fn thumb_is_whole(out: &Path, thumb: &str) -> bool {
    std::fs::read(out.join(thumb)).is_ok_and(|bytes| dataset::thumb_name(&bytes) == thumb)
}

/// Inspects `bytes` and writes their thumbnail into `out`: what [`process`] records.
fn inspect_and_thumbnail(
    bytes: &[u8],
    filters: &FilterOptions,
    thumb_size: u32,
    out: &Path,
) -> Result<Outcome, IngestError> {
    let rejected = |(reason, detail): Rejection| Outcome::Rejected {
        reason: reason.to_owned(),
        detail,
    };
    let inspected = match inspect(bytes, filters, thumb_size) {
        Ok(inspected) => inspected,
        Err(rejection) => return Ok(rejected(rejection)),
    };
    let jpeg = match thumbnail_jpeg(&inspected.image, thumb_size) {
        Ok(jpeg) => jpeg,
        Err(error) => return Ok(rejected(("undecodable", error.to_string()))),
    };
    let thumb = dataset::thumb_name(&jpeg);
    write_content_named(&out.join(&thumb), &jpeg)?;
    Ok(Outcome::Accepted {
        thumb,
        width: inspected.width,
        height: inspected.height,
        date_taken: inspected.date_taken,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let image = image::RgbImage::from_fn(width, height, |x, y| {
            image::Rgb([(x * 7) as u8, (y * 5) as u8, ((x + y) * 3) as u8])
        });
        let mut bytes = Vec::new();
        DynamicImage::ImageRgb8(image)
            .write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png)
            .unwrap();
        bytes
    }

    fn jpeg(width: u32, height: u32) -> Vec<u8> {
        let image = image::load_from_memory(&png(width, height)).unwrap();
        let mut bytes = Vec::new();
        image
            .write_to(&mut Cursor::new(&mut bytes), ImageFormat::Jpeg)
            .unwrap();
        bytes
    }

    fn reason(bytes: &[u8], filters: &FilterOptions) -> &'static str {
        inspect(bytes, filters, 256).unwrap_err().0
    }

    #[test]
    fn filters_name_their_reason() {
        let f = FilterOptions::default();
        assert_eq!(reason(b"", &f), "empty_file");
        assert_eq!(reason(b"hello, not an image", &f), "not_an_image");
        assert_eq!(reason(&png(20, 100), &f), "too_small");
        let full = jpeg(64, 64);
        assert_eq!(reason(&full[..full.len() / 2], &f), "truncated");
        let mut corrupt = png(64, 64);
        let len = corrupt.len();
        corrupt[len / 2..len - 12].fill(0);
        assert_eq!(reason(&corrupt, &f), "undecodable");
        let tiny_limit = FilterOptions {
            max_pixels: 64 * 63,
            ..FilterOptions::default()
        };
        assert_eq!(reason(&png(64, 64), &tiny_limit), "too_large");
        let cropped = FilterOptions {
            bottom_crop: 40,
            ..FilterOptions::default()
        };
        assert_eq!(reason(&png(64, 64), &cropped), "too_small");
        let heic = crate::heif::tests::SIDEWAYS_HEIC;
        if heif::DECODED {
            let ok = inspect(heic, &f, 256).unwrap();
            assert_eq!((ok.width, ok.height), (96, 64));
        } else {
            assert_eq!(reason(heic, &f), "heif_unsupported");
        }
        let ok = inspect(&png(64, 80), &cropped, 256).unwrap();
        assert_eq!((ok.width, ok.height, ok.image.height()), (64, 80, 40));
        assert!(inspect(&full, &f, 256).is_ok());
    }

    #[test]
    fn exif_orientations_are_turned_upright_before_the_thumbnail() {
        use crate::exif::{ExifValue, Tag, with_exif};
        use image::imageops::{flip_horizontal, flip_vertical, rotate90, rotate180, rotate270};
        // A smooth gradient, the same under no turn or flip, that JPEG keeps closely.
        let upright = image::RgbImage::from_fn(96, 64, |x, y| {
            image::Rgb([(x * 2) as u8, (y * 3) as u8, (128 + x - y / 2) as u8])
        });
        let encode = |image: &image::RgbImage| {
            let mut bytes = Vec::new();
            image
                .write_to(&mut Cursor::new(&mut bytes), ImageFormat::Jpeg)
                .unwrap();
            bytes
        };
        let thumb = |bytes: &[u8]| {
            let inspected = inspect(bytes, &FilterOptions::default(), 48).unwrap();
            let jpeg = thumbnail_jpeg(&inspected.image, 48).unwrap();
            let thumb = image::load_from_memory(&jpeg).unwrap().into_rgb8();
            ((inspected.width, inspected.height), thumb)
        };
        let (size, expected) = thumb(&encode(&upright));
        assert_eq!(size, (96, 64));
        // How each orientation is stored: the inverse of the turn EXIF says to apply.
        let stored: [(u16, image::RgbImage); 7] = [
            (2, flip_horizontal(&upright)),
            (3, rotate180(&upright)),
            (4, flip_vertical(&upright)),
            (5, flip_horizontal(&rotate90(&upright))),
            (6, rotate270(&upright)),
            (7, flip_horizontal(&rotate270(&upright))),
            (8, rotate90(&upright)),
        ];
        for (orientation, pixels) in stored {
            let exif = [(Tag::Orientation, ExifValue::Short(orientation))];
            let (size, thumbnail) = thumb(&with_exif(&encode(&pixels), &exif));
            assert_eq!(size, (96, 64), "orientation {orientation}");
            assert_eq!(thumbnail.dimensions(), expected.dimensions());
            let differences: Vec<u32> = thumbnail
                .as_raw()
                .iter()
                .zip(expected.as_raw())
                .map(|(a, b)| u32::from(a.abs_diff(*b)))
                .collect();
            let mean = differences.iter().sum::<u32>() as f64 / differences.len() as f64;
            let max = differences.iter().max().unwrap();
            // JPEG's 8x8 blocks fall elsewhere on a turned picture: small differences only.
            assert!(
                mean < 2.0 && *max < 24,
                "orientation {orientation}: mean {mean}, max {max}"
            );
        }
    }

    #[test]
    fn thumbnails_are_bounded_and_deterministic() {
        let image = image::load_from_memory(&png(300, 120)).unwrap();
        let a = thumbnail_jpeg(&image, 100).unwrap();
        assert_eq!(a, thumbnail_jpeg(&image, 100).unwrap());
        let thumb = image::load_from_memory(&a).unwrap();
        assert_eq!((thumb.width(), thumb.height()), (100, 40));
        let small = image::load_from_memory(&png(50, 40)).unwrap();
        let thumb = image::load_from_memory(&thumbnail_jpeg(&small, 100).unwrap()).unwrap();
        assert_eq!((thumb.width(), thumb.height()), (50, 40));
    }
}
