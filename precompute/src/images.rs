//! Decoding image files into the RGB pixels the CLIP preprocessing takes.

use std::path::Path;

use anyhow::{Context, Result};

/// A decoded image: width, height and interleaved RGB bytes.
pub struct DecodedImage {
    pub width: usize,
    pub height: usize,
    pub rgb: Vec<u8>,
}

impl DecodedImage {
    /// Decodes JPEG, PNG, WebP, GIF or BMP bytes (format from the content, not the name),
    /// turned upright by their EXIF orientation as ingest's thumbnails are.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, image::ImageError> {
        let rgb = ingest::decode::decode_upright(bytes, image::Limits::default())?.into_rgb8();
        Ok(Self {
            width: rgb.width() as usize,
            height: rgb.height() as usize,
            rgb: rgb.into_raw(),
        })
    }

    /// Reads and decodes a file; the error names it.
    pub fn open(path: &Path) -> Result<Self> {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        Self::from_bytes(&bytes).with_context(|| format!("cannot decode image {}", path.display()))
    }

    /// The pixels as the preprocessing's input.
    pub fn as_rgb(&self) -> Result<clip::RgbImage<'_>, clip::PreprocessError> {
        clip::RgbImage::new(self.width, self.height, &self.rgb)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exif_turned_photos_decode_upright() {
        let upright = image::RgbImage::from_fn(40, 24, |x, _| image::Rgb([x as u8 * 6, 0, 0]));
        let mut jpeg = Vec::new();
        image::imageops::rotate90(&upright)
            .write_to(
                &mut std::io::Cursor::new(&mut jpeg),
                image::ImageFormat::Jpeg,
            )
            .unwrap();
        // An EXIF APP1 segment after the start marker: one IFD entry, orientation 8 (the
        // stored picture is to be turned a quarter to the left).
        let exif = b"\xff\xe1\0\x22Exif\0\0MM\0\x2a\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01\0\x08\0\0\0\0\0\0";
        let turned = [&jpeg[..2], exif.as_slice(), &jpeg[2..]].concat();
        let decoded = DecodedImage::from_bytes(&turned).unwrap();
        assert_eq!((decoded.width, decoded.height), (40, 24));
        // Red grows from left to right in the upright picture.
        let red = |x: usize| decoded.rgb[(12 * 40 + x) * 3];
        assert!(red(2) < 40 && red(37) > 200, "{} {}", red(2), red(37));
    }
}
