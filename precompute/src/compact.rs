//! From CLIP features to the index's compact `u8` rows, and from a text feature to the query
//! on the same grid: a PCA fitted on the collection's image features, or the paper's
//! learned heads (`precompute train-head`). `build` and `eval` both go through here, and
//! the text side is exactly what the dataset ships for the browser (the text head after its
//! round trip through the shipped file), so native and browser queries agree.

use anyhow::{Context, Result};
use burn::tensor::{Device, Tensor, TensorData};
use clip::export::{Precision, Storage, export_tensors};
use clip::{HeadConfig, MlpHead, TensorMap, read_rows};
use index_shards::quantize::quantize_row;
use reduce::Pca;
use train::head::HEAD_NAMES;

use crate::build_cmd::reduce_and_quantise;

/// Rows per head call.
const HEAD_BATCH: usize = 4096;

/// How features become compact rows.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // one per build or eval: size does not matter
pub enum CompactMap {
    /// PCA fitted on the image features.
    Pca(Pca),
    /// The paper's heads, one per modality.
    Heads {
        /// The image head.
        image: MlpHead,
        /// The text head, as the browser loads it from [`CompactMap::Heads::text_file`].
        text: MlpHead,
        /// Widths.
        config: HeadConfig,
        /// The text head's file for the dataset (f16, `text_head.*`).
        text_file: Vec<u8>,
        /// The device the heads run on.
        device: Device,
    },
}

impl CompactMap {
    /// Fits a PCA to `dims` on `features` (rows of `dims_in`), with the collection's rows.
    pub fn fit_pca(features: &[f32], dims_in: usize, dims: usize) -> Result<(Self, Vec<u8>)> {
        let (pca, rows) = reduce_and_quantise(features, dims_in, dims)?;
        Ok((Self::Pca(pca), rows))
    }

    /// The heads of `weights` (under the paper's names) with widths `config`, on `device`.
    /// The text head is shipped in f16; it is built from those shipped bytes.
    pub fn heads(weights: &TensorMap, config: HeadConfig, device: &Device) -> Result<Self> {
        let image = clip::load_head(weights, HEAD_NAMES[0], &config, device)?;
        let mut text_only = TensorMap::default();
        for name in weights.names() {
            if let Some(rest) = name
                .find(&format!("{}.", HEAD_NAMES[1]))
                .map(|at| &name[at..])
                && let Some(tensor) = weights.get(name)
            {
                text_only.insert(rest.to_owned(), tensor.clone());
            }
        }
        let text_file = export_tensors(&text_only, |_, _| Storage::Compact(Precision::F16))?;
        let shipped = TensorMap::from_safetensors(&text_file)?;
        let text = clip::load_head(&shipped, HEAD_NAMES[1], &config, device)?;
        Ok(Self::Heads {
            image,
            text,
            config,
            text_file,
            device: device.clone(),
        })
    }

    /// Width of the compact rows.
    pub fn dims(&self) -> usize {
        match self {
            Self::Pca(pca) => pca.dims_out(),
            Self::Heads { config, .. } => config.output,
        }
    }

    /// The quantised compact rows of image features (rows of the model's width).
    pub fn images(&self, features: &[f32]) -> Result<Vec<u8>> {
        match self {
            Self::Pca(pca) => {
                let compact = pca.apply_rows(features)?;
                Ok(compact
                    .chunks_exact(self.dims())
                    .flat_map(quantize_row)
                    .collect())
            }
            Self::Heads {
                image,
                config,
                device,
                ..
            } => head_rows(image, config, device, features),
        }
    }

    /// The quantised queries of text features (rows of the model's width).
    pub fn queries(&self, features: &[f32]) -> Result<Vec<u8>> {
        match self {
            Self::Pca(pca) => {
                let mut rows = Vec::with_capacity(features.len() / pca.dims_in() * self.dims());
                for text in features.chunks_exact(pca.dims_in()) {
                    rows.extend(quantize_row(&pca.apply(text)?));
                }
                Ok(rows)
            }
            Self::Heads {
                text,
                config,
                device,
                ..
            } => head_rows(text, config, device, features),
        }
    }
}

/// `head` on rows of `config.input`, quantised.
fn head_rows(
    head: &MlpHead,
    config: &HeadConfig,
    device: &Device,
    features: &[f32],
) -> Result<Vec<u8>> {
    let mut rows = Vec::with_capacity(features.len() / config.input * config.output);
    for batch in features.chunks(HEAD_BATCH * config.input) {
        let n = batch.len() / config.input;
        let input =
            Tensor::<2>::from_data(TensorData::new(batch.to_vec(), [n, config.input]), device);
        let out = read_rows(head.forward(input)).context("cannot read the head's output")?;
        rows.extend(out.chunks_exact(config.output).flat_map(quantize_row));
    }
    Ok(rows)
}
