//! The text tower as a compact safetensors file for the browser, in f16 or int8; and
//! [`export_tensors`], which writes any [`TensorMap`] (a trained model, a checkpoint).
//!
//! The file uses open_clip's names and orientation (see the table in [`crate::loader`]),
//! so [`crate::load_text_tower`] reads it back like any open_clip checkpoint. In the int8
//! form every matrix is stored as i8 with one f32 scale per row (symmetric, absmax / 127)
//! under `<name>.int8_scale`; [`crate::TensorMap::from_safetensors`] dequantizes such pairs.
//! Vectors (biases, LayerNorms) are f16 in both forms.

use burn::module::Param;
use burn::nn::{LayerNorm, Linear};
use burn::tensor::Tensor;
use safetensors::Dtype;

use crate::encoder::{EncoderError, read_values};
use crate::loader::{LoadError, RawTensor, TensorMap, transpose};
use crate::model::TextTransformer;

/// Suffix of the per-row scales of an int8 matrix.
pub const INT8_SCALE_SUFFIX: &str = ".int8_scale";

/// Storage precision of an exported tower.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    /// Half floats everywhere.
    F16,
    /// Matrices as i8 with per-row scales, vectors as f16.
    Int8,
}

/// Why an export failed.
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

/// One tensor to write: name, shape, dtype and little-endian bytes.
struct Entry {
    name: String,
    shape: Vec<usize>,
    dtype: Dtype,
    bytes: Vec<u8>,
}

/// The text tower as safetensors bytes (reads parameters synchronously: native only).
pub fn export_text_tower(
    tower: &TextTransformer,
    precision: Precision,
) -> Result<Vec<u8>, ExportError> {
    let mut entries = Vec::new();
    let mut matrix = |name: String, rows: usize, cols: usize, values: Vec<f32>| {
        entries.extend(encode_matrix(name, rows, cols, &values, precision));
    };
    let [vocab, width] = tower.token_embedding.shape().dims::<2>();
    matrix(
        "token_embedding.weight".into(),
        vocab,
        width,
        read(&tower.token_embedding)?,
    );
    let [context, _] = tower.positional_embedding.shape().dims::<2>();
    matrix(
        "positional_embedding".into(),
        context,
        width,
        read(&tower.positional_embedding)?,
    );
    let mut vectors: Vec<(String, Vec<f32>)> = Vec::new();
    let mut linears: Vec<(String, &Linear)> = Vec::new();
    let mut norms: Vec<(String, &LayerNorm)> = Vec::new();
    for (i, block) in tower.blocks.iter().enumerate() {
        let b = format!("transformer.resblocks.{i}");
        norms.push((format!("{b}.ln_1"), &block.ln_1));
        norms.push((format!("{b}.ln_2"), &block.ln_2));
        linears.push((format!("{b}.attn.in_proj"), &block.attn_in));
        linears.push((format!("{b}.attn.out_proj"), &block.attn_out));
        linears.push((format!("{b}.mlp.c_fc"), &block.mlp_fc));
        linears.push((format!("{b}.mlp.c_proj"), &block.mlp_proj));
    }
    norms.push(("ln_final".into(), &tower.ln_final));
    for (name, linear) in linears {
        let [d_in, d_out] = linear.weight.shape().dims::<2>();
        // burn's `[in, out]` is PyTorch's `[out, in]` transposed; open_clip names its fused
        // attention projection `in_proj_weight`, the others `<name>.weight`.
        let weight_name = match name.strip_suffix(".in_proj") {
            Some(block) => format!("{block}.in_proj_weight"),
            None => format!("{name}.weight"),
        };
        matrix(
            weight_name,
            d_out,
            d_in,
            transpose(&read(&linear.weight)?, d_in, d_out),
        );
        if let Some(bias) = &linear.bias {
            let bias_name = match name.strip_suffix(".in_proj") {
                Some(block) => format!("{block}.in_proj_bias"),
                None => format!("{name}.bias"),
            };
            vectors.push((bias_name, read(bias)?));
        }
    }
    for (name, norm) in norms {
        vectors.push((format!("{name}.weight"), read(&norm.gamma)?));
        if let Some(beta) = &norm.beta {
            vectors.push((format!("{name}.bias"), read(beta)?));
        }
    }
    // open_clip's `text_projection` is `[in, out]`, like burn's weight: no transpose.
    let [d_in, d_out] = tower.projection.weight.shape().dims::<2>();
    let projection = read(&tower.projection.weight)?;
    // Kept in f16 even in the int8 form: it is small and sets the feature directly.
    entries.push(f16_entry(
        "text_projection".into(),
        vec![d_in, d_out],
        &projection,
    ));
    for (name, values) in vectors {
        let len = values.len();
        entries.push(f16_entry(name, vec![len], &values));
    }
    serialize(&entries)
}

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

fn read<const D: usize>(param: &Param<Tensor<D>>) -> Result<Vec<f32>, EncoderError> {
    read_values(param.val())
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
