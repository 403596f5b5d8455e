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
    /// Decodes JPEG, PNG, WebP, GIF or BMP bytes (format from the content, not the name).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, image::ImageError> {
        let rgb = image::load_from_memory(bytes)?.into_rgb8();
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
