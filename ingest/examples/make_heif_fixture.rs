//! Writes the HEIC fixture of `ingest`'s heif tests (`tests/fixtures/heif/sideways.heic`) as
//! a phone stores a photo taken sideways: the pixels as shot (64 x 96), an `irot` property
//! turning them upright (96 x 64), an EXIF block saying orientation 6 as well (which a HEIF
//! reader must not apply a second time) and a date taken. libheif 1.15 writes no `irot`
//! (it leaves the encoding options' orientation alone), so [`with_irot`] adds it. The upright picture: red growing from left to right, a blue band on top.
//! Needs libheif with an HEVC encoder (Debian 12's libheif1 has x265):
//! `cargo run -p ingest --features heif --example make_heif_fixture -- OUT.heic`.

use ingest::exif::{ExifValue, Tag, with_exif};
use libheif_rs::{
    Channel, ColorSpace, CompressionFormat, EncoderQuality, EncodingOptions, HeifContext, Image,
    ImageOrientation, LibHeif, RgbChroma,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args()
        .nth(1)
        .ok_or("usage: make_heif_fixture OUT.heic")?;
    let upright = image::RgbImage::from_fn(96, 64, |x, y| {
        image::Rgb([(40 + x * 2) as u8, 60, if y < 16 { 220 } else { 40 }])
    });
    // Stored as shot: EXIF orientation 6, a quarter turn clockwise to show it.
    let stored = image::imageops::rotate270(&upright);
    let (width, height) = stored.dimensions();
    let mut picture = Image::new(width, height, ColorSpace::Rgb(RgbChroma::Rgb))?;
    picture.create_plane(Channel::Interleaved, width, height, 8)?;
    let planes = picture.planes_mut();
    let plane = planes.interleaved.ok_or("no interleaved plane")?;
    let row = width as usize * 3;
    for (line, pixels) in plane.data.chunks_mut(plane.stride).zip(stored.chunks(row)) {
        line[..row].copy_from_slice(pixels);
    }
    let lib = LibHeif::new();
    let mut encoder = lib.encoder_for_format(CompressionFormat::Hevc)?;
    encoder.set_quality(EncoderQuality::Lossy(80))?;
    let mut options = EncodingOptions::new()?;
    options.set_image_orientation(ImageOrientation::Rotate90Cw);
    let mut context = HeifContext::new()?;
    let handle = context.encode_image(&picture, &mut encoder, Some(options))?;
    // The EXIF block of a JPEG with these tags, without the JPEG around it.
    let jpeg = with_exif(
        &[0xff, 0xd8, 0xff, 0xd9],
        &[
            (Tag::Orientation, ExifValue::Short(6)),
            (
                Tag::DateTimeOriginal,
                ExifValue::Ascii("2024:07:14 09:30:00"),
            ),
            (Tag::OffsetTimeOriginal, ExifValue::Ascii("+01:00")),
        ],
    );
    context.add_exif_metadata(&handle, &jpeg[6..jpeg.len() - 2])?;
    // A quarter turn clockwise is three anticlockwise, irot's unit.
    std::fs::write(&out, with_irot(&context.write_to_bytes()?, 3)?)?;
    println!("wrote {out}");
    Ok(())
}

/// The boxes in `data[range]`: type and byte range, header included (32-bit sizes only).
fn boxes(data: &[u8], range: std::ops::Range<usize>) -> Result<Vec<([u8; 4], Range)>, Error> {
    let mut found = Vec::new();
    let mut at = range.start;
    while at < range.end {
        let size = u32::from_be_bytes(data[at..at + 4].try_into()?) as usize;
        if size < 8 || at + size > range.end {
            return Err(format!("a box of {size} bytes at {at}").into());
        }
        found.push((data[at + 4..at + 8].try_into()?, at..at + size));
        at += size;
    }
    Ok(found)
}

type Range = std::ops::Range<usize>;
type Error = Box<dyn std::error::Error>;

fn find(boxes: &[([u8; 4], Range)], kind: &[u8; 4]) -> Result<Range, Error> {
    boxes
        .iter()
        .find(|(k, _)| k == kind)
        .map(|(_, range)| range.clone())
        .ok_or_else(|| format!("no {} box", String::from_utf8_lossy(kind)).into())
}

fn boxed(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
    [
        &(8 + body.len() as u32).to_be_bytes(),
        kind.as_slice(),
        body,
    ]
    .concat()
}

/// `heif` (ftyp, meta, mdat, as libheif writes a single image) with an `irot` of
/// `quarters` anticlockwise quarter turns on item 1: the property appended to `ipco`,
/// associated (essential) in `ipma`, and the data offsets in `iloc` moved by the bytes
/// added before `mdat`.
fn with_irot(heif: &[u8], quarters: u8) -> Result<Vec<u8>, Error> {
    let top = boxes(heif, 0..heif.len())?;
    let meta = find(&top, b"meta")?;
    // meta is a full box: 4 bytes of version and flags before its children.
    let children = boxes(heif, meta.start + 12..meta.end)?;
    let iprp = find(&children, b"iprp")?;
    let properties = boxes(heif, iprp.start + 8..iprp.end)?;
    let (ipco, ipma) = (find(&properties, b"ipco")?, find(&properties, b"ipma")?);
    let index = boxes(heif, ipco.start + 8..ipco.end)?.len() as u8 + 1;
    let ipco = boxed(
        b"ipco",
        &[
            &heif[ipco.start + 8..ipco.end],
            &boxed(b"irot", &[quarters]),
        ]
        .concat(),
    );
    // ipma version 0, flags 0: entries of a 16-bit item id, a count and 1-byte associations.
    let body = &heif[ipma.start + 8..ipma.end];
    if body[..4] != [0; 4] {
        return Err("ipma is not version 0 with 1-byte associations".into());
    }
    let mut ipma = body[..8].to_vec();
    let mut at = 8;
    while at < body.len() {
        let (item, count) = (&body[at..at + 2], body[at + 2] as usize);
        let associations = &body[at + 3..at + 3 + count];
        if item == [0, 1] {
            ipma.extend([item, &[count as u8 + 1], associations, &[0x80 | index]].concat());
        } else {
            ipma.extend(&body[at..at + 3 + count]);
        }
        at += 3 + count;
    }
    let iprp = boxed(b"iprp", &[ipco, boxed(b"ipma", &ipma)].concat());
    let mut meta_body = heif[meta.start + 8..meta.start + 12].to_vec();
    for (kind, range) in &children {
        match kind {
            b"iprp" => meta_body.extend(&iprp),
            _ => meta_body.extend(&heif[range.clone()]),
        }
    }
    let mut meta_box = boxed(b"meta", &meta_body);
    let moved = (meta_box.len() - meta.len()) as u32;
    // iloc version 0 with 4-byte base offsets: each item's base offset points into mdat.
    let iloc = find(&boxes(&meta_box, 12..meta_box.len())?, b"iloc")?;
    let iloc = &mut meta_box[iloc];
    if iloc[8] != 0 || iloc[12..14] != [0x44, 0x40] {
        return Err("iloc is not version 0 with 4-byte offsets and lengths".into());
    }
    let items = u16::from_be_bytes([iloc[14], iloc[15]]) as usize;
    let mut at = 16;
    for _ in 0..items {
        let base = at + 4;
        let offset = u32::from_be_bytes(iloc[base..base + 4].try_into()?) + moved;
        iloc[base..base + 4].copy_from_slice(&offset.to_be_bytes());
        let extents = u16::from_be_bytes([iloc[base + 4], iloc[base + 5]]) as usize;
        at = base + 6 + extents * 8;
    }
    Ok(top
        .iter()
        .flat_map(|(kind, range)| match kind {
            b"meta" => meta_box.clone(),
            _ => heif[range.clone()].to_vec(),
        })
        .collect())
}
