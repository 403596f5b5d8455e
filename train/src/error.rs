//! [`TrainError`]: why training could not start or go on. Its own module because every
//! other one returns it: [`crate::weights`] and [`crate::head`] read parameters back,
//! [`crate::trainer`] builds models from [`crate::weights`], and none of them needs another
//! just for the error.

use clip::tensors::ExportError;
use clip::{ConfigError, EncodeError, LoadError};

/// Why training could not start or go on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrainError {
    /// The collection has no items.
    #[error("the collection is empty: nothing to train on")]
    EmptyCollection,
    /// No item has a caption: contrastive training needs image-text pairs.
    #[error("none of the {items} items has a caption: training needs captioned images")]
    NoCaptions {
        /// Items in the collection.
        items: usize,
    },
    /// Fewer captioned items than one batch.
    #[error(
        "only {captioned} captioned items, fewer than one batch of {batch_size}: add items or lower --batch-size"
    )]
    TooFewItems {
        /// Captioned items.
        captioned: usize,
        /// The batch size asked for.
        batch_size: u32,
    },
    /// A training setting is unusable.
    #[error("training setting {field} is invalid: {reason}")]
    Setting {
        /// The setting, as `batch_size`.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A batch's pixels and tokens disagree with each other or with the model.
    #[error(
        "batch has {pixels} pixel values and {texts} texts; the model needs {expected} values per image"
    )]
    BatchShape {
        /// Pixel values given.
        pixels: usize,
        /// Texts given.
        texts: usize,
        /// `3 * image_size²`.
        expected: usize,
    },
    /// The model config is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Weights could not be built into a model.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The model refused its input.
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// Weights could not be serialised.
    #[error(transparent)]
    Export(#[from] ExportError),
    /// A value could not be read back from the device.
    #[error("reading a tensor back from the device failed: {0}")]
    Readback(String),
    /// The optimizer state of a checkpoint is unreadable.
    #[error("checkpoint optimizer state is unreadable: {0}")]
    OptimizerState(String),
}
