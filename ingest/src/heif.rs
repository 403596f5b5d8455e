//! HEIC/HEIF photos, phones' default format: told by their header in every build, decoded
//! by the system's libheif in a build with the `heif` feature (`--features heif`), and
//! otherwise skipped by ingest as `heif_unsupported`.

/// Whether this build decodes HEIF (the `heif` feature).
pub const DECODED: bool = cfg!(feature = "heif");

/// Why a HEIF is skipped by a build without the `heif` feature.
pub const UNSUPPORTED: &str = "a HEIC/HEIF image: this build decodes none (build precompute \
    with --features heif, which needs the system's libheif: see the README)";

/// The `ftyp` brands of HEIF images (ISO/IEC 23008-12): HEVC-coded images and sequences,
/// and the generic image and sequence brands.
const HEIF_BRANDS: [&[u8; 4]; 10] = [
    b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs", b"mif1", b"msf1",
];

/// Whether `bytes` start with an ISO-BMFF `ftyp` box naming a HEIF brand, as major brand or
/// among the compatible ones. An AVIF (AV1 in HEIF) whose major brand is `avif` is not one:
/// it stays the image crate's to refuse as before.
pub fn is_heif(bytes: &[u8]) -> bool {
    let Some(header) = bytes.get(..8) else {
        return false;
    };
    if &header[4..] != b"ftyp" {
        return false;
    }
    let size = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let Some(ftyp) = bytes
        .get(8..size.min(bytes.len()))
        .filter(|box_| box_.len() >= 8)
    else {
        return false;
    };
    let major = &ftyp[..4];
    // After the major brand, a 4-byte minor version, then the compatible brands.
    let compatible = ftyp[8..].chunks_exact(4);
    major != b"avif"
        && std::iter::once(major)
            .chain(compatible)
            .any(|brand| HEIF_BRANDS.iter().any(|heif| brand == heif.as_slice()))
}

#[cfg(feature = "heif")]
pub use decoder::HeifDecoder;

#[cfg(feature = "heif")]
mod decoder {
    use image::error::{DecodingError, ImageFormatHint};
    use image::{DynamicImage, ImageError, ImageResult, Limits, RgbImage};
    use libheif_rs::{ColorSpace, HeifContext, HeifError, ImageHandle, LibHeif, RgbChroma};

    use crate::exif::PhotoExif;

    fn decoding_error(error: HeifError) -> ImageError {
        ImageError::Decoding(DecodingError::new(
            ImageFormatHint::Name("HEIF".into()),
            error,
        ))
    }

    /// A HEIF's primary image, its header read.
    pub struct HeifDecoder<'a> {
        // The handle refers to the context (libheif counts its references), which reads
        // `bytes` in place: both live as long as the decoder.
        _context: HeifContext<'a>,
        handle: ImageHandle,
    }

    impl<'a> HeifDecoder<'a> {
        /// Reads the HEIF structure of `bytes` and finds its primary image.
        pub fn new(bytes: &'a [u8]) -> ImageResult<Self> {
            let context = HeifContext::read_from_bytes(bytes).map_err(decoding_error)?;
            let handle = context.primary_image_handle().map_err(decoding_error)?;
            Ok(Self {
                _context: context,
                handle,
            })
        }

        /// Width and height as shown: libheif gives them with the image's rotation (`irot`)
        /// applied.
        pub fn dimensions(&self) -> (u32, u32) {
            (self.handle.width(), self.handle.height())
        }

        /// The date in the primary image's EXIF block. Its orientation is not used: the
        /// HEIF's own transforms (`irot`, `imir`), which libheif applies while decoding,
        /// are the ones that count, and phones write both.
        pub fn exif(&self) -> PhotoExif {
            let mut ids = [0; 1];
            let date_taken = match self.handle.metadata_block_ids(&mut ids, b"Exif") {
                0 => None,
                _ => self
                    .handle
                    .metadata(ids[0])
                    .ok()
                    .and_then(|block| tiff_of_exif_item(&block).map(PhotoExif::read))
                    .and_then(|exif| exif.date_taken),
            };
            PhotoExif {
                date_taken,
                ..PhotoExif::default()
            }
        }

        /// Decodes the primary image as 8-bit RGB within `limits`, upright (libheif
        /// applies the HEIF's rotation, mirroring and cropping).
        pub fn decode(self, mut limits: Limits) -> ImageResult<DynamicImage> {
            let (width, height) = self.dimensions();
            limits.reserve(u64::from(width) * u64::from(height) * 3)?;
            let image = LibHeif::new()
                .decode(&self.handle, ColorSpace::Rgb(RgbChroma::Rgb), None)
                .map_err(decoding_error)?;
            let planes = image.planes();
            let plane = planes
                .interleaved
                .filter(|plane| plane.storage_bits_per_pixel == 24)
                .ok_or_else(|| not_rgb("libheif gave no interleaved 8-bit RGB plane"))?;
            let row = plane.width as usize * 3;
            let pixels: Vec<u8> = plane
                .data
                .chunks(plane.stride)
                .take(plane.height as usize)
                .flat_map(|line| &line[..row])
                .copied()
                .collect();
            RgbImage::from_raw(plane.width, plane.height, pixels)
                .map(DynamicImage::ImageRgb8)
                .ok_or_else(|| not_rgb("libheif's plane is shorter than its size"))
        }
    }

    fn not_rgb(message: &'static str) -> ImageError {
        ImageError::Decoding(DecodingError::new(
            ImageFormatHint::Name("HEIF".into()),
            message,
        ))
    }

    /// The TIFF structure in a HEIF's `Exif` item: after a 4-byte big-endian offset to it
    /// (past an `Exif\0\0` prefix, usually).
    fn tiff_of_exif_item(item: &[u8]) -> Option<&[u8]> {
        let offset = u32::from_be_bytes(item.get(..4)?.try_into().ok()?) as usize;
        item.get(4usize.checked_add(offset)?..)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An `ftyp` box of `major` and `compatible` brands, then a few bytes of a `meta` box.
    fn ftyp(major: &[u8; 4], compatible: &[&[u8; 4]]) -> Vec<u8> {
        let size = 16 + 4 * compatible.len() as u32;
        let mut bytes = [size.to_be_bytes().as_slice(), b"ftyp", major, &[0; 4]].concat();
        for brand in compatible {
            bytes.extend(*brand);
        }
        bytes.extend(b"\0\0\0\x0cmeta\0\0\0\0");
        bytes
    }

    #[test]
    fn heif_is_told_by_its_brands_not_its_name() {
        assert!(is_heif(&ftyp(b"heic", &[b"mif1", b"heic"])));
        assert!(is_heif(&ftyp(b"mif1", &[b"heic"])));
        assert!(is_heif(&ftyp(b"msf1", &[])));
        // A brand among the compatible ones is enough.
        assert!(is_heif(&ftyp(b"isom", &[b"heix"])));
        assert!(!is_heif(&ftyp(b"avif", &[b"mif1", b"miaf"])));
        assert!(!is_heif(&ftyp(b"isom", &[b"mp41"])), "an MP4 video");
        assert!(!is_heif(b"\xff\xd8\xff\xe0"));
        assert!(!is_heif(b""));
        // A box cut short or whose size says less than its brands.
        let whole = ftyp(b"heic", &[]);
        assert!(!is_heif(&whole[..10]));
        let mut lying = whole.clone();
        lying[3] = 8;
        assert!(!is_heif(&lying));
    }

    /// A photo taken sideways as a phone stores it (examples/make_heif_fixture.rs): 64 x 96
    /// as shot, an `irot` turning it upright, EXIF orientation 6 too, and a date taken.
    pub(crate) const SIDEWAYS_HEIC: &[u8] = include_bytes!("../tests/fixtures/heif/sideways.heic");

    #[test]
    fn the_fixture_is_heif() {
        assert!(is_heif(SIDEWAYS_HEIC));
    }

    #[cfg(feature = "heif")]
    #[test]
    fn heif_photos_decode_upright_with_their_date() {
        use crate::decode::{Target, UprightDecoder};
        let decoder = UprightDecoder::new(SIDEWAYS_HEIC).unwrap();
        assert_eq!(decoder.dimensions(), (96, 64));
        assert_eq!(decoder.date_taken(), Some("2024-07-14T09:30:00+01:00"));
        let image = decoder
            .decode(image::Limits::default(), &Target::FULL_SIZE)
            .unwrap()
            .into_rgb8();
        assert_eq!(image.dimensions(), (96, 64));
        // Upright, turned once (by the irot, not again by the EXIF): a blue band on top,
        // red growing from left to right.
        let pixel = |x, y| image.get_pixel(x, y).0;
        assert!(
            pixel(48, 4)[2] > 170 && pixel(48, 40)[2] < 90,
            "{:?}",
            image.get_pixel(48, 4)
        );
        assert!(pixel(92, 40)[0] > pixel(4, 40)[0] + 100);
        let mut small = image::Limits::default();
        small.max_alloc = Some(96 * 64);
        let decoder = UprightDecoder::new(SIDEWAYS_HEIC).unwrap();
        assert!(matches!(
            decoder.decode(small, &Target::FULL_SIZE),
            Err(image::ImageError::Limits(_))
        ));
    }
}
