//! The weight file format: [`TensorMap`] (name -> [`RawTensor`], f32 values), read from
//! safetensors bytes ([`TensorMap::from_safetensors`]) or a PyTorch `.bin`/`.pt` file
//! (`TensorMap::from_pytorch_file`, feature `pytorch`, native only: the PyTorch reader needs
//! a file), and written back as safetensors ([`export_tensors`]), each tensor in f32, f16
//! or int8 ([`Storage`]).
//!
//! In the int8 form a matrix is stored as i8 with one f32 scale per row (symmetric,
//! absmax / 127) under `<name>.int8_scale` ([`INT8_SCALE_SUFFIX`]); reading dequantizes such
//! pairs, and [`holds_int8`] tells such a file. [`crate::packed`] quantizes with the same
//! scales. f16, bf16 and f64 are widened to f32 on reading.
//!
//! Model-free: which names make a CLIP model is [`crate::names`], and building one is
//! [`crate::loader`].
//!
//! ```
//! use clip::tensors::{Precision, RawTensor, Storage, TensorMap, export_tensors};
//!
//! let mut tensors = TensorMap::default();
//! tensors.insert("w", RawTensor { shape: vec![2, 2], values: vec![1.0, -0.5, 0.25, 0.0] });
//! let bytes = export_tensors(&tensors, |_, _| Storage::Compact(Precision::Int8))?;
//! assert_eq!(TensorMap::from_safetensors(&bytes)?.names(), ["w"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::HashMap;

use safetensors::Dtype;

use crate::encoder::EncoderError;
use crate::names::{Layout, Tower};

/// Why weights could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The bytes are not a safetensors file.
    #[error("not a safetensors file: {0}")]
    Safetensors(String),
    /// The file is not a PyTorch checkpoint the reader understands.
    #[error("not a readable PyTorch checkpoint: {0}")]
    Pytorch(String),
    /// A tensor holds a type that is not a number.
    #[error("tensor {name} has unsupported dtype {dtype}")]
    UnsupportedDtype {
        /// Tensor name in the file.
        name: String,
        /// Its dtype, as the file names it.
        dtype: String,
    },
    /// No key of any known layout: not a CLIP checkpoint.
    #[error("not a CLIP tower: no key ending in {hf} or {open_clip}")]
    UnknownLayout {
        /// The Hugging Face key looked for.
        hf: &'static str,
        /// The open_clip key looked for.
        open_clip: &'static str,
    },
    /// A tensor the model needs is absent.
    #[error("missing tensor {name}")]
    MissingTensor {
        /// Full key in the file's naming.
        name: String,
    },
    /// A tensor has another shape than the config implies.
    #[error("tensor {name} has shape {found:?}, expected {expected:?}")]
    WrongShape {
        /// Full key in the file's naming.
        name: String,
        /// Shape the config implies.
        expected: Vec<usize>,
        /// Shape in the file.
        found: Vec<usize>,
    },
}

/// Why tensors (or a model's parameters) could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// A parameter could not be read back from the device.
    #[error(transparent)]
    Readback(#[from] EncoderError),
    /// safetensors refused the tensors.
    #[error("safetensors serialisation failed: {0}")]
    Serialize(String),
}

/// One tensor of a checkpoint, widened to f32, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct RawTensor {
    /// Extents, outermost first; empty for a scalar.
    pub shape: Vec<usize>,
    /// Values.
    pub values: Vec<f32>,
}

/// A checkpoint's tensors by name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TensorMap {
    tensors: HashMap<String, RawTensor>,
}

impl TensorMap {
    /// Reads every tensor of a safetensors file. An i8 matrix with a companion
    /// `<name>.int8_scale` vector (one scale per row, as [`export_tensors`] writes) is
    /// dequantized.
    pub fn from_safetensors(bytes: &[u8]) -> Result<Self, LoadError> {
        use safetensors::Dtype;
        let file = safetensors::SafeTensors::deserialize(bytes)
            .map_err(|e| LoadError::Safetensors(e.to_string()))?;
        let mut tensors = HashMap::new();
        for (name, view) in file.tensors() {
            let data = view.data();
            let values = match view.dtype() {
                Dtype::F32 => floats(data, |b: &[u8; 4]| f32::from_le_bytes(*b)),
                Dtype::F16 => floats(data, |b: &[u8; 2]| half::f16::from_le_bytes(*b).to_f32()),
                Dtype::BF16 => floats(data, |b: &[u8; 2]| half::bf16::from_le_bytes(*b).to_f32()),
                Dtype::F64 => floats(data, |b: &[u8; 8]| f64::from_le_bytes(*b) as f32),
                Dtype::I64 => floats(data, |b: &[u8; 8]| i64::from_le_bytes(*b) as f32),
                Dtype::I32 => floats(data, |b: &[u8; 4]| i32::from_le_bytes(*b) as f32),
                Dtype::I8 => floats(data, |b: &[u8; 1]| f32::from(i8::from_le_bytes(*b))),
                Dtype::U8 => floats(data, |b: &[u8; 1]| f32::from(b[0])),
                other => {
                    return Err(LoadError::UnsupportedDtype {
                        name,
                        dtype: format!("{other:?}"),
                    });
                }
            };
            tensors.insert(
                name,
                RawTensor {
                    shape: view.shape().to_vec(),
                    values,
                },
            );
        }
        let mut map = Self { tensors };
        map.dequantize_int8()?;
        Ok(map)
    }

    fn dequantize_int8(&mut self) -> Result<(), LoadError> {
        let scale_names: Vec<String> = self
            .tensors
            .keys()
            .filter(|name| name.ends_with(INT8_SCALE_SUFFIX))
            .cloned()
            .collect();
        for scale_name in scale_names {
            let name = scale_name.trim_end_matches(INT8_SCALE_SUFFIX).to_owned();
            let scales = self
                .tensors
                .remove(&scale_name)
                .map(|t| t.values)
                .unwrap_or_default();
            let tensor = self
                .tensors
                .get_mut(&name)
                .ok_or_else(|| LoadError::MissingTensor { name: name.clone() })?;
            let rows = tensor.shape.first().copied().unwrap_or(0);
            if tensor.shape.len() != 2 || rows != scales.len() {
                return Err(LoadError::WrongShape {
                    name,
                    expected: vec![scales.len(), tensor.shape.get(1).copied().unwrap_or(0)],
                    found: tensor.shape.clone(),
                });
            }
            let cols = tensor.shape[1];
            for (row, scale) in tensor.values.chunks_mut(cols.max(1)).zip(&scales) {
                row.iter_mut().for_each(|v| *v *= scale);
            }
        }
        Ok(())
    }

    /// Reads every tensor of a PyTorch `.bin`/`.pt`/`.pth` state dict, optionally nested
    /// under `top_level_key` (as `"state_dict"`).
    #[cfg(all(feature = "pytorch", not(target_family = "wasm")))]
    pub fn from_pytorch_file(
        path: &std::path::Path,
        top_level_key: Option<&str>,
    ) -> Result<Self, LoadError> {
        use pytorch_reader::{DType, PytorchReader};
        let reader = match top_level_key {
            Some(key) => PytorchReader::with_top_level_key(path, key),
            None => PytorchReader::new(path),
        }
        .map_err(|e| LoadError::Pytorch(format!("{}: {e}", path.display())))?;
        let mut tensors = HashMap::new();
        for (name, tensor) in reader.into_tensors() {
            let data = tensor
                .read()
                .map_err(|e| LoadError::Pytorch(format!("{}: {e}", path.display())))?;
            // The reader returns native-endian bytes; every target we build for is little-endian.
            let values = match tensor.dtype() {
                DType::F32 => floats(&data, |b: &[u8; 4]| f32::from_ne_bytes(*b)),
                DType::F16 => floats(&data, |b: &[u8; 2]| half::f16::from_ne_bytes(*b).to_f32()),
                DType::BF16 => floats(&data, |b: &[u8; 2]| half::bf16::from_ne_bytes(*b).to_f32()),
                DType::F64 => floats(&data, |b: &[u8; 8]| f64::from_ne_bytes(*b) as f32),
                DType::I64 => floats(&data, |b: &[u8; 8]| i64::from_ne_bytes(*b) as f32),
                other => {
                    return Err(LoadError::UnsupportedDtype {
                        name,
                        dtype: format!("{other:?}"),
                    });
                }
            };
            tensors.insert(
                name,
                RawTensor {
                    shape: tensor.shape().to_vec(),
                    values,
                },
            );
        }
        Ok(Self { tensors })
    }

    /// Adds or replaces a tensor.
    pub fn insert(&mut self, name: impl Into<String>, tensor: RawTensor) {
        self.tensors.insert(name.into(), tensor);
    }

    /// Adds or replaces every tensor of `other`.
    pub fn extend(&mut self, other: TensorMap) {
        self.tensors.extend(other.tensors);
    }

    /// Removes a tensor, returning it.
    pub fn remove(&mut self, name: &str) -> Option<RawTensor> {
        self.tensors.remove(name)
    }

    /// The tensor called `name`.
    pub fn get(&self, name: &str) -> Option<&RawTensor> {
        self.tensors.get(name)
    }

    /// The tensor whose name ends with `suffix` under the shortest prefix (a checkpoint's
    /// heads beside a backbone, or alone), with its name.
    pub fn find_by_suffix(&self, suffix: &str) -> Option<(&str, &RawTensor)> {
        self.tensors
            .iter()
            .filter(|(name, _)| name.ends_with(suffix))
            .min_by_key(|(name, _)| name.len())
            .map(|(name, tensor)| (name.as_str(), tensor))
    }

    /// Tensor names, sorted.
    pub fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.tensors.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }

    /// The layout and the common key prefix, found from the token embedding's name
    /// ([`Layout::token_embedding`]).
    pub fn detect_layout(&self) -> Result<(Layout, String), LoadError> {
        self.detect_layout_of(Tower::Text)
    }

    /// The layout and the common key prefix of a file holding `tower` (and perhaps the
    /// other), found from [`Layout::key`].
    pub fn detect_layout_of(&self, tower: Tower) -> Result<(Layout, String), LoadError> {
        let find = |suffix: &str| {
            self.tensors
                .keys()
                .filter_map(|k| k.strip_suffix(suffix))
                .min_by_key(|prefix| prefix.len())
                .map(str::to_owned)
        };
        [Layout::HuggingFace, Layout::OpenClip]
            .into_iter()
            .find_map(|layout| Some((layout, find(layout.key(tower))?)))
            .ok_or(LoadError::UnknownLayout {
                hf: Layout::HuggingFace.key(tower),
                open_clip: Layout::OpenClip.key(tower),
            })
    }
}

fn floats<const N: usize>(data: &[u8], read: impl Fn(&[u8; N]) -> f32) -> Vec<f32> {
    data.chunks_exact(N)
        .map(|chunk| read(chunk.try_into().expect("chunks_exact yields N bytes")))
        .collect()
}

/// Suffix of the per-row scales of an int8 matrix.
pub const INT8_SCALE_SUFFIX: &str = ".int8_scale";

/// Whether a safetensors file holds int8 matrices (with [`INT8_SCALE_SUFFIX`] scales), as
/// an int8 export does: the browser then runs the tower's int8 kernels
/// ([`crate::packed::PackedPrecision::Int8`]), else f32 ones.
pub fn holds_int8(bytes: &[u8]) -> Result<bool, LoadError> {
    let file = safetensors::SafeTensors::deserialize(bytes)
        .map_err(|e| LoadError::Safetensors(e.to_string()))?;
    Ok(file
        .names()
        .iter()
        .any(|name| name.ends_with(INT8_SCALE_SUFFIX)))
}

/// The symmetric int8 scale of `values` (absmax / 127; 1 when all are zero): one per
/// matrix row here, one per output in [`crate::packed`], so both store the same integers.
pub(crate) fn int8_scale(values: impl IntoIterator<Item = f32>) -> f32 {
    let absmax = values.into_iter().fold(0.0f32, |m, v| m.max(v.abs()));
    if absmax > 0.0 { absmax / 127.0 } else { 1.0 }
}

/// `value` in steps of `scale`, as int8.
pub(crate) fn to_int8(value: f32, scale: f32) -> i8 {
    (value / scale).round().clamp(-127.0, 127.0) as i8
}

/// Storage precision of compact tensors (an exported text tower, the browser's heads).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    /// Half floats everywhere.
    F16,
    /// Matrices as i8 with per-row scales, vectors as f16.
    Int8,
}

/// How [`export_tensors`] stores one tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    /// Exact f32.
    F32,
    /// The tensor in the given precision; int8 applies to matrices only (per-row scales), any
    /// other rank is stored in f16.
    Compact(Precision),
}

/// Any named tensors as safetensors bytes (names kept), each stored as `storage` says;
/// [`crate::TensorMap::from_safetensors`] reads them back (int8 dequantized).
pub fn export_tensors(
    tensors: &TensorMap,
    storage: impl Fn(&str, &RawTensor) -> Storage,
) -> Result<Vec<u8>, ExportError> {
    let mut entries = Vec::new();
    for name in tensors.names() {
        let Some(tensor) = tensors.get(name) else {
            continue;
        };
        match (storage(name, tensor), tensor.shape.as_slice()) {
            (Storage::F32, shape) => entries.push(Entry {
                name: name.to_owned(),
                shape: shape.to_vec(),
                dtype: Dtype::F32,
                bytes: tensor.values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            }),
            (Storage::Compact(precision), &[rows, cols]) => entries.extend(encode_matrix(
                name.to_owned(),
                rows,
                cols,
                &tensor.values,
                precision,
            )),
            (Storage::Compact(_), shape) => {
                entries.push(f16_entry(name.to_owned(), shape.to_vec(), &tensor.values));
            }
        }
    }
    serialize(&entries)
}

fn serialize(entries: &[Entry]) -> Result<Vec<u8>, ExportError> {
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = entries
        .iter()
        .map(|e| {
            safetensors::tensor::TensorView::new(e.dtype, e.shape.clone(), &e.bytes)
                .map(|view| (e.name.clone(), view))
                .map_err(|err| ExportError::Serialize(format!("{}: {err}", e.name)))
        })
        .collect::<Result<_, _>>()?;
    safetensors::serialize(views, None).map_err(|e| ExportError::Serialize(e.to_string()))
}

/// One tensor to write: name, shape, dtype and little-endian bytes.
struct Entry {
    name: String,
    shape: Vec<usize>,
    dtype: Dtype,
    bytes: Vec<u8>,
}

fn f16_entry(name: String, shape: Vec<usize>, values: &[f32]) -> Entry {
    Entry {
        name,
        shape,
        dtype: Dtype::F16,
        bytes: values
            .iter()
            .flat_map(|&v| half::f16::from_f32(v).to_le_bytes())
            .collect(),
    }
}

fn encode_matrix(
    name: String,
    rows: usize,
    cols: usize,
    values: &[f32],
    precision: Precision,
) -> Vec<Entry> {
    match precision {
        Precision::F16 => vec![f16_entry(name, vec![rows, cols], values)],
        Precision::Int8 => {
            let mut scales = Vec::with_capacity(rows);
            let mut quantized = Vec::with_capacity(values.len());
            for row in values.chunks(cols) {
                let scale = int8_scale(row.iter().copied());
                scales.push(scale);
                quantized.extend(row.iter().map(|&v| to_int8(v, scale) as u8));
            }
            vec![
                Entry {
                    name: format!("{name}{INT8_SCALE_SUFFIX}"),
                    shape: vec![rows],
                    dtype: Dtype::F32,
                    bytes: scales.iter().flat_map(|s| s.to_le_bytes()).collect(),
                },
                Entry {
                    name,
                    shape: vec![rows, cols],
                    dtype: Dtype::I8,
                    bytes: quantized,
                },
            ]
        }
    }
}

/// `[rows, cols]` -> `[cols, rows]`, row-major.
pub fn transpose(values: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; values.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = values[r * cols + c];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exported_tensors_read_back_in_their_storage() {
        let mut tensors = TensorMap::default();
        let matrix: Vec<f32> = (0..12).map(|i| i as f32 * 0.25 - 1.0).collect();
        for name in ["exact", "half", "quantized"] {
            let values = matrix.clone();
            tensors.insert(
                name,
                RawTensor {
                    shape: vec![3, 4],
                    values,
                },
            );
        }
        tensors.insert(
            "scalar",
            RawTensor {
                shape: vec![],
                values: vec![2.5],
            },
        );
        let bytes = export_tensors(&tensors, |name, _| match name {
            "exact" => Storage::F32,
            "half" | "scalar" => Storage::Compact(Precision::F16),
            _ => Storage::Compact(Precision::Int8),
        })
        .unwrap();
        let back = TensorMap::from_safetensors(&bytes).unwrap();
        assert!(holds_int8(&bytes).unwrap());
        assert_eq!(back.names(), ["exact", "half", "quantized", "scalar"]);
        assert_eq!(back.get("exact"), tensors.get("exact"));
        assert_eq!(back.get("scalar").unwrap().values, [2.5]);
        for name in ["half", "quantized"] {
            let read = back.get(name).unwrap();
            assert_eq!(read.shape, [3, 4]);
            let worst = read
                .values
                .iter()
                .zip(&matrix)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            assert!(worst < 0.01, "{name}: {worst}");
            assert!(worst > 0.0 || name == "half", "{name} was not quantized");
        }
    }
}
