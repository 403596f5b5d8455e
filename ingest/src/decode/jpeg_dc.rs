//! A baseline JPEG at 1/8 of each side from its DC coefficients alone:
//! [`ScaledJpegDecoder::DcOnly`](super::ScaledJpegDecoder::DcOnly).
//!
//! At 1/8 scale an 8x8 block is one pixel, its DC term (the block's mean), so no AC
//! coefficient is needed: only its Huffman code and extra bits must be passed over to reach
//! the next block. Here they are passed over several codes a table look-up (a window of the
//! next 12 bits), without a value, a coefficient store or an inverse DCT, which is most of
//! the time a scaled decode by jpeg-decoder or libjpeg-turbo spends on a 12 MP photo
//! (ingest's README, "Benchmark"). Only 4:2:0 chroma is decoded with its values, for
//! libjpeg's 2x2 reduced inverse DCT.
//!
//! It reads what cameras and phones write: baseline or extended sequential Huffman JPEGs,
//! 8-bit, grey or YCbCr, sampling factors whose ratios to the largest are 1 or 2, all
//! components in the first scan. Anything else (progressive, arithmetic, lossless, 12-bit,
//! CMYK, RGB, a scan that runs out or meets a stray marker) gives `None`, which leaves the
//! file to the other decoders. Pixels follow libjpeg: the 1x1 inverse DCT
//! (`(dc * q + 4) >> 3` + 128), the 2x2 one for 4:2:0 chroma (as libjpeg-turbo scales it),
//! "fancy" (triangle) upsampling of other subsampled chroma, and its fixed-point YCbCr to
//! RGB.

use image::{DynamicImage, Limits};

use super::{reserve_scaled, scaled, scaled_image};

/// Bits the Huffman look-up tables are indexed by; a longer code takes the slow path.
const LOOKUP_BITS: u32 = 10;

/// [`ScaledJpegDecoder::decode`](super::ScaledJpegDecoder::decode) at 1/8 scale.
pub(super) fn decode_eighth(bytes: &[u8], limits: &Limits) -> Option<DynamicImage> {
    let frame = Frame::read(bytes)?;
    let (width, height) = (scaled(frame.width, 1), scaled(frame.height, 1));
    let channels = if frame.components.len() == 1 { 1 } else { 3 };
    reserve_scaled(limits, width, height, channels)?;
    let planes = frame.dc_planes()?;
    let mut full_size = planes
        .iter()
        .zip(&frame.components)
        .map(|(plane, component)| {
            plane.upsampled(
                frame.max_h / component.h / component.pixels_per_block,
                frame.max_v / component.v / component.pixels_per_block,
                width as usize,
                height as usize,
            )
        });
    let pixels = if channels == 1 {
        full_size.next()?
    } else {
        let (luma, blue, red) = (full_size.next()?, full_size.next()?, full_size.next()?);
        let mut pixels = Vec::with_capacity(width as usize * height as usize * 3);
        for ((&y, &cb), &cr) in luma.iter().zip(&blue).zip(&red) {
            pixels.extend(ycbcr_to_rgb(y, cb, cr));
        }
        pixels
    };
    scaled_image(width, height, channels, pixels)
}

/// The position in the 8x8 block of each coefficient in the order they are stored.
const NATURAL_ORDER: [usize; 64] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20,
    13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59,
    52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
];

/// libjpeg's 2x2 reduced inverse DCT (jidctred.c, `jpeg_idct_2x2`), exactly: the even part
/// is the DC term, the odd part rows and columns 1, 3, 5 and 7.
fn reduced_idct_2x2(coefficients: &[i32; 64], quantisers: &[i64; 64]) -> [[u8; 2]; 2] {
    const CONST_BITS: u32 = 13;
    const PASS1_BITS: u32 = 2;
    const ODD: [(usize, i64); 4] = [(7, -5906), (5, 6967), (3, -10426), (1, 29692)];
    let descale = |value: i64, bits: u32| (value + (1 << (bits - 1))) >> bits;
    let at = |row: usize, column: usize| {
        i64::from(coefficients[row * 8 + column]) * quantisers[row * 8 + column]
    };
    // Pass 1: the columns 0, 1, 3, 5 and 7 to two rows.
    let mut workspace = [[0i64; 8]; 2];
    for column in [0, 1, 3, 5, 7] {
        if ODD
            .iter()
            .all(|&(row, _)| coefficients[row * 8 + column] == 0)
        {
            let dc = at(0, column) << PASS1_BITS;
            workspace[0][column] = dc;
            workspace[1][column] = dc;
            continue;
        }
        let even = at(0, column) << (CONST_BITS + 2);
        let odd: i64 = ODD
            .iter()
            .map(|&(row, weight)| at(row, column) * weight)
            .sum();
        let bits = CONST_BITS - PASS1_BITS + 2;
        workspace[0][column] = descale(even + odd, bits);
        workspace[1][column] = descale(even - odd, bits);
    }
    // Pass 2: each row to two pixels.
    workspace.map(|row| {
        let even = row[0] << (CONST_BITS + 2);
        let odd: i64 = ODD
            .iter()
            .map(|&(column, weight)| row[column] * weight)
            .sum();
        let bits = CONST_BITS + PASS1_BITS + 3 + 2;
        [even + odd, even - odd].map(|value| (descale(value, bits) + 128).clamp(0, 255) as u8)
    })
}

/// libjpeg's YCbCr to RGB (jdcolor.c): 16-bit fixed point, rounded as it rounds.
#[inline]
fn ycbcr_to_rgb(y: u8, cb: u8, cr: u8) -> [u8; 3] {
    const ONE_HALF: i32 = 1 << 15;
    const fn fix(x: f64) -> i32 {
        (x * 65536.0 + 0.5) as i32
    }
    let (y, cb, cr) = (i32::from(y), i32::from(cb) - 128, i32::from(cr) - 128);
    let red = y + ((fix(1.402) * cr + ONE_HALF) >> 16);
    let green = y + ((-fix(0.344_14) * cb - fix(0.714_14) * cr + ONE_HALF) >> 16);
    let blue = y + ((fix(1.772) * cb + ONE_HALF) >> 16);
    let clamped = |value: i32| value.clamp(0, 255) as u8;
    [clamped(red), clamped(green), clamped(blue)]
}

/// A component of the frame, as its header and the first scan give it.
struct Component {
    id: u8,
    h: usize,
    v: usize,
    quantisation_table: usize,
    /// Its quantisation table in natural order, once the scan is reached.
    quantisers: [i64; 64],
    /// Pixels a block gives across and down: 2 where the component is sampled at half the
    /// largest factor both ways (4:2:0 chroma), decoded by libjpeg's 2x2 reduced inverse DCT
    /// so that it needs no upsampling, as libjpeg-turbo does it (its scaled IDCT of chroma,
    /// jdmaster.c); 1 elsewhere.
    pixels_per_block: usize,
    dc_table: usize,
    ac_table: usize,
}

/// What the headers before the first scan say, and that scan's entropy-coded data.
struct Frame<'a> {
    width: u32,
    height: u32,
    max_h: usize,
    max_v: usize,
    /// In the frame's order, which is also the scan's (refused otherwise).
    components: Vec<Component>,
    dc_tables: [Option<HuffmanTable>; 4],
    ac_tables: [Option<AcSkipTable>; 4],
    restart_interval: usize,
    scan: &'a [u8],
}

impl<'a> Frame<'a> {
    /// Reads the markers up to the first scan; `None` for anything this decoder leaves to
    /// the others.
    fn read(bytes: &'a [u8]) -> Option<Self> {
        if bytes.get(..2)? != [0xFF, 0xD8] {
            return None;
        }
        let mut quantisation_tables: [Option<[i64; 64]>; 4] = [None; 4];
        let mut dc_tables = [None, None, None, None];
        let mut ac_tables = [None, None, None, None];
        let mut restart_interval = 0;
        let mut frame: Option<(u32, u32, Vec<Component>)> = None;
        let mut pos = 2;
        loop {
            if *bytes.get(pos)? != 0xFF {
                return None;
            }
            while *bytes.get(pos)? == 0xFF {
                pos += 1;
            }
            let marker = bytes[pos];
            pos += 1;
            let length = usize::from(u16::from_be_bytes([*bytes.get(pos)?, *bytes.get(pos + 1)?]));
            let segment = bytes.get(pos + 2..pos + length.checked_sub(2)? + 2)?;
            pos += length;
            match marker {
                // Baseline and extended sequential, Huffman-coded.
                0xC0 | 0xC1 => frame = Some(read_frame_header(segment)?),
                0xC4 => {
                    let mut rest = segment;
                    while !rest.is_empty() {
                        let (class, index) = (rest[0] >> 4, usize::from(rest[0] & 15));
                        let (table, used) = HuffmanTable::read(&rest[1..])?;
                        match class {
                            0 => *dc_tables.get_mut(index)? = Some(table),
                            1 => *ac_tables.get_mut(index)? = Some(AcSkipTable::new(table)),
                            _ => return None,
                        }
                        rest = &rest[1 + used..];
                    }
                }
                0xDB => {
                    let mut rest = segment;
                    while !rest.is_empty() {
                        let (precision, index) = (rest[0] >> 4, usize::from(rest[0] & 15));
                        let bytes_each = match precision {
                            0 => 1,
                            1 => 2,
                            _ => return None,
                        };
                        let values = rest.get(1..1 + 64 * bytes_each)?;
                        let mut table = [0; 64];
                        for (zigzag, value) in values.chunks_exact(bytes_each).enumerate() {
                            let value = value
                                .iter()
                                .fold(0, |high, &low| high << 8 | i64::from(low));
                            table[NATURAL_ORDER[zigzag]] = value;
                        }
                        *quantisation_tables.get_mut(index)? = Some(table);
                        rest = &rest[1 + 64 * bytes_each..];
                    }
                }
                0xDD => {
                    restart_interval = usize::from(u16::from_be_bytes(segment.try_into().ok()?));
                }
                // Adobe's APP14: a transform of 0 stores RGB (or CMYK), not YCbCr.
                0xEE if segment.starts_with(b"Adobe") && segment.get(11) == Some(&0) => {
                    return None;
                }
                0xDA => {
                    let (width, height, mut components) = frame?;
                    let count = usize::from(*segment.first()?);
                    if count != components.len() {
                        return None;
                    }
                    for (index, component) in components.iter_mut().enumerate() {
                        let selector = segment.get(1 + 2 * index..3 + 2 * index)?;
                        if selector[0] != component.id {
                            return None;
                        }
                        component.dc_table = usize::from(selector[1] >> 4);
                        component.ac_table = usize::from(selector[1] & 15);
                        dc_tables.get(component.dc_table)?.as_ref()?;
                        ac_tables.get(component.ac_table)?.as_ref()?;
                        component.quantisers =
                            (*quantisation_tables.get(component.quantisation_table)?)?;
                        if component.quantisers[0] == 0 {
                            return None;
                        }
                    }
                    // Spectral selection and successive approximation of a sequential scan.
                    if segment.get(1 + 2 * count..4 + 2 * count)? != [0, 63, 0] {
                        return None;
                    }
                    let max_h = components.iter().map(|c| c.h).max()?;
                    let max_v = components.iter().map(|c| c.v).max()?;
                    let ratios_fit = components.iter().all(|c| {
                        max_h % c.h == 0 && max_v % c.v == 0 && max_h / c.h <= 2 && max_v / c.v <= 2
                    });
                    if !ratios_fit {
                        return None;
                    }
                    for component in &mut components {
                        component.pixels_per_block =
                            if max_h / component.h == 2 && max_v / component.v == 2 {
                                2
                            } else {
                                1
                            };
                    }
                    return Some(Frame {
                        width,
                        height,
                        max_h,
                        max_v,
                        components,
                        dc_tables,
                        ac_tables,
                        restart_interval,
                        scan: &bytes[pos..],
                    });
                }
                // Other frame types (progressive, lossless, arithmetic), arithmetic
                // conditioning, a number of lines defined later, an end before the scan.
                0xC2..=0xCF | 0xDC | 0xD8 | 0xD9 => return None,
                _ => {}
            }
        }
    }

    /// Each component's DC plane: one value per block, level-shifted and clamped as
    /// libjpeg's 1x1 inverse DCT gives it, blocks in the frame's layout.
    fn dc_planes(&self) -> Option<Vec<Plane>> {
        let interleaved = self.components.len() > 1;
        let (mcu_width, mcu_height) = if interleaved {
            (8 * self.max_h, 8 * self.max_v)
        } else {
            (8, 8)
        };
        let mcus_across = (self.width as usize).div_ceil(mcu_width);
        let mcus_down = (self.height as usize).div_ceil(mcu_height);
        let blocks_in_mcu = |c: &Component| if interleaved { (c.h, c.v) } else { (1, 1) };
        let mut planes: Vec<Plane> = self
            .components
            .iter()
            .map(|c| {
                let (h, v) = blocks_in_mcu(c);
                let scale = c.pixels_per_block;
                let width = mcus_across * h * scale;
                let used = |side: u32, factor: usize, max: usize| {
                    (side as usize * factor * scale).div_ceil(max * 8)
                };
                Plane {
                    width,
                    used_width: used(self.width, c.h, self.max_h),
                    used_height: used(self.height, c.v, self.max_v),
                    values: vec![0; width * mcus_down * v * scale],
                }
            })
            .collect();
        let mut bits = BitReader::new(self.scan);
        let mut predictions = [0i32; 4];
        let mut restarts = 0u8;
        for mcu in 0..mcus_across * mcus_down {
            if self.restart_interval > 0 && mcu > 0 && mcu % self.restart_interval == 0 {
                bits.restart(0xD0 + restarts)?;
                restarts = (restarts + 1) % 8;
                predictions = [0; 4];
            }
            let (mcu_x, mcu_y) = (mcu % mcus_across, mcu / mcus_across);
            for (c, component) in self.components.iter().enumerate() {
                let dc_table = self.dc_tables[component.dc_table].as_ref()?;
                let ac_table = self.ac_tables[component.ac_table].as_ref()?;
                let (h, v) = blocks_in_mcu(component);
                let plane = &mut planes[c];
                for block_y in 0..v {
                    for block_x in 0..h {
                        bits.refill();
                        let category = dc_table.decode(&mut bits)?;
                        let difference = bits.receive_extend(category)?;
                        predictions[c] = predictions[c].wrapping_add(difference);
                        let (x, y) = (mcu_x * h + block_x, mcu_y * v + block_y);
                        if component.pixels_per_block == 2 {
                            let mut coefficients = [0i32; 64];
                            coefficients[0] = predictions[c];
                            ac_table.decode_block(&mut bits, &mut coefficients)?;
                            let pixels = reduced_idct_2x2(&coefficients, &component.quantisers);
                            for (row, pair) in pixels.into_iter().enumerate() {
                                let start = (2 * y + row) * plane.width + 2 * x;
                                plane.values[start..start + 2].copy_from_slice(&pair);
                            }
                        } else {
                            ac_table.skip_block(&mut bits)?;
                            let dc = i64::from(predictions[c]) * component.quantisers[0];
                            let value = ((dc + 4) >> 3) + 128;
                            plane.values[y * plane.width + x] = value.clamp(0, 255) as u8;
                        }
                    }
                }
            }
        }
        (!bits.overran()).then_some(planes)
    }
}

/// SOF0/SOF1: the sides and the components, 8-bit only.
fn read_frame_header(segment: &[u8]) -> Option<(u32, u32, Vec<Component>)> {
    let [
        precision,
        height_high,
        height_low,
        width_high,
        width_low,
        count,
        rest @ ..,
    ] = segment
    else {
        return None;
    };
    let height = u32::from(u16::from_be_bytes([*height_high, *height_low]));
    let width = u32::from(u16::from_be_bytes([*width_high, *width_low]));
    if *precision != 8 || height == 0 || width == 0 || !matches!(count, 1 | 3) {
        return None;
    }
    let components = rest
        .chunks_exact(3)
        .take(usize::from(*count))
        .map(|c| {
            let (h, v) = (usize::from(c[1] >> 4), usize::from(c[1] & 15));
            ((1..=4).contains(&h) && (1..=4).contains(&v)).then_some(Component {
                id: c[0],
                h,
                v,
                quantisation_table: usize::from(c[2]),
                quantisers: [0; 64],
                pixels_per_block: 1,
                dc_table: 0,
                ac_table: 0,
            })
        })
        .collect::<Option<Vec<_>>>()?;
    // Three components named R, G, B are stored as RGB (libjpeg's rule).
    let rgb = components.iter().map(|c| c.id).eq(*b"RGB");
    (components.len() == usize::from(*count) && !rgb).then_some((width, height, components))
}

/// One value per block of a component, in the MCU layout (padded to whole MCUs).
struct Plane {
    width: usize,
    /// The columns and rows that hold the picture (libjpeg's downsampled sides).
    used_width: usize,
    used_height: usize,
    values: Vec<u8>,
}

impl Plane {
    fn at(&self, x: usize, y: usize) -> i32 {
        let (x, y) = (x.min(self.used_width - 1), y.min(self.used_height - 1));
        i32::from(self.values[y * self.width + x])
    }

    /// The plane at the picture's `width` x `height`, widened `across` and made taller
    /// `down` times (1 or 2) by libjpeg's fancy upsampling: each new sample 3/4 of its
    /// nearest and 1/4 of the next, with libjpeg's rounding biases and its edges.
    fn upsampled(&self, across: usize, down: usize, width: usize, height: usize) -> Vec<u8> {
        let mut values = Vec::with_capacity(width * height);
        if (across, down) == (1, 1) {
            // The picture's rows as they are, the last column and row repeated past the
            // used ones.
            for y in 0..height {
                let start = y.min(self.used_height - 1) * self.width;
                let row = &self.values[start..start + self.used_width.min(width)];
                values.extend_from_slice(row);
                values.resize(values.len() + width - row.len(), row[row.len() - 1]);
            }
            return values;
        }
        for y in 0..height {
            let (row, neighbour_row) = match down {
                1 => (y, y),
                _ if y % 2 == 0 => (y / 2, (y / 2).saturating_sub(1)),
                _ => (y / 2, y / 2 + 1),
            };
            // Vertical sums at quadruple scale, or the sample itself (bias as libjpeg's
            // h1v2: 1 above, 2 below).
            let column = |x: usize| match down {
                1 => 4 * self.at(x, row),
                _ => 3 * self.at(x, row) + self.at(x, neighbour_row),
            };
            for x in 0..width {
                let value = match (across, down) {
                    (1, _) => (column(x) + 1 + (y % 2) as i32) >> 2,
                    _ => {
                        let near = column(x / 2);
                        let far = if x % 2 == 0 {
                            column((x / 2).saturating_sub(1))
                        } else {
                            column(x / 2 + 1)
                        };
                        // libjpeg's biases: h2v1 1 left, 2 right (of quarters); h2v2 8
                        // and 7 (of sixteenths).
                        match (down, x % 2) {
                            (1, 0) => (3 * near + far + 4) >> 4,
                            (1, _) => (3 * near + far + 8) >> 4,
                            (_, 0) => (3 * near + far + 8) >> 4,
                            _ => (3 * near + far + 7) >> 4,
                        }
                    }
                };
                values.push(value as u8);
            }
        }
        values
    }
}

/// A canonical Huffman table: a look-up of the first [`LOOKUP_BITS`] for short codes,
/// libjpeg's `maxcode`/`valoffset` for the rest.
struct HuffmanTable {
    /// Code length << 8 | symbol; 0 for a code longer than the look-up.
    lookup: Box<[u16; 1 << LOOKUP_BITS]>,
    /// The largest code of each length, -1 where there is none.
    max_code: [i32; 17],
    /// What turns a code of each length into its index in `symbols`.
    offset: [i32; 17],
    symbols: Vec<u8>,
}

impl HuffmanTable {
    /// Reads a DHT table's counts and symbols; also the bytes they took.
    fn read(bytes: &[u8]) -> Option<(Self, usize)> {
        let counts = bytes.get(..16)?;
        let total: usize = counts.iter().map(|&n| usize::from(n)).sum();
        let symbols = bytes.get(16..16 + total)?.to_vec();
        let mut lookup = Box::new([0; 1 << LOOKUP_BITS]);
        let mut max_code = [-1; 17];
        let mut offset = [0; 17];
        let (mut code, mut index) = (0i32, 0usize);
        for length in 1..=16 {
            let count = usize::from(counts[length - 1]);
            if count > 0 {
                offset[length] = index as i32 - code;
                for &symbol in &symbols[index..index + count] {
                    if length as u32 <= LOOKUP_BITS {
                        let shift = LOOKUP_BITS - length as u32;
                        let first = (code as usize) << shift;
                        lookup[first..first + (1 << shift)]
                            .fill(((length as u16) << 8) | u16::from(symbol));
                    }
                    code += 1;
                }
                index += count;
                max_code[length] = code - 1;
            }
            // More codes than the length holds: not a prefix code.
            if code > 1 << length {
                return None;
            }
            code <<= 1;
        }
        let table = HuffmanTable {
            lookup,
            max_code,
            offset,
            symbols,
        };
        Some((table, 16 + total))
    }

    /// The next symbol, its code consumed; the reader holds at least 16 bits.
    #[inline(always)]
    fn decode(&self, bits: &mut BitReader) -> Option<u8> {
        let (length, symbol) = self.peek_symbol(bits)?;
        bits.consume(length);
        Some(symbol)
    }

    /// The next code's length and symbol, not consumed.
    #[inline(always)]
    fn peek_symbol(&self, bits: &BitReader) -> Option<(u32, u8)> {
        let entry = self.lookup[bits.peek(LOOKUP_BITS)];
        if entry != 0 {
            return Some((u32::from(entry >> 8), entry as u8));
        }
        self.decode_within(bits.peek(16), 16, 0)
    }

    /// The code that starts `offset` bits into `bits`, a `width`-bit value, if it ends
    /// within them: its length and symbol (libjpeg's canonical decode, code by length).
    fn decode_within(&self, bits: usize, width: u32, offset: u32) -> Option<(u32, u8)> {
        (1..=16.min(width.saturating_sub(offset))).find_map(|length| {
            let code = ((bits >> (width - offset - length)) & ((1 << length) - 1)) as i32;
            (code <= self.max_code[length as usize]).then(|| {
                let index = (code + self.offset[length as usize]) as usize;
                self.symbols.get(index).map(|&symbol| (length, symbol))
            })?
        })
    }
}

/// An AC table as this decoder reads it: for the next [`WINDOW_BITS`] bits, the whole codes
/// (each with its coefficient's extra bits) they hold, passed over at once.
struct AcSkipTable {
    /// Per window: ends-the-block << 15 | positions moved << 8 | bits taken; 0 where the
    /// window does not hold a whole code (a long code, or a short one with a long value).
    /// The end of block (EOB) is the last code an entry takes.
    window: Box<[u16; 1 << WINDOW_BITS]>,
    table: HuffmanTable,
}

/// Bits an AC window look-up reads: 8 KiB a table, several codes a look-up in a photo's
/// busy blocks (2 to 4 bits a code with its value at quality 90).
const WINDOW_BITS: u32 = 12;

impl AcSkipTable {
    fn new(table: HuffmanTable) -> Self {
        let mut window = Box::new([0; 1 << WINDOW_BITS]);
        for (bits, entry) in window.iter_mut().enumerate() {
            let (mut taken, mut moved, mut ends) = (0, 0, false);
            while let Some((length, symbol)) = table.decode_within(bits, WINDOW_BITS, taken) {
                let (skip, advance) = Self::step(length, symbol);
                if taken + skip > WINDOW_BITS || moved + advance >= 64 {
                    break;
                }
                taken += skip;
                if advance == 0 {
                    ends = true;
                    break;
                }
                moved += advance;
            }
            *entry = (u16::from(ends) << 15) | (moved << 8) | taken as u16;
        }
        AcSkipTable { window, table }
    }

    /// A code of `length` bits for `symbol` (run << 4 | size): the bits it and its value
    /// take, and how far it moves the block on, as libjpeg reads it: a zero size ends the
    /// block, except 15 zeros (ZRL).
    fn step(length: u32, symbol: u8) -> (u32, u16) {
        let (run, size) = (u16::from(symbol >> 4), u32::from(symbol & 15));
        let advance = match (run, size) {
            (15, 0) => 16,
            (_, 0) => 0,
            _ => run + 1,
        };
        (length + size, advance)
    }

    /// Decodes a block's AC coefficients into `coefficients` (natural order), as libjpeg
    /// does: a run past the end writes the last position.
    fn decode_block(&self, bits: &mut BitReader, coefficients: &mut [i32; 64]) -> Option<()> {
        let mut position = 1;
        while position < 64 {
            bits.refill();
            let (length, symbol) = self.table.peek_symbol(bits)?;
            bits.consume(length);
            let (run, size) = (usize::from(symbol >> 4), symbol & 15);
            if size == 0 {
                if run != 15 {
                    break;
                }
                position += 16;
                continue;
            }
            position += run;
            coefficients[NATURAL_ORDER.get(position).copied().unwrap_or(63)] =
                bits.receive_extend(size)?;
            position += 1;
        }
        Some(())
    }

    /// Passes over a block's AC coefficients.
    #[inline(always)]
    fn skip_block(&self, bits: &mut BitReader) -> Option<()> {
        let mut position = 1;
        while position < 64 {
            bits.refill();
            let entry = self.window[bits.peek(WINDOW_BITS)];
            let (taken, moved) = (u32::from(entry & 0xFF), (entry >> 8) & 0x7F);
            // Whole codes that all start inside the block: taken at once.
            if taken != 0 && position + moved < 64 {
                bits.consume(taken);
                if entry >> 15 != 0 {
                    break;
                }
                position += moved;
                continue;
            }
            let (length, symbol) = self.table.peek_symbol(bits)?;
            let (skip, advance) = Self::step(length, symbol);
            bits.consume(skip);
            if advance == 0 {
                break;
            }
            position += advance;
        }
        Some(())
    }
}

/// The entropy-coded data as bits, byte stuffing undone; a marker (or the end) is never
/// passed, zeros are read in its place, and [`overran`](BitReader::overran) tells.
#[derive(Clone, Copy)]
struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
    /// The next bits, from the top.
    buffer: u64,
    count: u32,
    /// Of `count`, the zeros read in place of a marker or past the end.
    made_up: u32,
}

impl<'a> BitReader<'a> {
    fn new(data: &'a [u8]) -> Self {
        BitReader {
            data,
            pos: 0,
            buffer: 0,
            count: 0,
            made_up: 0,
        }
    }

    /// At least 32 bits in the buffer: enough for a code (16 at most) and its value's bits
    /// (11 for a DC difference, 10 for an AC coefficient in 8-bit JPEGs).
    #[inline(always)]
    fn refill(&mut self) {
        if self.count >= 32 {
            return;
        }
        if let Some(word) = self.data.get(self.pos..self.pos + 4) {
            let word = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
            // Four bytes without an FF (no stuffing, no marker) go in at once.
            let inverted = !word;
            if inverted.wrapping_sub(0x0101_0101) & !inverted & 0x8080_8080 == 0 {
                self.buffer |= u64::from(word) << (32 - self.count);
                self.count += 32;
                self.pos += 4;
                return;
            }
        }
        *self = self.refilled_bytewise();
    }

    /// By value, so that the hot loops keep the reader in registers.
    #[cold]
    #[inline(never)]
    fn refilled_bytewise(mut self) -> Self {
        while self.count <= 56 {
            let byte = match self.data.get(self.pos) {
                Some(0xFF) if self.data.get(self.pos + 1) == Some(&0) => {
                    self.pos += 2;
                    0xFF
                }
                Some(0xFF) | None => {
                    self.made_up += 8;
                    0
                }
                Some(&byte) => {
                    self.pos += 1;
                    byte
                }
            };
            self.buffer |= u64::from(byte) << (56 - self.count);
            self.count += 8;
        }
        self
    }

    #[inline(always)]
    fn peek(&self, bits: u32) -> usize {
        (self.buffer >> (64 - bits)) as usize
    }

    #[inline(always)]
    fn consume(&mut self, bits: u32) {
        // A corrupt code can ask for more than the buffer holds; it then reads zeros and
        // overruns, which `overran` reports.
        let bits = bits.min(self.count);
        self.buffer <<= bits;
        self.count -= bits;
    }

    /// A DC difference of `category` bits (JPEG's RECEIVE and EXTEND).
    fn receive_extend(&mut self, category: u8) -> Option<i32> {
        let size = u32::from(category);
        if size == 0 {
            return Some(0);
        }
        if size > 16 {
            return None;
        }
        let value = self.peek(size) as i32;
        self.consume(size);
        Some(if value < 1 << (size - 1) {
            value - (1 << size) + 1
        } else {
            value
        })
    }

    /// Whether bits that the data did not hold were read.
    fn overran(&self) -> bool {
        self.count < self.made_up
    }

    /// Passes the restart `marker` that ends an interval: the bits left are the last byte's
    /// padding.
    fn restart(&mut self, marker: u8) -> Option<()> {
        if self.overran() || self.count - self.made_up >= 8 {
            return None;
        }
        if self.data.get(self.pos..self.pos + 2)? != [0xFF, marker] {
            return None;
        }
        self.pos += 2;
        (self.buffer, self.count, self.made_up) = (0, 0, 0);
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use image::RgbImage;
    use jpeg_encoder::{ColorType, Encoder, SamplingFactor};

    use super::*;
    use crate::decode::decode_jpeg_scaled;

    /// A photo-like picture of sides that are not whole MCUs: shading, coloured edges and
    /// fine texture, so that every block has AC codes to pass over.
    fn picture(width: u32, height: u32) -> RgbImage {
        RgbImage::from_fn(width, height, |x, y| {
            let (fx, fy) = (x as f32, y as f32);
            let shade = 128.0 + 80.0 * (fx / 37.0).sin() * (fy / 53.0).cos();
            let disc = if (fx - 300.0).hypot(fy - 200.0) < 150.0 {
                70.0
            } else {
                0.0
            };
            let grain = ((x * 7 + y * 13) % 23) as f32;
            image::Rgb([
                (shade + disc + grain) as u8,
                (shade * 0.7 + grain + 30.0) as u8,
                (220.0 - shade * 0.5 - disc) as u8,
            ])
        })
    }

    /// `picture` as a JPEG: `sampling` (None: grey), a restart interval, progressive or not.
    fn jpeg(
        picture: &RgbImage,
        sampling: Option<SamplingFactor>,
        restart_interval: u16,
        progressive: bool,
    ) -> Vec<u8> {
        let mut bytes = Vec::new();
        let mut encoder = Encoder::new(&mut bytes, 90);
        encoder.set_restart_interval(restart_interval);
        encoder.set_progressive(progressive);
        let (width, height) = (picture.width() as u16, picture.height() as u16);
        match sampling {
            Some(sampling) => {
                encoder.set_sampling_factor(sampling);
                encoder.encode(picture.as_raw(), width, height, ColorType::Rgb)
            }
            None => {
                let grey = image::DynamicImage::ImageRgb8(picture.clone()).into_luma8();
                encoder.encode(grey.as_raw(), width, height, ColorType::Luma)
            }
        }
        .unwrap();
        bytes
    }

    /// Mean and largest absolute difference per channel value.
    fn differences(a: &DynamicImage, b: &DynamicImage) -> (f64, u8) {
        assert_eq!((a.width(), a.height()), (b.width(), b.height()));
        let (a, b) = (a.as_bytes(), b.as_bytes());
        assert_eq!(a.len(), b.len());
        let total: u64 = a
            .iter()
            .zip(b)
            .map(|(x, y)| u64::from(x.abs_diff(*y)))
            .sum();
        let max = a
            .iter()
            .zip(b)
            .map(|(x, y)| x.abs_diff(*y))
            .max()
            .unwrap_or(0);
        (total as f64 / a.len() as f64, max)
    }

    #[test]
    fn decodes_every_camera_layout_as_jpeg_decoder_does_at_an_eighth() {
        let picture = picture(803, 611);
        let layouts = [
            ("4:2:0", Some(SamplingFactor::R_4_2_0)),
            ("4:2:2", Some(SamplingFactor::R_4_2_2)),
            ("4:4:0", Some(SamplingFactor::R_4_4_0)),
            ("4:4:4", Some(SamplingFactor::R_4_4_4)),
            ("grey", None),
        ];
        for (name, sampling) in layouts {
            for restart_interval in [0, 1, 7] {
                let bytes = jpeg(&picture, sampling, restart_interval, false);
                let ours = decode_eighth(&bytes, &Limits::default())
                    .unwrap_or_else(|| panic!("{name}, restart {restart_interval}: refused"));
                assert_eq!((ours.width(), ours.height()), (101, 77), "{name}");
                // 4:2:0 chroma is widened by libjpeg's 2x2 inverse DCT, jpeg-decoder
                // upsamples its DC terms: the two differ there (mean 1.6, max 35 on this
                // fixture), so its reference is the full decode (`decode`'s tests).
                if name != "4:2:0" {
                    let theirs = decode_jpeg_scaled(&bytes, 1, &Limits::default()).unwrap();
                    let (mean, max) = differences(&ours, &theirs);
                    // Measured: mean 0.49 (grey) to 1.06 (4:4:4), max 3: jpeg-decoder rounds
                    // its 1x1 inverse DCT and colour conversion otherwise than libjpeg.
                    assert!(
                        mean < 1.2 && max <= 4,
                        "{name}, restart {restart_interval}: mean {mean}, max {max}"
                    );
                }
                // Where libjpeg-turbo does not copy chroma samples (4:2:2, 4:4:0: it
                // does not upsample smoothly at 1/8 scale), its eighth is ours exactly.
                #[cfg(feature = "turbojpeg")]
                if matches!(name, "4:2:0" | "4:4:4" | "grey") {
                    let turbo =
                        crate::decode::libjpeg_turbo::decode_scaled(&bytes, 1, &Limits::default())
                            .unwrap();
                    assert_eq!(ours.as_bytes(), turbo.as_bytes(), "{name}");
                }
            }
        }
    }

    #[test]
    fn leaves_what_it_does_not_read_to_the_other_decoders() {
        let picture = picture(403, 301);
        let limits = Limits::default();
        let baseline = jpeg(&picture, Some(SamplingFactor::R_4_2_0), 0, false);
        assert!(decode_eighth(&baseline, &limits).is_some());
        let refused = |bytes: &[u8]| decode_eighth(bytes, &limits).is_none();
        assert!(
            refused(&jpeg(&picture, Some(SamplingFactor::R_4_2_0), 0, true)),
            "progressive"
        );
        assert!(
            refused(&jpeg(&picture, Some(SamplingFactor::R_4_1_1), 0, false)),
            "4:1:1"
        );
        // The scan cut in half, then its end marker: the data runs out.
        let mut cut = baseline[..baseline.len() / 2].to_vec();
        cut.extend([0xFF, 0xD9]);
        assert!(refused(&cut), "cut");
        // A marker in the middle of the scan.
        let mut stray = baseline.clone();
        let middle = stray.len() / 2;
        stray[middle..middle + 2].copy_from_slice(&[0xFF, 0xC4]);
        assert!(refused(&stray), "stray marker");
        assert!(refused(&baseline[..baseline.len() / 3]), "no end");
        assert!(refused(&[0xFF, 0xD8, 0xFF]), "header only");
        assert!(refused(b"not a jpeg"), "not a JPEG");
        // A restart marker out of order.
        let restarted = jpeg(&picture, Some(SamplingFactor::R_4_2_0), 2, false);
        assert!(decode_eighth(&restarted, &limits).is_some());
        let mut misordered = restarted.clone();
        let first_restart = misordered
            .windows(2)
            .position(|pair| pair == [0xFF, 0xD0])
            .unwrap();
        misordered[first_restart + 1] = 0xD3;
        assert!(refused(&misordered), "restart markers out of order");
        // Limits are kept: the eighth of 403 x 301 is 51 x 38 RGB.
        let tight = {
            let mut limits = Limits::default();
            limits.max_alloc = Some(51 * 38 * 3 - 1);
            limits
        };
        assert!(
            decode_eighth(&baseline, &tight).is_none(),
            "over the limits"
        );
    }

    /// Every byte cut or changed gives a picture or `None`, never a panic.
    #[test]
    fn broken_files_never_panic() {
        let bytes = jpeg(&picture(120, 90), Some(SamplingFactor::R_4_2_0), 3, false);
        for cut in 0..bytes.len() {
            let _ = decode_eighth(&bytes[..cut], &Limits::default());
        }
        for position in 0..bytes.len() {
            for value in [0x00, 0x01, 0x7F, 0xD0, 0xFF] {
                let mut changed = bytes.clone();
                changed[position] = value;
                let _ = decode_eighth(&changed, &Limits::default());
            }
        }
    }
}
