//! [`Encoder`]: CLIP plus the optional heads, from RGB images or token ids to the feature
//! rows the index stores (L2-normalised; of the head's width when a head is set).
//!
//! This is the API the precompute CLI and the browser call. Reading results back to the
//! host is separate ([`read_rows`] natively, [`read_rows_async`] in the browser, where
//! WebGPU cannot read synchronously).

use burn::tensor::{Device, Tensor, TensorData};

use crate::model::{ClipModel, FeatureHead, l2_normalise};
use crate::pooling::{EncodeError, TokenBatch};
use crate::preprocess::{PreprocessConfig, PreprocessError, RgbImage};

/// Why encoding failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EncoderError {
    /// An image could not be pre-processed.
    #[error(transparent)]
    Preprocess(#[from] PreprocessError),
    /// The model refused its input.
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// The device could not return the result.
    #[error("reading features back from the device failed: {0}")]
    Readback(String),
}

/// CLIP with its optional per-modality heads and the image preprocessing.
#[derive(Debug)]
pub struct Encoder {
    /// Both CLIP towers.
    pub model: ClipModel,
    /// Head applied to image features; `None`: L2-normalised CLIP features.
    pub image_head: Option<FeatureHead>,
    /// Head applied to text features; `None`: L2-normalised CLIP features.
    pub text_head: Option<FeatureHead>,
    /// How images become model input.
    pub preprocess: PreprocessConfig,
    device: Device,
}

impl Encoder {
    /// An encoder without heads; preprocessing at the model's image size.
    pub fn new(model: ClipModel, device: Device) -> Self {
        let preprocess = PreprocessConfig {
            image_size: model.vision.image_size,
            ..Default::default()
        };
        Self {
            model,
            image_head: None,
            text_head: None,
            preprocess,
            device,
        }
    }

    /// The device the model lives on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Feature rows `[images.len(), width]` for a batch of images.
    pub fn image_features(&self, images: &[RgbImage<'_>]) -> Result<Tensor<2>, EncoderError> {
        let pixels = self.preprocess.preprocess_batch(images)?;
        let size = self.preprocess.image_size;
        let pixels = Tensor::<4>::from_data(
            TensorData::new(pixels, [images.len(), 3, size, size]),
            &self.device,
        );
        let features = self.model.encode_image(pixels)?;
        Ok(apply_head(self.image_head.as_ref(), features))
    }

    /// Feature rows `[batch, width]` for tokenized texts (early stop at the end token).
    pub fn text_features(&self, tokens: &TokenBatch) -> Result<Tensor<2>, EncoderError> {
        let features = self.model.encode_text(tokens)?;
        Ok(apply_head(self.text_head.as_ref(), features))
    }
}

fn apply_head(head: Option<&FeatureHead>, features: Tensor<2>) -> Tensor<2> {
    match head {
        Some(head) => head.forward(features),
        None => l2_normalise(features),
    }
}

/// The rows of `features`, row-major, read synchronously (native backends).
pub fn read_rows(features: Tensor<2>) -> Result<Vec<f32>, EncoderError> {
    read_values(features)
}

/// Any tensor's values, row-major, read synchronously.
pub(crate) fn read_values<const D: usize>(tensor: Tensor<D>) -> Result<Vec<f32>, EncoderError> {
    tensor
        .try_into_data()
        .map_err(|e| EncoderError::Readback(format!("{e:?}")))?
        .try_into_vec::<f32>()
        .map_err(|e| EncoderError::Readback(format!("{e:?}")))
}

/// The rows of `features`, row-major, read asynchronously (needed for WebGPU).
pub async fn read_rows_async(features: Tensor<2>) -> Result<Vec<f32>, EncoderError> {
    features
        .into_data_async()
        .await
        .map_err(|e| EncoderError::Readback(format!("{e:?}")))?
        .try_into_vec::<f32>()
        .map_err(|e| EncoderError::Readback(format!("{e:?}")))
}
