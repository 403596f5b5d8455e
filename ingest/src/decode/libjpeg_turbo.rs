//! Big JPEGs decoded at a DCT scale by the system's libjpeg-turbo (the `turbojpeg`
//! feature): [`ScaledJpegDecoder::LibjpegTurbo`](super::ScaledJpegDecoder::LibjpegTurbo).

use image::{DynamicImage, Limits};
use turbojpeg::{Colorspace, Decompressor, Image, PixelFormat};

use super::{reserve_scaled, scaled, scaled_image};

/// [`ScaledJpegDecoder::decode`](super::ScaledJpegDecoder::decode) by libjpeg-turbo. A
/// warning (corrupt or missing scan data) fails the decode as an error does: the full
/// decoder judges such files.
pub(super) fn decode_scaled(bytes: &[u8], eighths: u32, limits: &Limits) -> Option<DynamicImage> {
    let mut decompressor = Decompressor::new().ok()?;
    let header = decompressor.read_header(bytes).ok()?;
    let (format, channels) = match header.colorspace {
        Colorspace::YCbCr | Colorspace::RGB => (PixelFormat::RGB, 3),
        Colorspace::Gray => (PixelFormat::GRAY, 1),
        // libjpeg-turbo gives these only as CMYK.
        Colorspace::CMYK | Colorspace::YCCK => return None,
    };
    // Asked for exactly the stored sides at `eighths`/8 (TurboJPEG rounds up as `scaled`
    // does), libjpeg-turbo picks that scale: the largest of its eighths that fits.
    let stored = |side: usize| Some(scaled(u32::try_from(side).ok()?, eighths));
    let (width, height) = (stored(header.width)?, stored(header.height)?);
    reserve_scaled(limits, width, height, channels)?;
    let pitch = width as usize * usize::from(channels);
    let mut pixels = vec![0; pitch * height as usize];
    decompressor
        .decompress(
            bytes,
            Image {
                pixels: pixels.as_mut_slice(),
                width: width as usize,
                pitch,
                height: height as usize,
                format,
            },
        )
        .ok()?;
    scaled_image(width, height, channels, pixels)
}
