//! Decoding an image the way it is shown and at the size it is needed.
//!
//! - The EXIF orientation a camera writes instead of turning the pixels (a photo taken
//!   sideways is stored sideways, orientation 6 or 8) is applied right after decoding, so
//!   the thumbnail and CLIP's preprocessing both see the picture upright.
//! - A JPEG much larger than the caller needs (a 12 MP photo for a 256 px thumbnail or a
//!   224 px CLIP input) is decoded at 1/2, 1/4 or 1/8 scale by the JPEG's own DCT scaling,
//!   never below the [`Target`]'s sides: a fraction of the work of a full decode, and
//!   close to it once resized (the 1/8 scale is each 8x8 block's mean). The
//!   [`ScaledJpegDecoder`] doing it at 1/8 is our own DC-only decoder, which passes over
//!   the AC codes without decoding them; at 1/2 and 1/4, or for a layout it does not read,
//!   the system's libjpeg-turbo in a build with the `turbojpeg` feature, else
//!   `jpeg-decoder`.
//!
//! [`UprightDecoder`] tells the upright size from the header, before anything is decoded,
//! and the date the photo was taken, read from the same EXIF block as the orientation.
//!
//! ```
//! # let bytes = {
//! #     let mut png = Vec::new();
//! #     image::DynamicImage::new_rgb8(4, 3)
//! #         .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
//! #         .unwrap();
//! #     png
//! # };
//! use ingest::decode::{Target, UprightDecoder};
//! let image = UprightDecoder::new(&bytes)?.decode(image::Limits::default(), &Target::FULL_SIZE)?;
//! assert_eq!((image.width(), image.height()), (4, 3));
//! # Ok::<(), image::ImageError>(())
//! ```

use std::io::Cursor;

use image::metadata::Orientation;
use image::{
    DynamicImage, GrayImage, ImageDecoder, ImageFormat, ImageReader, ImageResult, Limits, RgbImage,
};

use crate::exif::PhotoExif;
use crate::heif;

mod jpeg_dc;
#[cfg(feature = "turbojpeg")]
mod libjpeg_turbo;

/// What a caller makes of the decoded picture: the sides it resizes from at the least, and
/// the rows it cuts off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Target {
    /// Least short side (after the bottom crop) the caller resizes from: CLIP's input size.
    pub min_short_side: u32,
    /// Least long side the caller resizes from: the thumbnail size.
    pub min_long_side: u32,
    /// Rows cut from the bottom of the upright picture (a watermark strip), counted at its
    /// full size; cut in proportion when it is decoded smaller.
    pub bottom_crop: u32,
}

impl Target {
    /// Every pixel, nothing cut.
    pub const FULL_SIZE: Target = Target {
        min_short_side: u32::MAX,
        min_long_side: u32::MAX,
        bottom_crop: 0,
    };

    /// The eighths (1, 2, 4 or 8) of each side a JPEG of upright `width` x `height` is
    /// decoded at: the fewest that keep both sides at or above the target's.
    fn jpeg_eighths(&self, width: u32, height: u32) -> u32 {
        let kept_height = height.saturating_sub(self.bottom_crop);
        [1, 2, 4]
            .into_iter()
            .find(|&eighths| {
                let (w, h) = (scaled(width, eighths), scaled(kept_height, eighths));
                w.min(h) >= self.min_short_side && w.max(h) >= self.min_long_side
            })
            .unwrap_or(8)
    }
}

/// `side` at `eighths`/8, rounded up as the JPEG decoder's DCT scaling does.
fn scaled(side: u32, eighths: u32) -> u32 {
    (side * eighths).div_ceil(8)
}

/// The decoder that gives a big JPEG at 1/2, 1/4 or 1/8 of each side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ScaledJpegDecoder {
    /// `jpeg-decoder` (pure Rust).
    JpegDecoder,
    /// The system's libjpeg-turbo (the `turbojpeg` feature). Both read every coefficient
    /// (a baseline JPEG's Huffman codes cannot be skipped) and run a scaled inverse DCT;
    /// libjpeg-turbo's entropy decoder is the faster, about 1.3 times on a 12 MP photo
    /// (ingest's README, "Benchmark").
    #[cfg(feature = "turbojpeg")]
    LibjpegTurbo,
    /// At 1/8 scale, a camera's baseline JPEG from its DC coefficients alone, the AC codes
    /// passed over by table look-up (pure Rust, `jpeg_dc`); other scales and layouts go to
    /// [`ScaledJpegDecoder::LESSER`].
    DcOnly,
}

impl ScaledJpegDecoder {
    /// The fastest this build has: [`ScaledJpegDecoder::DcOnly`].
    pub const FASTEST: ScaledJpegDecoder = ScaledJpegDecoder::DcOnly;

    /// The fastest of the decoders that read every coefficient: libjpeg-turbo with the
    /// `turbojpeg` feature, else `jpeg-decoder`.
    pub const LESSER: ScaledJpegDecoder = {
        #[cfg(feature = "turbojpeg")]
        let lesser = ScaledJpegDecoder::LibjpegTurbo;
        #[cfg(not(feature = "turbojpeg"))]
        let lesser = ScaledJpegDecoder::JpegDecoder;
        lesser
    };

    /// `bytes`, a JPEG, decoded at `eighths`/8 of each side within `limits`; `None` leaves
    /// it to the full decode: a pixel layout the scaled decoder does not give as RGB or
    /// grey (CMYK, 16-bit), or data it refuses (both are stricter than `zune-jpeg`, which
    /// decodes a stray `FF` in the scan data, so the full decoder judges such files).
    fn decode(self, bytes: &[u8], eighths: u32, limits: &Limits) -> Option<DynamicImage> {
        match self {
            ScaledJpegDecoder::JpegDecoder => decode_jpeg_scaled(bytes, eighths, limits),
            #[cfg(feature = "turbojpeg")]
            ScaledJpegDecoder::LibjpegTurbo => libjpeg_turbo::decode_scaled(bytes, eighths, limits),
            ScaledJpegDecoder::DcOnly => match eighths {
                1 => jpeg_dc::decode_eighth(bytes, limits),
                _ => None,
            }
            .or_else(|| Self::LESSER.decode(bytes, eighths, limits)),
        }
    }
}

/// An image's decoder, its header read, and what its EXIF says: the orientation it is
/// shown in and the date it was taken.
pub struct UprightDecoder<'a> {
    pixels: Pixels<'a>,
    exif: PhotoExif,
    scaled_jpeg_decoder: ScaledJpegDecoder,
}

/// The decoder of an image's pixels.
enum Pixels<'a> {
    /// The image crate's decoders (JPEG, PNG, WebP, GIF, BMP); a JPEG's `bytes` for the
    /// scaled decode.
    Image {
        bytes: &'a [u8],
        decoder: Box<dyn ImageDecoder + 'a>,
        is_jpeg: bool,
    },
    /// libheif's (the `heif` feature).
    #[cfg(feature = "heif")]
    Heif(crate::heif::HeifDecoder<'a>),
}

impl<'a> UprightDecoder<'a> {
    /// Reads the header of `bytes` (format told from the content) and its EXIF block once.
    /// An EXIF block that cannot be read leaves the image as stored and its date unknown:
    /// the pixels are still good. A HEIF is unsupported in a build without the `heif`
    /// feature.
    pub fn new(bytes: &'a [u8]) -> ImageResult<Self> {
        if heif::is_heif(bytes) {
            return Self::new_heif(bytes);
        }
        let reader = ImageReader::new(Cursor::new(bytes)).with_guessed_format()?;
        let is_jpeg = reader.format() == Some(ImageFormat::Jpeg);
        let mut decoder = reader.into_decoder()?;
        let exif = match decoder.exif_metadata() {
            Ok(Some(block)) => PhotoExif::read(&block),
            _ => PhotoExif::default(),
        };
        Ok(Self {
            pixels: Pixels::Image {
                bytes,
                decoder: Box::new(decoder),
                is_jpeg,
            },
            exif,
            scaled_jpeg_decoder: ScaledJpegDecoder::FASTEST,
        })
    }

    #[cfg(feature = "heif")]
    fn new_heif(bytes: &'a [u8]) -> ImageResult<Self> {
        let decoder = crate::heif::HeifDecoder::new(bytes)?;
        Ok(Self {
            exif: decoder.exif(),
            pixels: Pixels::Heif(decoder),
            scaled_jpeg_decoder: ScaledJpegDecoder::FASTEST,
        })
    }

    #[cfg(not(feature = "heif"))]
    fn new_heif(_bytes: &'a [u8]) -> ImageResult<Self> {
        use image::error::{ImageFormatHint, UnsupportedError, UnsupportedErrorKind};
        let heif = || ImageFormatHint::Name("HEIF".into());
        Err(image::ImageError::Unsupported(
            UnsupportedError::from_format_and_kind(heif(), UnsupportedErrorKind::Format(heif())),
        ))
    }

    /// Decodes a big JPEG's reduced scale with `decoder` instead of
    /// [`ScaledJpegDecoder::FASTEST`]: to compare them.
    pub fn with_scaled_jpeg_decoder(self, decoder: ScaledJpegDecoder) -> Self {
        Self {
            scaled_jpeg_decoder: decoder,
            ..self
        }
    }

    /// When the photo was taken, from its EXIF: [`dataset::Item::date_taken`].
    pub fn date_taken(&self) -> Option<&str> {
        self.exif.date_taken.as_deref()
    }

    /// Width and height as shown, the stored ones swapped for a quarter turn.
    pub fn dimensions(&self) -> (u32, u32) {
        let (width, height) = match &self.pixels {
            Pixels::Image { decoder, .. } => decoder.dimensions(),
            #[cfg(feature = "heif")]
            Pixels::Heif(decoder) => decoder.dimensions(),
        };
        if self.turns_a_quarter() {
            (height, width)
        } else {
            (width, height)
        }
    }

    fn turns_a_quarter(&self) -> bool {
        matches!(
            self.exif.orientation,
            Orientation::Rotate90
                | Orientation::Rotate270
                | Orientation::Rotate90FlipH
                | Orientation::Rotate270FlipH
        )
    }

    /// Decodes the pixels within `limits`, a big JPEG at a reduced scale that still covers
    /// `target`, turns them upright and cuts the target's bottom rows.
    pub fn decode(self, mut limits: Limits, target: &Target) -> ImageResult<DynamicImage> {
        let (width, height) = self.dimensions();
        let mut image = match self.pixels {
            Pixels::Image {
                bytes,
                mut decoder,
                is_jpeg,
            } => {
                let eighths = if is_jpeg {
                    target.jpeg_eighths(width, height)
                } else {
                    8
                };
                let scaled_jpeg = match eighths {
                    8 => None,
                    _ => self.scaled_jpeg_decoder.decode(bytes, eighths, &limits),
                };
                match scaled_jpeg {
                    Some(image) => image,
                    None => {
                        limits.reserve(decoder.total_bytes())?;
                        decoder.set_limits(limits)?;
                        DynamicImage::from_decoder(decoder)?
                    }
                }
            }
            #[cfg(feature = "heif")]
            Pixels::Heif(decoder) => decoder.decode(limits)?,
        };
        image.apply_orientation(self.exif.orientation);
        if target.bottom_crop > 0 {
            // Rounded to the nearest row of the scaled picture.
            let kept = u64::from(height.saturating_sub(target.bottom_crop));
            let kept_rows = (kept * u64::from(image.height()) * 2 + u64::from(height))
                / (2 * u64::from(height));
            image = image.crop_imm(0, 0, image.width(), kept_rows as u32);
        }
        Ok(image)
    }
}

/// [`ScaledJpegDecoder::decode`] by `jpeg-decoder`.
fn decode_jpeg_scaled(bytes: &[u8], eighths: u32, limits: &Limits) -> Option<DynamicImage> {
    let mut decoder = jpeg_decoder::Decoder::new(bytes);
    decoder.read_info().ok()?;
    let info = decoder.info()?;
    let channels = match info.pixel_format {
        jpeg_decoder::PixelFormat::RGB24 => 3,
        jpeg_decoder::PixelFormat::L8 => 1,
        _ => return None,
    };
    // The stored sides: the decoder picks the fewest eighths reaching either, so both are
    // asked at exactly `eighths`.
    let requested = |side: u16| u16::try_from(scaled(u32::from(side), eighths)).ok();
    let (width, height) = decoder
        .scale(requested(info.width)?, requested(info.height)?)
        .ok()?;
    let (width, height) = (u32::from(width), u32::from(height));
    reserve_scaled(limits, width, height, channels)?;
    let pixels = decoder.decode().ok()?;
    scaled_image(width, height, channels, pixels)
}

/// Whether `limits` allow a scaled decode of `width` x `height` x `channels` bytes.
fn reserve_scaled(limits: &Limits, width: u32, height: u32, channels: u8) -> Option<()> {
    limits
        .clone()
        .reserve(u64::from(width) * u64::from(height) * u64::from(channels))
        .ok()
}

/// A scaled decode's `pixels`, RGB (3 `channels`) or grey (1), as an image.
fn scaled_image(width: u32, height: u32, channels: u8, pixels: Vec<u8>) -> Option<DynamicImage> {
    Some(if channels == 3 {
        DynamicImage::ImageRgb8(RgbImage::from_raw(width, height, pixels)?)
    } else {
        DynamicImage::ImageLuma8(GrayImage::from_raw(width, height, pixels)?)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 2400 x 1800 photo-like picture (smooth shading, edges, fine stripes) as a JPEG,
    /// 4:4:4 (the image crate's encoder).
    fn big_jpeg() -> Vec<u8> {
        let mut bytes = Vec::new();
        big_picture()
            .write_to(&mut Cursor::new(&mut bytes), ImageFormat::Jpeg)
            .unwrap();
        bytes
    }

    /// [`big_picture`] as a camera stores it: 4:2:0, quality 90.
    fn big_camera_jpeg() -> Vec<u8> {
        let picture = big_picture();
        let mut bytes = Vec::new();
        let mut encoder = jpeg_encoder::Encoder::new(&mut bytes, 90);
        encoder.set_sampling_factor(jpeg_encoder::SamplingFactor::R_4_2_0);
        encoder
            .encode(picture.as_raw(), 2400, 1800, jpeg_encoder::ColorType::Rgb)
            .unwrap();
        bytes
    }

    fn big_picture() -> RgbImage {
        RgbImage::from_fn(2400, 1800, |x, y| {
            let (fx, fy) = (x as f32, y as f32);
            let shade = 128.0 + 90.0 * (fx / 170.0).sin() * (fy / 230.0).cos();
            let disc = if (fx - 1500.0).hypot(fy - 700.0) < 400.0 {
                60.0
            } else {
                0.0
            };
            let stripes = 20.0 * (fx / 3.0 + fy / 5.0).sin();
            image::Rgb([
                (shade + disc) as u8,
                (shade * 0.7 + stripes + 30.0) as u8,
                (220.0 - shade * 0.5 - disc) as u8,
            ])
        })
    }

    /// What ingest makes of a picture: a 256 px thumbnail.
    const THUMBNAIL: Target = Target {
        min_short_side: 0,
        min_long_side: 256,
        bottom_crop: 0,
    };

    /// What CLIP makes of a picture with a 90-row watermark strip: a 224 px input. Of
    /// [`big_jpeg`] 1,710 rows are kept: 214 at 1/8 scale, too few for 224, so 1/4.
    const CLIP_CROPPED: Target = Target {
        min_short_side: 224,
        min_long_side: 0,
        bottom_crop: 90,
    };

    /// Mean and largest absolute difference of two same-sized pictures, per channel value.
    fn differences(a: &RgbImage, b: &RgbImage) -> (f64, u8) {
        assert_eq!(a.dimensions(), b.dimensions());
        let diffs: Vec<u8> = a
            .as_raw()
            .iter()
            .zip(b.as_raw())
            .map(|(x, y)| x.abs_diff(*y))
            .collect();
        let mean = diffs.iter().map(|&d| f64::from(d)).sum::<f64>() / diffs.len() as f64;
        (mean, diffs.into_iter().max().unwrap_or(0))
    }

    #[test]
    fn big_jpegs_are_decoded_scaled_close_to_the_full_decode() {
        // The stated tolerances, mean and largest difference per channel value once resized:
        // what the decoders' rounding and chroma widening leave, below what a viewer
        // notices. Measured, 4:4:4: mean 0.72 and 0.62, max 6 and 11 (mean 1.0 and 0.65,
        // max 7 and 10 with jpeg-decoder for the CLIP input's 1/4). 4:2:0 at 1/8: 0.85, max
        // 6 (libjpeg's 2x2 inverse DCT of chroma); at 1/4, 0.85 and max 12 by libjpeg-turbo,
        // 2.15 and max 19 by jpeg-decoder (its chroma is widened from fewer samples).
        let loose_quarter = !cfg!(feature = "turbojpeg");
        for (name, bytes) in [("4:4:4", big_jpeg()), ("4:2:0", big_camera_jpeg())] {
            let decode = |target: &Target| {
                UprightDecoder::new(&bytes)
                    .unwrap()
                    .decode(Limits::default(), target)
                    .unwrap()
            };
            let full = decode(&Target::FULL_SIZE);
            assert_eq!((full.width(), full.height()), (2400, 1800));
            for (target, scaled_size, resized) in [
                (THUMBNAIL, (300, 225), (256, 192)),
                (CLIP_CROPPED, (600, 428), (314, 224)),
            ] {
                let scaled = decode(&target);
                assert_eq!((scaled.width(), scaled.height()), scaled_size);
                let full = full.crop_imm(0, 0, 2400, 1800 - target.bottom_crop);
                let resize = |image: &DynamicImage| {
                    image
                        .resize_exact(resized.0, resized.1, image::imageops::FilterType::Triangle)
                        .into_rgb8()
                };
                let (mean, max) = differences(&resize(&scaled), &resize(&full));
                let (mean_at_most, max_at_most) =
                    if name == "4:2:0" && target == CLIP_CROPPED && loose_quarter {
                        (2.5, 24)
                    } else {
                        (1.5, 16)
                    };
                assert!(
                    mean < mean_at_most && max <= max_at_most,
                    "{name}, {target:?}: mean {mean}, max {max}"
                );
            }
        }
    }

    /// Each other scaled decode against jpeg-decoder's, stored sideways too: the same
    /// upright sides, and close pixels once made into the thumbnail (as
    /// `process::thumbnail_jpeg` resizes) and the CLIP input (a 224 px short side).
    #[test]
    fn every_scaled_decoder_decodes_as_jpeg_decoder_does() {
        use crate::exif::{ExifValue, Tag, with_exif};
        use image::imageops::FilterType;
        let stored = big_jpeg();
        for orientation in [1, 6, 8] {
            let bytes = with_exif(
                &stored,
                &[(Tag::Orientation, ExifValue::Short(orientation))],
            );
            for target in [THUMBNAIL, CLIP_CROPPED] {
                let decode = |decoder| {
                    UprightDecoder::new(&bytes)
                        .unwrap()
                        .with_scaled_jpeg_decoder(decoder)
                        .decode(Limits::default(), &target)
                        .unwrap()
                };
                let reference = decode(ScaledJpegDecoder::JpegDecoder);
                let sides = |image: &DynamicImage| (image.width(), image.height());
                let made = |image: &DynamicImage| {
                    if target == THUMBNAIL {
                        image.thumbnail(256, 256).into_rgb8()
                    } else {
                        let (width, height) = sides(image);
                        let short = width.min(height);
                        let (width, height) = (width * 224 / short, height * 224 / short);
                        image
                            .resize_exact(width, height, FilterType::Triangle)
                            .into_rgb8()
                    }
                };
                let others = [
                    #[cfg(feature = "turbojpeg")]
                    ScaledJpegDecoder::LibjpegTurbo,
                    ScaledJpegDecoder::DcOnly,
                ];
                for decoder in others {
                    let decoded = decode(decoder);
                    assert_eq!(sides(&decoded), sides(&reference), "{decoder:?}");
                    assert_eq!(decoded.width() > decoded.height(), orientation == 1);
                    let (mean, max) = differences(&made(&decoded), &made(&reference));
                    // The stated tolerance (measured: mean 0.71 for the thumbnail, 0.33 and
                    // 0.71 for the CLIP input at 1/4 and 1/8 scale, max 2, for both; this
                    // 4:4:4 fixture has no chroma to upsample, so the DC-only decoder's
                    // eighth is libjpeg-turbo's): the decoders' rounding of the scaled IDCT
                    // and colour conversion.
                    assert!(
                        mean < 1.0 && max <= 4,
                        "{decoder:?}, orientation {orientation}, {target:?}: mean {mean}, max {max}"
                    );
                }
            }
        }
    }

    #[test]
    fn jpegs_the_scaled_decoder_refuses_are_decoded_whole() {
        let mut bytes = big_jpeg();
        // A stray marker byte in the scan data: the full decoder decodes on, the scaled one
        // gives up.
        let middle = bytes.len() / 2;
        bytes[middle] = 0xff;
        let mut scaled = jpeg_decoder::Decoder::new(bytes.as_slice());
        assert_eq!(scaled.scale(300, 225).unwrap(), (300, 225));
        assert!(scaled.decode().is_err());
        let image = UprightDecoder::new(&bytes)
            .unwrap()
            .decode(Limits::default(), &THUMBNAIL)
            .unwrap();
        assert_eq!((image.width(), image.height()), (2400, 1800));
    }
}
