//! Reading `.npy` arrays (NumPy's format, versions 1 to 3) of `u8`, `f32` or `f64`, C order,
//! as produced by `numpy.save`, of any rank ([`read_array`]) or 2-D ([`read`]), and writing
//! 2-D ones.

use std::fmt;

/// The element type of an array.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dtype {
    U8,
    F32,
    F64,
}

impl Dtype {
    fn size(self) -> usize {
        match self {
            Dtype::U8 => 1,
            Dtype::F32 => 4,
            Dtype::F64 => 8,
        }
    }
}

impl fmt::Display for Dtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Dtype::U8 => "u8",
            Dtype::F32 => "f32",
            Dtype::F64 => "f64",
        })
    }
}

/// A 2-D array read from `.npy` bytes; floats are widened or kept as `f32`.
#[derive(Clone, Debug, PartialEq)]
pub enum Matrix {
    U8 {
        rows: usize,
        cols: usize,
        data: Vec<u8>,
    },
    F32 {
        rows: usize,
        cols: usize,
        data: Vec<f32>,
    },
}

impl Matrix {
    /// `(rows, cols)`.
    pub fn shape(&self) -> (usize, usize) {
        match self {
            Matrix::U8 { rows, cols, .. } | Matrix::F32 { rows, cols, .. } => (*rows, *cols),
        }
    }
}

/// The values of an array of any rank; floats are widened or kept as `f32`.
#[derive(Clone, Debug, PartialEq)]
pub enum Values {
    U8(Vec<u8>),
    F32(Vec<f32>),
}

/// An array of any rank read from `.npy` bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct Array {
    /// Extents, outermost first.
    pub shape: Vec<usize>,
    /// The elements in C order.
    pub values: Values,
}

/// Why bytes are not a `.npy` array of a supported type and shape.
#[derive(Debug, thiserror::Error, PartialEq)]
#[non_exhaustive]
pub enum NpyError {
    #[error("not a .npy file (the magic string \\x93NUMPY is missing)")]
    Magic,
    #[error("unsupported .npy format version {0}.{1}")]
    Version(u8, u8),
    #[error("the header is truncated or not UTF-8")]
    Header,
    #[error("header field '{field}' is missing or malformed in {header:?}")]
    Field { field: &'static str, header: String },
    #[error("dtype '{0}' is not supported: use uint8, float32 or float64")]
    Dtype(String),
    #[error("fortran_order arrays are not supported: save a C-ordered array")]
    FortranOrder,
    #[error("shape {found:?} is not {expected}")]
    Shape {
        found: Vec<usize>,
        expected: &'static str,
    },
    #[error("data holds {found} bytes, but shape {shape:?} of {dtype} needs {expected}")]
    Length {
        shape: Vec<usize>,
        dtype: Dtype,
        expected: usize,
        found: usize,
    },
}

const MAGIC: &[u8] = b"\x93NUMPY";

/// Parses a 2-D `.npy` array.
pub fn read(bytes: &[u8]) -> Result<Matrix, NpyError> {
    let array = read_array(bytes)?;
    let [rows, cols] = array.shape[..] else {
        return Err(NpyError::Shape {
            found: array.shape,
            expected: "2-D: (rows, dims)",
        });
    };
    Ok(match array.values {
        Values::U8(data) => Matrix::U8 { rows, cols, data },
        Values::F32(data) => Matrix::F32 { rows, cols, data },
    })
}

/// What a `.npy` header says: the element type, the shape, and where the data starts.
#[derive(Clone, Debug, PartialEq)]
pub struct Header {
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    /// Byte offset of the first element.
    pub data_start: usize,
}

impl Header {
    /// Bytes of data the shape needs, if that fits `usize`.
    pub fn data_len(&self) -> Option<usize> {
        self.shape
            .iter()
            .try_fold(self.dtype.size(), |n, &extent| n.checked_mul(extent))
    }
}

/// Parses a `.npy` array of any rank.
pub fn read_array(bytes: &[u8]) -> Result<Array, NpyError> {
    let Header {
        dtype,
        shape,
        data_start,
    } = read_header(bytes)?;
    let data = &bytes[data_start..];
    let expected = shape
        .iter()
        .try_fold(dtype.size(), |n, &extent| n.checked_mul(extent))
        .filter(|&e| e == data.len());
    if expected.is_none() {
        return Err(NpyError::Length {
            expected: shape
                .iter()
                .fold(dtype.size(), |n, &extent| n.saturating_mul(extent)),
            shape,
            dtype,
            found: data.len(),
        });
    }
    let values = match dtype {
        Dtype::U8 => Values::U8(data.to_vec()),
        Dtype::F32 | Dtype::F64 => Values::F32(floats(dtype, data)),
    };
    Ok(Array { shape, values })
}

/// Little-endian f32 or f64 elements (whole ones only) as f32.
pub fn floats(dtype: Dtype, data: &[u8]) -> Vec<f32> {
    match dtype {
        Dtype::F64 => data
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes(b.try_into().expect("chunks of 8")) as f32)
            .collect(),
        _ => data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
    }
}

/// Parses the header at the start of `bytes` (the data may be absent: only the header is read).
pub fn read_header(bytes: &[u8]) -> Result<Header, NpyError> {
    if !bytes.starts_with(MAGIC) {
        return Err(NpyError::Magic);
    }
    let (major, minor) = match bytes.get(6..8) {
        Some(&[major, minor]) => (major, minor),
        _ => return Err(NpyError::Header),
    };
    let (header_len, header_start): (Option<usize>, usize) = match major {
        1 => (
            bytes
                .get(8..10)
                .map(|b| u16::from_le_bytes([b[0], b[1]]) as usize),
            10,
        ),
        2 | 3 => (
            bytes
                .get(8..12)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize),
            12,
        ),
        _ => return Err(NpyError::Version(major, minor)),
    };
    let header_end = header_len
        .and_then(|len| header_start.checked_add(len))
        .ok_or(NpyError::Header)?;
    let header = bytes
        .get(header_start..header_end)
        .and_then(|h| std::str::from_utf8(h).ok())
        .ok_or(NpyError::Header)?;
    let field = |name: &'static str| {
        header_value(header, name).ok_or_else(|| NpyError::Field {
            field: name,
            header: header.trim().to_owned(),
        })
    };
    let descr = field("descr")?.trim_matches(|c| c == '\'' || c == '"');
    let dtype = match descr {
        "|u1" | "<u1" | "u1" | "|b1" => Dtype::U8,
        "<f4" => Dtype::F32,
        "<f8" => Dtype::F64,
        other => return Err(NpyError::Dtype(other.to_owned())),
    };
    match field("fortran_order")? {
        "False" => {}
        "True" => return Err(NpyError::FortranOrder),
        _ => {
            return Err(NpyError::Field {
                field: "fortran_order",
                header: header.trim().to_owned(),
            });
        }
    }
    let shape = parse_shape(field("shape")?).ok_or_else(|| NpyError::Field {
        field: "shape",
        header: header.trim().to_owned(),
    })?;
    Ok(Header {
        dtype,
        shape,
        data_start: header_end,
    })
}

/// Serialises a 2-D array as a version 1.0 `.npy` file.
pub fn write(matrix: &Matrix) -> Vec<u8> {
    let (rows, cols) = matrix.shape();
    let values = match matrix {
        Matrix::U8 { data, .. } => Values::U8(data.clone()),
        Matrix::F32 { data, .. } => Values::F32(data.clone()),
    };
    write_array(&Array {
        shape: vec![rows, cols],
        values,
    })
}

/// Serialises an array of any rank as a version 1.0 `.npy` file.
pub fn write_array(array: &Array) -> Vec<u8> {
    let descr = match array.values {
        Values::U8(_) => "|u1",
        Values::F32(_) => "<f4",
    };
    let mut out = header(descr, &array.shape);
    match &array.values {
        Values::U8(data) => out.extend_from_slice(data),
        Values::F32(data) => data
            .iter()
            .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
    }
    out
}

/// The header of a version 1.0 `.npy` file of f32 `[rows, cols]`: the file is this, then
/// the rows' little-endian values (for a file written a piece at a time).
pub fn f32_header(rows: usize, cols: usize) -> Vec<u8> {
    header("<f4", &[rows, cols])
}

/// A version 1.0 `.npy` header for values `descr` of this `shape`.
fn header(descr: &str, shape: &[usize]) -> Vec<u8> {
    let extents: Vec<String> = shape.iter().map(usize::to_string).collect();
    let shape = match extents.len() {
        1 => format!("({},)", extents[0]),
        _ => format!("({})", extents.join(", ")),
    };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    // The data starts on a 64-byte boundary; the header ends with a newline.
    let unpadded = MAGIC.len() + 4 + header.len() + 1;
    header.push_str(&" ".repeat(unpadded.next_multiple_of(64) - unpadded));
    header.push('\n');
    let mut out = Vec::with_capacity(MAGIC.len() + 4 + header.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out
}

/// The text of `'name': value` in a header dict, up to the next top-level comma or brace.
fn header_value<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    let key_at = header
        .find(&format!("'{name}'"))
        .or_else(|| header.find(&format!("\"{name}\"")))?;
    let rest = &header[key_at + name.len() + 2..];
    let rest = rest.trim_start().strip_prefix(':')?.trim_start();
    let end = if rest.starts_with('(') {
        rest.find(')')? + 1
    } else {
        rest.find([',', '}'])?
    };
    Some(rest[..end].trim())
}

/// `(3, 4)`, `(3,)` or `()` to a list of extents.
fn parse_shape(text: &str) -> Option<Vec<usize>> {
    let inner = text.strip_prefix('(')?.strip_suffix(')')?;
    inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_end_matches('L').parse().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_header(header: &str, data: &[u8]) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&[1, 0]);
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        out
    }

    #[test]
    fn round_trips_u8_and_f32() {
        let u8s = Matrix::U8 {
            rows: 2,
            cols: 3,
            data: vec![1, 2, 3, 4, 5, 255],
        };
        assert_eq!(read(&write(&u8s)).unwrap(), u8s);
        let f32s = Matrix::F32 {
            rows: 1,
            cols: 2,
            data: vec![0.5, -1.25],
        };
        assert_eq!(read(&write(&f32s)).unwrap(), f32s);
        assert_eq!(write(&f32s).len() % 64, 8);
    }

    #[test]
    fn reads_numpy_style_headers() {
        let bytes = with_header(
            "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 2), }          \n",
            &[0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 0, 0, 0, 0, 0, 0, 0, 0xc0],
        );
        assert_eq!(
            read(&bytes).unwrap(),
            Matrix::F32 {
                rows: 1,
                cols: 2,
                data: vec![1.0, -2.0]
            }
        );
    }

    #[test]
    fn rejects_bad_input_with_the_reason() {
        assert_eq!(read(b"PK\x03\x04"), Err(NpyError::Magic));
        assert_eq!(read(b"\x93NUMPY\x01\x00\xff"), Err(NpyError::Header));
        let header = |h: &str| with_header(h, &[0; 4]);
        assert_eq!(
            read(&header(
                "{'descr': '<i8', 'fortran_order': False, 'shape': (1, 4), }"
            )),
            Err(NpyError::Dtype("<i8".into()))
        );
        assert_eq!(
            read(&header(
                "{'descr': '|u1', 'fortran_order': True, 'shape': (1, 4), }"
            )),
            Err(NpyError::FortranOrder)
        );
        assert_eq!(
            read(&header(
                "{'descr': '|u1', 'fortran_order': False, 'shape': (4,), }"
            )),
            Err(NpyError::Shape {
                found: vec![4],
                expected: "2-D: (rows, dims)"
            })
        );
        assert!(matches!(
            read(&header(
                "{'descr': '|u1', 'fortran_order': False, 'shape': (2, 4), }"
            )),
            Err(NpyError::Length {
                expected: 8,
                found: 4,
                ..
            })
        ));
        let cube = Array {
            shape: vec![1, 2, 2],
            values: Values::F32(vec![0.5, -1.0, 2.0, 3.25]),
        };
        assert_eq!(read_array(&write_array(&cube)).unwrap(), cube);
        assert!(matches!(
            read(&header("{'descr': '|u1', 'shape': (1, 4), }")),
            Err(NpyError::Field {
                field: "fortran_order",
                ..
            })
        ));
    }
}
