//! Decoding an image the way it is shown: the EXIF orientation a camera writes instead of
//! turning the pixels (a photo taken sideways is stored sideways, orientation 6 or 8) is
//! applied right after decoding, so the thumbnail and CLIP's preprocessing both see the
//! picture upright. [`UprightDecoder`] tells the upright size from the header, before
//! anything is decoded; [`decode_upright`] does both steps for callers that need no check
//! in between.
//!
//! ```
//! # let bytes = {
//! #     let mut png = Vec::new();
//! #     image::DynamicImage::new_rgb8(4, 3)
//! #         .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
//! #         .unwrap();
//! #     png
//! # };
//! let image = ingest::decode::decode_upright(&bytes, image::Limits::default())?;
//! assert_eq!((image.width(), image.height()), (4, 3));
//! # Ok::<(), image::ImageError>(())
//! ```

use std::io::Cursor;

use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageReader, ImageResult, Limits};

/// An image's decoder, its header read, and the orientation it is shown in.
pub struct UprightDecoder<'a> {
    decoder: Box<dyn ImageDecoder + 'a>,
    orientation: Orientation,
}

impl<'a> UprightDecoder<'a> {
    /// Reads the header of `bytes` (format told from the content). An EXIF block that
    /// cannot be read leaves the image as stored: the pixels are still good.
    pub fn new(bytes: &'a [u8]) -> ImageResult<Self> {
        let mut decoder = ImageReader::new(Cursor::new(bytes))
            .with_guessed_format()?
            .into_decoder()?;
        let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
        Ok(Self {
            decoder: Box::new(decoder),
            orientation,
        })
    }

    /// Width and height as shown, the stored ones swapped for a quarter turn.
    pub fn dimensions(&self) -> (u32, u32) {
        let (width, height) = self.decoder.dimensions();
        match self.orientation {
            Orientation::Rotate90
            | Orientation::Rotate270
            | Orientation::Rotate90FlipH
            | Orientation::Rotate270FlipH => (height, width),
            _ => (width, height),
        }
    }

    /// Decodes the pixels within `limits` and turns them upright.
    pub fn decode(mut self, mut limits: Limits) -> ImageResult<DynamicImage> {
        limits.reserve(self.decoder.total_bytes())?;
        self.decoder.set_limits(limits)?;
        let mut image = DynamicImage::from_decoder(self.decoder)?;
        image.apply_orientation(self.orientation);
        Ok(image)
    }
}

/// `bytes` decoded within `limits` and turned upright.
pub fn decode_upright(bytes: &[u8], limits: Limits) -> ImageResult<DynamicImage> {
    UprightDecoder::new(bytes)?.decode(limits)
}
