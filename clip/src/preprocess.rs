//! Image preprocessing equal to open_clip's: resize the short side with PIL's bicubic,
//! centre crop, scale to [0, 1], normalise with CLIP's mean and std.
//!
//! The resize is a port of Pillow's 8-bit resampler (`Resample.c`): a support-scaled,
//! antialiasing bicubic convolution (a = -0.5) in two passes, horizontal then vertical, with
//! 22-bit fixed-point weights and rounding to u8 after each pass. So the u8 image after
//! resize and crop equals PIL's exactly, and the normalised floats equal torchvision's
//! `ToTensor` + `Normalize` on it. The sizes follow torchvision: `Resize(n)` gives the short
//! side `n` and the long side `int(n * long / short)`; `CenterCrop(n)` starts at
//! `round((side - n) / 2)`, rounding half to even as Python does.
//!
//! An optional bottom crop removes a banner (some stock-photo sets carry a 30 px one) before
//! anything else.

/// CLIP's per-channel mean (RGB).
pub const CLIP_MEAN: [f32; 3] = [0.481_454_66, 0.457_827_5, 0.408_210_73];
/// CLIP's per-channel standard deviation (RGB).
#[allow(clippy::excessive_precision)] // the digits CLIP publishes, rounded to f32 as torch does
pub const CLIP_STD: [f32; 3] = [0.268_629_54, 0.261_302_58, 0.275_777_11];

/// Pillow's fixed-point precision for 8-bit images.
const PRECISION_BITS: u32 = 32 - 8 - 2;
/// Pillow's bicubic support radius.
const BICUBIC_SUPPORT: f64 = 2.0;

/// Why an image could not be pre-processed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PreprocessError {
    /// The pixel buffer is not `width * height * 3` bytes.
    #[error("RGB buffer has {len} bytes, {width}x{height} needs {expected}")]
    BufferSize {
        /// Bytes given.
        len: usize,
        /// Image width.
        width: usize,
        /// Image height.
        height: usize,
        /// `width * height * 3`.
        expected: usize,
    },
    /// Nothing is left after the bottom crop, or the image or target size is empty.
    #[error(
        "image of {width}x{height} with bottom crop {bottom_crop} leaves no pixels for size {image_size}"
    )]
    Empty {
        /// Image width.
        width: usize,
        /// Image height.
        height: usize,
        /// Rows cut from the bottom.
        bottom_crop: usize,
        /// Target side.
        image_size: usize,
    },
}

/// An 8-bit RGB image, rows top to bottom, pixels interleaved `RGBRGB...`.
#[derive(Debug, Clone, Copy)]
pub struct RgbImage<'a> {
    width: usize,
    height: usize,
    pixels: &'a [u8],
}

impl<'a> RgbImage<'a> {
    /// Wraps `pixels` (`width * height * 3` bytes).
    pub fn new(width: usize, height: usize, pixels: &'a [u8]) -> Result<Self, PreprocessError> {
        let expected = width * height * 3;
        if pixels.len() != expected {
            return Err(PreprocessError::BufferSize {
                len: pixels.len(),
                width,
                height,
                expected,
            });
        }
        Ok(Self {
            width,
            height,
            pixels,
        })
    }

    /// Width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }
}

/// How images are turned into model input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PreprocessConfig {
    /// Model input side (224 for the OpenAI models).
    pub image_size: usize,
    /// Rows removed from the bottom first (0: none).
    pub bottom_crop: usize,
    /// Per-channel mean subtracted after scaling to [0, 1].
    pub mean: [f32; 3],
    /// Per-channel std divided by after subtracting the mean.
    pub std: [f32; 3],
}

impl Default for PreprocessConfig {
    fn default() -> Self {
        Self {
            image_size: 224,
            bottom_crop: 0,
            mean: CLIP_MEAN,
            std: CLIP_STD,
        }
    }
}

impl PreprocessConfig {
    /// The resized and centre-cropped image, `image_size² * 3` bytes, interleaved RGB;
    /// equal to PIL's.
    pub fn resize_and_crop(&self, image: &RgbImage<'_>) -> Result<Vec<u8>, PreprocessError> {
        let size = self.image_size;
        let width = image.width;
        let height = image.height.saturating_sub(self.bottom_crop);
        if width == 0 || height == 0 || size == 0 {
            return Err(PreprocessError::Empty {
                width: image.width,
                height: image.height,
                bottom_crop: self.bottom_crop,
                image_size: size,
            });
        }
        // Rows are contiguous, so the bottom crop is a prefix of the buffer.
        let pixels = &image.pixels[..width * height * 3];
        let (short, long) = if width <= height {
            (width, height)
        } else {
            (height, width)
        };
        let resized_long = ((size * long) as f64 / short as f64) as usize;
        let (new_width, new_height) = if width <= height {
            (size, resized_long)
        } else {
            (resized_long, size)
        };
        let resized = resize_bicubic(pixels, width, height, new_width, new_height);
        let top = ((new_height - size) as f64 / 2.0).round_ties_even() as usize;
        let left = ((new_width - size) as f64 / 2.0).round_ties_even() as usize;
        let mut out = Vec::with_capacity(size * size * 3);
        for row in top..top + size {
            let start = (row * new_width + left) * 3;
            out.extend_from_slice(&resized[start..start + size * 3]);
        }
        Ok(out)
    }

    /// Model input for one image: `[3, image_size, image_size]` floats, channel-major.
    pub fn preprocess(&self, image: &RgbImage<'_>) -> Result<Vec<f32>, PreprocessError> {
        let rgb = self.resize_and_crop(image)?;
        let plane = self.image_size * self.image_size;
        let mut out = vec![0.0; 3 * plane];
        for (i, pixel) in rgb.chunks_exact(3).enumerate() {
            for c in 0..3 {
                // torchvision: `x / 255` in f32, then `(x - mean) / std` in f32.
                out[c * plane + i] = (f32::from(pixel[c]) / 255.0 - self.mean[c]) / self.std[c];
            }
        }
        Ok(out)
    }

    /// Model input for a batch: `[images.len(), 3, image_size, image_size]`, row-major.
    pub fn preprocess_batch(&self, images: &[RgbImage<'_>]) -> Result<Vec<f32>, PreprocessError> {
        let mut out = Vec::with_capacity(images.len() * 3 * self.image_size * self.image_size);
        for image in images {
            out.extend(self.preprocess(image)?);
        }
        Ok(out)
    }
}

/// Pillow's bicubic filter, a = -0.5.
fn bicubic(x: f64) -> f64 {
    const A: f64 = -0.5;
    let x = x.abs();
    if x < 1.0 {
        ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        (((x - 5.0) * x + 8.0) * x - 4.0) * A
    } else {
        0.0
    }
}

/// One pass's taps: for each output position, the first input index and its fixed-point
/// weights (Pillow's `precompute_coeffs` + `normalize_coeffs_8bpc`).
struct Taps {
    first: Vec<usize>,
    weights: Vec<Vec<i32>>,
}

fn taps(in_size: usize, out_size: usize) -> Taps {
    let scale = in_size as f64 / out_size as f64;
    let filter_scale = scale.max(1.0);
    let support = BICUBIC_SUPPORT * filter_scale;
    let mut first = Vec::with_capacity(out_size);
    let mut weights = Vec::with_capacity(out_size);
    for out in 0..out_size {
        let center = (out as f64 + 0.5) * scale;
        // C's `(int)` truncates toward zero; Rust's `as` does the same.
        let min = ((center - support + 0.5) as i64).max(0);
        let max = ((center + support + 0.5) as i64).min(in_size as i64);
        let raw: Vec<f64> = (min..max)
            .map(|x| bicubic((x as f64 - center + 0.5) / filter_scale))
            .collect();
        let total: f64 = raw.iter().sum();
        let one = f64::from(1u32 << PRECISION_BITS);
        let fixed = raw
            .iter()
            .map(|&w| {
                let w = if total != 0.0 { w / total } else { w };
                if w < 0.0 {
                    (-0.5 + w * one) as i32
                } else {
                    (0.5 + w * one) as i32
                }
            })
            .collect();
        first.push(min as usize);
        weights.push(fixed);
    }
    Taps { first, weights }
}

/// Pillow's `clip8`: a fixed-point sum to a byte.
fn clip8(sum: i64) -> u8 {
    if sum >= 1i64 << (PRECISION_BITS + 8) {
        255
    } else if sum <= 0 {
        0
    } else {
        (sum >> PRECISION_BITS) as u8
    }
}

/// Pillow's `ImagingResample` for RGB with the bicubic filter over the whole image.
fn resize_bicubic(
    pixels: &[u8],
    width: usize,
    height: usize,
    new_width: usize,
    new_height: usize,
) -> Vec<u8> {
    let round = 1i64 << (PRECISION_BITS - 1);
    let horizontal = if new_width != width {
        let taps = taps(width, new_width);
        let mut out = vec![0u8; new_width * height * 3];
        for y in 0..height {
            let row = &pixels[y * width * 3..(y + 1) * width * 3];
            for x in 0..new_width {
                for c in 0..3 {
                    let sum = taps.weights[x]
                        .iter()
                        .enumerate()
                        .map(|(k, &w)| i64::from(row[(taps.first[x] + k) * 3 + c]) * i64::from(w))
                        .sum::<i64>();
                    out[(y * new_width + x) * 3 + c] = clip8(round + sum);
                }
            }
        }
        out
    } else {
        pixels.to_vec()
    };
    if new_height == height {
        return horizontal;
    }
    let taps = taps(height, new_height);
    let mut out = vec![0u8; new_width * new_height * 3];
    for y in 0..new_height {
        for x in 0..new_width {
            for c in 0..3 {
                let sum = taps.weights[y]
                    .iter()
                    .enumerate()
                    .map(|(k, &w)| {
                        i64::from(horizontal[((taps.first[y] + k) * new_width + x) * 3 + c])
                            * i64::from(w)
                    })
                    .sum::<i64>();
                out[(y * new_width + x) * 3 + c] = clip8(round + sum);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flat_image_stays_flat() {
        let pixels = vec![200u8; 300 * 250 * 3];
        let image = RgbImage::new(300, 250, &pixels).unwrap();
        let out = PreprocessConfig::default().resize_and_crop(&image).unwrap();
        assert_eq!(out.len(), 224 * 224 * 3);
        assert!(out.iter().all(|&v| v == 200));
    }

    #[test]
    fn bad_buffers_and_crops_are_refused() {
        assert!(matches!(
            RgbImage::new(2, 2, &[0; 11]),
            Err(PreprocessError::BufferSize { expected: 12, .. })
        ));
        let pixels = [0u8; 12];
        let image = RgbImage::new(2, 2, &pixels).unwrap();
        let config = PreprocessConfig {
            bottom_crop: 2,
            ..Default::default()
        };
        assert!(matches!(
            config.resize_and_crop(&image),
            Err(PreprocessError::Empty { .. })
        ));
    }
}
