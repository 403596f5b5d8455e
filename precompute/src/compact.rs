//! From CLIP features to the index's compact `u8` rows, and from a text feature to the query
//! on the same grid: a PCA fitted on the collection's image features, or the paper's
//! learned heads (`precompute train-head`), in either case turned by default to the
//! collection's independent axes ([`reduce::independent_axes`]), which suit axis-aligned
//! boxes. `build` and `eval` both go through here, and the text side is exactly what the
//! dataset ships for the browser (the text head after its round trip through the shipped
//! file), so native and browser queries agree.

use anyhow::{Context, Result, bail};
use burn::tensor::{Device, Tensor, TensorData};
use clap::ValueEnum;
use clip::tensors::{Precision, Storage, export_tensors};
use clip::{HeadConfig, MlpHead, RawTensor, TensorMap, read_rows};
use index_shards::quantize::quantize_row;
use reduce::{Pca, fit_sample, independent_axes};
use train::head::HEAD_NAMES;

use crate::build_cmd::fit_pca;

/// Rows per head call.
const HEAD_BATCH: usize = 4096;

/// The axes of the compact space.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum AxesChoice {
    /// Turned to the collection's most non-Gaussian directions ([`independent_axes`]): an
    /// orthogonal turn, so text search is unchanged, while the boxes over a few dims meet
    /// one factor of the collection per axis.
    #[default]
    Independent,
    /// As fitted: the PCA's components by variance, or the head's own outputs.
    Native,
}

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
        /// The image head's file for the dataset's image queries (f16, `image_head.*`).
        image_file: Vec<u8>,
        /// The device the heads run on.
        device: Device,
    },
}

impl CompactMap {
    /// Fits a PCA to `dims` on `features` (rows of `dims_in`: the collection, or only its
    /// fit sample, which gives the same PCA), turned to `axes`.
    pub fn pca(features: &[f32], dims_in: usize, dims: usize, axes: AxesChoice) -> Result<Self> {
        Ok(Self::Pca(fit_pca(features, dims_in, dims, axes)?))
    }

    /// [`CompactMap::pca`] and the collection's quantised compact rows.
    pub fn fit_pca(
        features: &[f32],
        dims_in: usize,
        dims: usize,
        axes: AxesChoice,
    ) -> Result<(Self, Vec<u8>)> {
        let compact = Self::pca(features, dims_in, dims, axes)?;
        let rows = compact.images(features)?;
        Ok((compact, rows))
    }

    /// The heads of `weights` (under the paper's names) with widths `config`, on `device`;
    /// with [`AxesChoice::Independent`], both turned (their output layers) to the
    /// independent axes of the image head's outputs on `features` (the rows [`fit_sample`]
    /// picks). The text head is shipped in f16; it is built from those
    /// shipped bytes.
    pub fn heads(
        weights: &TensorMap,
        config: HeadConfig,
        device: &Device,
        axes: AxesChoice,
        features: &[f32],
    ) -> Result<Self> {
        let turned;
        let weights = match axes {
            AxesChoice::Native => weights,
            AxesChoice::Independent => {
                let image = clip::load_head(weights, HEAD_NAMES[0], &config, device)?;
                let sample: Vec<f32> = fit_sample(features, config.input)
                    .flatten()
                    .copied()
                    .collect();
                let outputs = head_outputs(&image, &config, device, &sample)?;
                let axes = independent_axes(&outputs, config.output)
                    .context("cannot fit the independent axes of the image head's outputs")?;
                turned = turn_output_layers(weights, &axes.rotation, &config)?;
                &turned
            }
        };
        let image = clip::load_head(weights, HEAD_NAMES[0], &config, device)?;
        let text_file = head_file(weights, HEAD_NAMES[1])?;
        let image_file = head_file(weights, HEAD_NAMES[0])?;
        let shipped = TensorMap::from_safetensors(&text_file)?;
        let text = clip::load_head(&shipped, HEAD_NAMES[1], &config, device)?;
        Ok(Self::Heads {
            image,
            text,
            config,
            text_file,
            image_file,
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

/// The head `name` of `weights` alone, under its own name at the top, in f16: the file a
/// dataset ships for the browser.
fn head_file(weights: &TensorMap, name: &str) -> Result<Vec<u8>> {
    let mut only = TensorMap::default();
    for key in weights.names() {
        if let Some(rest) = key.find(&format!("{name}.")).map(|at| &key[at..])
            && let Some(tensor) = weights.get(key)
        {
            only.insert(rest.to_owned(), tensor.clone());
        }
    }
    Ok(export_tensors(&only, |_, _| {
        Storage::Compact(Precision::F16)
    })?)
}

/// `head` on rows of `config.input`, quantised.
fn head_rows(
    head: &MlpHead,
    config: &HeadConfig,
    device: &Device,
    features: &[f32],
) -> Result<Vec<u8>> {
    Ok(head_outputs(head, config, device, features)?
        .chunks_exact(config.output)
        .flat_map(quantize_row)
        .collect())
}

/// `head` on rows of `config.input`.
fn head_outputs(
    head: &MlpHead,
    config: &HeadConfig,
    device: &Device,
    features: &[f32],
) -> Result<Vec<f32>> {
    let mut rows = Vec::with_capacity(features.len() / config.input * config.output);
    for batch in features.chunks(HEAD_BATCH * config.input) {
        let n = batch.len() / config.input;
        let input =
            Tensor::<2>::from_data(TensorData::new(batch.to_vec(), [n, config.input]), device);
        rows.extend(read_rows(head.forward(input)).context("cannot read the head's output")?);
    }
    Ok(rows)
}

/// `weights` with both heads' output layers (`{head}.6.weight`, `[output, hidden]`, and
/// `{head}.6.bias`) turned by `rotation` (`output x output`, rows: new axes). The heads
/// normalise after that layer, and a turn commutes with normalising, so the turned heads
/// give the turned outputs.
fn turn_output_layers(
    weights: &TensorMap,
    rotation: &[f32],
    config: &HeadConfig,
) -> Result<TensorMap> {
    let k = config.output;
    let mut turned = weights.clone();
    for head in HEAD_NAMES {
        for (part, width) in [("weight", config.hidden), ("bias", 1)] {
            let suffix = format!("{head}.6.{part}");
            let Some((name, tensor)) = weights.find_by_suffix(&suffix) else {
                bail!("the heads have no tensor {suffix}");
            };
            if tensor.values.len() != k * width {
                bail!(
                    "{name} has shape {:?}, expected [{k}, {width}]",
                    tensor.shape
                );
            }
            let values = (0..k)
                .flat_map(|a| {
                    (0..width).map(move |h| {
                        (0..k)
                            .map(|j| {
                                f64::from(rotation[a * k + j])
                                    * f64::from(tensor.values[j * width + h])
                            })
                            .sum::<f64>() as f32
                    })
                })
                .collect();
            turned.insert(
                name,
                RawTensor {
                    shape: tensor.shape.clone(),
                    values,
                },
            );
        }
    }
    Ok(turned)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Heads of widths 6 -> 10 -> 3 for both modalities, with values from a fixed sequence.
    fn heads() -> (TensorMap, HeadConfig) {
        let config = HeadConfig {
            input: 6,
            hidden: 10,
            output: 3,
        };
        let mut state = 1u64;
        let mut values = |n: usize| -> Vec<f32> {
            (0..n)
                .map(|_| {
                    state = state
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1);
                    ((state >> 40) as f32 / (1u64 << 24) as f32) - 0.5
                })
                .collect()
        };
        let mut weights = TensorMap::default();
        for head in HEAD_NAMES {
            let mut put = |name: String, shape: Vec<usize>, values: Vec<f32>| {
                weights.insert(name, RawTensor { shape, values });
            };
            for (linear, norm, d_in, d_out) in [(0, 1, 6, 10), (3, 4, 10, 10)] {
                put(
                    format!("{head}.{linear}.weight"),
                    vec![d_out, d_in],
                    values(d_out * d_in),
                );
                put(format!("{head}.{linear}.bias"), vec![d_out], values(d_out));
                put(
                    format!("{head}.{norm}.weight"),
                    vec![d_out],
                    vec![1.0; d_out],
                );
                put(format!("{head}.{norm}.bias"), vec![d_out], values(d_out));
                put(
                    format!("{head}.{norm}.running_mean"),
                    vec![d_out],
                    values(d_out),
                );
                put(
                    format!("{head}.{norm}.running_var"),
                    vec![d_out],
                    vec![1.0; d_out],
                );
            }
            put(format!("{head}.6.weight"), vec![3, 10], values(30));
            put(format!("{head}.6.bias"), vec![3], values(3));
        }
        (weights, config)
    }

    #[test]
    fn turned_heads_give_the_turned_outputs_of_both_modalities() {
        let (weights, config) = heads();
        let device = Device::flex();
        let features: Vec<f32> = (0..600)
            .map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0)
            .collect();
        let (c, s) = (0.6f32, 0.8f32);
        let rotation = [c, -s, 0.0, s, c, 0.0, 0.0, 0.0, -1.0];
        let turned = turn_output_layers(&weights, &rotation, &config).unwrap();
        for head in HEAD_NAMES {
            let native = clip::load_head(&weights, head, &config, &device).unwrap();
            let turned = clip::load_head(&turned, head, &config, &device).unwrap();
            let before = head_outputs(&native, &config, &device, &features).unwrap();
            let after = head_outputs(&turned, &config, &device, &features).unwrap();
            for (x, y) in before.chunks_exact(3).zip(after.chunks_exact(3)) {
                for a in 0..3 {
                    let expected: f32 = (0..3).map(|j| rotation[a * 3 + j] * x[j]).sum();
                    assert!((expected - y[a]).abs() < 1e-5, "{head}: {x:?} -> {y:?}");
                }
            }
        }
    }

    #[test]
    fn independent_axes_keep_the_heads_distances_and_ship_the_turned_text_head() {
        let (weights, config) = heads();
        let device = Device::flex();
        let features: Vec<f32> = (0..1200)
            .map(|i| ((i * 53 % 97) as f32 / 48.0) - 1.0)
            .collect();
        let native =
            CompactMap::heads(&weights, config, &device, AxesChoice::Native, &features).unwrap();
        let independent = CompactMap::heads(
            &weights,
            config,
            &device,
            AxesChoice::Independent,
            &features,
        )
        .unwrap();
        let (CompactMap::Heads { text_file: a, .. }, CompactMap::Heads { text_file: b, .. }) =
            (&native, &independent)
        else {
            panic!("heads expected");
        };
        assert_ne!(a, b, "the shipped text head is the turned one");
        // A turn moves every row but keeps the distances between rows (up to the u8 grid).
        let distance = |rows: &[u8], i: usize, j: usize| -> f32 {
            (0..3)
                .map(|d| (f32::from(rows[i * 3 + d]) - f32::from(rows[j * 3 + d])).powi(2))
                .sum::<f32>()
                .sqrt()
        };
        let (x, y) = (
            native.images(&features).unwrap(),
            independent.images(&features).unwrap(),
        );
        let (p, q) = (
            native.queries(&features).unwrap(),
            independent.queries(&features).unwrap(),
        );
        assert_ne!(x, y);
        for i in 0..20 {
            for j in 0..20 {
                assert!((distance(&x, i, j) - distance(&y, i, j)).abs() <= 3.0);
                assert!((distance(&p, i, j) - distance(&q, i, j)).abs() <= 3.0);
            }
        }
    }
}
