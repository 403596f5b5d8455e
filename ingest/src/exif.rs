//! What ingest reads of a photo's EXIF block, parsed once: how to turn the picture upright
//! and when it was taken. [`with_exif`] writes such a block into a JPEG, for the tests and
//! benchmarks that need photos as cameras store them.
//!
//! ```
//! use ingest::exif::{ExifValue, Tag, with_exif};
//! # let mut jpeg = Vec::new();
//! # image::RgbImage::new(8, 8)
//! #     .write_to(&mut std::io::Cursor::new(&mut jpeg), image::ImageFormat::Jpeg)
//! #     .unwrap();
//! let photo = with_exif(
//!     &jpeg,
//!     &[
//!         (Tag::Orientation, ExifValue::Short(6)),
//!         (Tag::DateTimeOriginal, ExifValue::Ascii("2023:05:01 14:02:33")),
//!         (Tag::OffsetTimeOriginal, ExifValue::Ascii("+02:00")),
//!     ],
//! );
//! let decoder = ingest::decode::UprightDecoder::new(&photo)?;
//! assert_eq!(decoder.dimensions(), (8, 8));
//! assert_eq!(decoder.date_taken(), Some("2023-05-01T14:02:33+02:00"));
//! # Ok::<(), image::ImageError>(())
//! ```

use ::exif::{Context, Exif, In, Reader, Value};
use image::metadata::Orientation;

pub use ::exif::Tag;

/// What a photo's EXIF block says, as far as it can be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PhotoExif {
    /// The turn that shows the stored picture upright (EXIF orientation 1-8).
    pub orientation: Orientation,
    /// When it was taken: [`dataset::Item::date_taken`].
    pub date_taken: Option<String>,
}

impl Default for PhotoExif {
    /// A photo without EXIF: stored upright, date unknown.
    fn default() -> Self {
        Self {
            orientation: Orientation::NoTransforms,
            date_taken: None,
        }
    }
}

/// The tags a date taken is read from, in the order they are tried, each with the tag of
/// its UTC offset.
const DATE_TAGS: [(Tag, Tag); 3] = [
    (Tag::DateTimeOriginal, Tag::OffsetTimeOriginal),
    (Tag::DateTimeDigitized, Tag::OffsetTimeDigitized),
    (Tag::DateTime, Tag::OffsetTime),
];

impl PhotoExif {
    /// Reads a raw EXIF block (a TIFF structure, as `image::ImageDecoder::exif_metadata`
    /// gives it). What cannot be read is left out, never an error: the pixels are still
    /// good. A date that is blank or no real date (`0000:00:00 00:00:00`, as cameras
    /// without a set clock write) is unknown, and the next tag is tried.
    pub fn read(block: &[u8]) -> Self {
        let exif = match Reader::new()
            .continue_on_error(true)
            .read_raw(block.to_vec())
        {
            Ok(exif) => exif,
            // The fields before a broken one are still good.
            Err(error) => match error.distill_partial_result(drop) {
                Ok(exif) => exif,
                Err(_) => return Self::default(),
            },
        };
        let orientation = exif
            .get_field(Tag::Orientation, In::PRIMARY)
            .and_then(|field| field.value.get_uint(0))
            .and_then(|value| u8::try_from(value).ok())
            .and_then(Orientation::from_exif)
            .unwrap_or(Orientation::NoTransforms);
        let date_taken = DATE_TAGS
            .iter()
            .find_map(|&(date, offset)| iso_8601(ascii(&exif, date)?, ascii(&exif, offset)));
        Self {
            orientation,
            date_taken,
        }
    }
}

/// The first string of an ASCII tag in the primary image's IFDs.
fn ascii(exif: &Exif, tag: Tag) -> Option<&[u8]> {
    match &exif.get_field(tag, In::PRIMARY)?.value {
        Value::Ascii(strings) => strings.first().map(Vec::as_slice),
        _ => None,
    }
}

/// An EXIF date (`YYYY:MM:DD HH:MM:SS`) and its offset (`+HH:MM`) as ISO 8601; `None` for
/// a date that is blank, malformed or not in the calendar. A bad offset is left out: the
/// local time is still right.
fn iso_8601(date: &[u8], offset: Option<&[u8]>) -> Option<String> {
    let mut time = ::exif::DateTime::from_ascii(date).ok()?;
    let real = (1..=9999).contains(&time.year)
        && (1..=12).contains(&time.month)
        && (1..=days_in_month(time.year, time.month)).contains(&time.day)
        && time.hour < 24
        && time.minute < 60
        && time.second < 60;
    if !real {
        return None;
    }
    let mut iso = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        time.year, time.month, time.day, time.hour, time.minute, time.second
    );
    let minutes = offset
        .and_then(|offset| time.parse_offset(offset).ok())
        .and(time.offset)
        // UTC-12:00 to UTC+14:00 are the offsets in use.
        .filter(|minutes| (-12 * 60..=14 * 60).contains(minutes));
    if let Some(minutes) = minutes {
        let sign = if minutes < 0 { '-' } else { '+' };
        let minutes = minutes.unsigned_abs();
        iso.push_str(&format!("{sign}{:02}:{:02}", minutes / 60, minutes % 60));
    }
    Some(iso)
}

fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// A tag's value, as [`with_exif`] writes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExifValue<'a> {
    /// A 16-bit number (orientation).
    Short(u16),
    /// Text (dates, offsets), written with its NUL terminator.
    Ascii(&'a str),
}

/// One IFD entry: tag, TIFF type, count and value bytes (big-endian).
type Entry = (u16, u16, u32, Vec<u8>);

/// `jpeg` with an EXIF APP1 segment after its start marker holding `tags` as a camera
/// writes them, big-endian: the Exif IFD's tags (dates taken, offsets) in an Exif sub-IFD
/// that IFD0 points to, the others in IFD0.
///
/// # Panics
///
/// If the tags take more than a JPEG segment's 64 KiB.
pub fn with_exif(jpeg: &[u8], tags: &[(Tag, ExifValue)]) -> Vec<u8> {
    let entry = |&(tag, value): &(Tag, ExifValue)| -> Entry {
        match value {
            ExifValue::Short(number) => (tag.number(), 3, 1, number.to_be_bytes().to_vec()),
            ExifValue::Ascii(text) => {
                let bytes = [text.as_bytes(), b"\0"].concat();
                (tag.number(), 2, bytes.len() as u32, bytes)
            }
        }
    };
    let in_photo_ifd = |tag: &Tag| tag.context() == Context::Exif;
    let photo: Vec<Entry> = tags
        .iter()
        .filter(|(t, _)| in_photo_ifd(t))
        .map(entry)
        .collect();
    let mut primary: Vec<Entry> = tags
        .iter()
        .filter(|(t, _)| !in_photo_ifd(t))
        .map(entry)
        .collect();
    let ifd_size = |entries: usize| 2 + 12 * entries as u32 + 4;
    // The TIFF header (8 bytes), IFD0, the Exif IFD, then the values over 4 bytes.
    let photo_at = 8 + ifd_size(primary.len() + usize::from(!photo.is_empty()));
    let data_at = photo_at
        + if photo.is_empty() {
            0
        } else {
            ifd_size(photo.len())
        };
    if !photo.is_empty() {
        primary.push((0x8769, 4, 1, photo_at.to_be_bytes().to_vec()));
    }
    let mut tiff = b"MM\0\x2a\0\0\0\x08".to_vec();
    let mut data = Vec::new();
    for ifd in [primary, photo].into_iter().filter(|ifd| !ifd.is_empty()) {
        write_ifd(&mut tiff, ifd, &mut data, data_at);
    }
    tiff.extend(data);
    let length = u16::try_from(2 + 6 + tiff.len()).expect("the EXIF tags fit a JPEG segment");
    [
        &jpeg[..2],
        &[0xff, 0xe1],
        &length.to_be_bytes(),
        b"Exif\0\0",
        &tiff,
        &jpeg[2..],
    ]
    .concat()
}

/// Appends an IFD of `entries` (in tag order, as TIFF asks) to `tiff`, the values over 4
/// bytes to `data`, which will start at `data_at`.
fn write_ifd(tiff: &mut Vec<u8>, mut entries: Vec<Entry>, data: &mut Vec<u8>, data_at: u32) {
    entries.sort_by_key(|entry| entry.0);
    tiff.extend((entries.len() as u16).to_be_bytes());
    for (tag, kind, count, mut bytes) in entries {
        tiff.extend(tag.to_be_bytes());
        tiff.extend(kind.to_be_bytes());
        tiff.extend(count.to_be_bytes());
        if bytes.len() <= 4 {
            bytes.resize(4, 0);
            tiff.extend(bytes);
        } else {
            tiff.extend((data_at + data.len() as u32).to_be_bytes());
            data.extend(bytes);
            // Values start on a word boundary.
            data.resize(data.len().next_multiple_of(2), 0);
        }
    }
    tiff.extend(0u32.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The EXIF block [`with_exif`] writes for `tags`: what follows the JPEG's start
    /// marker, the APP1 marker, the segment's length and `Exif\0\0`.
    fn block(tags: &[(Tag, ExifValue)]) -> Vec<u8> {
        with_exif(&[0xff, 0xd8, 0xff, 0xd9], tags)[12..].to_vec()
    }

    fn date_of(tags: &[(Tag, ExifValue)]) -> Option<String> {
        PhotoExif::read(&block(tags)).date_taken
    }

    #[test]
    fn orientation_and_date_are_read_from_one_block() {
        let exif = PhotoExif::read(&block(&[
            (Tag::Orientation, ExifValue::Short(8)),
            (
                Tag::DateTimeOriginal,
                ExifValue::Ascii("2023:05:01 14:02:33"),
            ),
        ]));
        assert_eq!(exif.orientation, Orientation::Rotate270);
        assert_eq!(exif.date_taken.as_deref(), Some("2023-05-01T14:02:33"));
        // The minimal block cameras without a clock write: IFD0 with the orientation only.
        let exif = PhotoExif::read(&block(&[(Tag::Orientation, ExifValue::Short(3))]));
        assert_eq!(exif.orientation, Orientation::Rotate180);
        assert_eq!(exif.date_taken, None);
    }

    #[test]
    fn dates_fall_back_from_original_to_digitized_to_modified() {
        use ExifValue::Ascii;
        let original = (Tag::DateTimeOriginal, Ascii("2023:05:01 14:02:33"));
        let digitized = (Tag::DateTimeDigitized, Ascii("2023:05:02 09:00:00"));
        let modified = (Tag::DateTime, Ascii("2024:01:31 23:59:59"));
        let all = [original, digitized, modified];
        assert_eq!(date_of(&all).as_deref(), Some("2023-05-01T14:02:33"));
        assert_eq!(
            date_of(&[digitized, modified]).as_deref(),
            Some("2023-05-02T09:00:00")
        );
        assert_eq!(date_of(&[modified]).as_deref(), Some("2024-01-31T23:59:59"));
        assert_eq!(
            date_of(&[original, (Tag::OffsetTimeOriginal, Ascii("-05:30"))]).as_deref(),
            Some("2023-05-01T14:02:33-05:30")
        );
        // An offset pairs with its own date only.
        assert_eq!(
            date_of(&[digitized, (Tag::OffsetTimeOriginal, Ascii("+01:00"))]).as_deref(),
            Some("2023-05-02T09:00:00")
        );
        assert_eq!(date_of(&[]), None);
    }

    #[test]
    fn bad_dates_are_unknown_never_an_error() {
        use ExifValue::Ascii;
        for bad in [
            "0000:00:00 00:00:00",
            "    :  :     :  :  ",
            "",
            "2023:02:29 10:00:00",
            "2023:13:01 10:00:00",
            "2023:05:01 24:00:00",
            "2023-05-01 14:02:33",
            "yesterday",
        ] {
            assert_eq!(
                date_of(&[(Tag::DateTimeOriginal, Ascii(bad))]),
                None,
                "{bad:?}"
            );
            // The next tag is tried.
            let fallback = [
                (Tag::DateTimeOriginal, Ascii(bad)),
                (Tag::DateTime, Ascii("2024:02:29 08:00:00")),
            ];
            assert_eq!(
                date_of(&fallback).as_deref(),
                Some("2024-02-29T08:00:00"),
                "{bad:?}"
            );
        }
        for bad_offset in ["      ", "+99:00", "02:00", "+2"] {
            let tags = [
                (Tag::DateTimeOriginal, Ascii("2023:05:01 14:02:33")),
                (Tag::OffsetTimeOriginal, Ascii(bad_offset)),
            ];
            assert_eq!(
                date_of(&tags).as_deref(),
                Some("2023-05-01T14:02:33"),
                "{bad_offset:?}"
            );
        }
        // A block that is no TIFF structure, or one cut short.
        assert_eq!(PhotoExif::read(b"not exif"), PhotoExif::default());
        let whole = block(&[(Tag::DateTimeOriginal, Ascii("2023:05:01 14:02:33"))]);
        assert_eq!(PhotoExif::read(&whole[..40]).date_taken, None);
    }
}
