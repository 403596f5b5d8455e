//! Contrastive training of CLIP models with burn's autodiff: the pieces `precompute train`
//! runs, kept free of I/O so they can be tested on their own.
//!
//! - [`weights`]: the demo model's size ([`weights::demo_config`]), seeded random
//!   initialisation as a Hugging Face-named [`clip::TensorMap`], and a model back to such a
//!   map (so [`clip::load_clip`] builds, resumes and ships every model).
//! - [`loss`]: the symmetric InfoNCE loss with a learned logit scale and the KoLeo
//!   regulariser that spreads features uniformly.
//! - [`pairs`]: [`CaptionPairs`], which captions describe which images, so a caption
//!   shared by several images of a batch is a positive of each, not a negative.
//! - [`head`]: [`HeadTrainer`], the paper's compact per-modality heads trained on frozen
//!   CLIP features (InfoNCE + KoLeo), saved under the paper's names.
//! - [`trainer`]: [`Trainer`], one AdamW step at a time on an autodiff device, with
//!   checkpoints (weights and optimizer state as bytes) that a resumed run continues from;
//!   [`batch_indices`] decides which items make each step's batch.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use burn::tensor::Device;
//! use train::{TrainConfig, Trainer, weights};
//!
//! let config = weights::demo_config();
//! let mut trainer = Trainer::new(&config, TrainConfig::default(), Device::flex())?;
//! let side = config.vision_config.image_size;
//! let pixels = vec![0.0; 2 * 3 * side * side]; // two preprocessed images
//! let tokenizer = clip::Tokenizer::new()?;
//! let captions = ["a red circle", "two blue stars"];
//! let tokens = clip::TokenBatch::new(tokenizer.tokenize_batch(&captions, 77), 77)?;
//! let report = trainer.step(pixels, &tokens, &train::Positives::diagonal(2))?;
//! println!("step {} loss {}", trainer.step_count(), report.loss);
//! # Ok(()) }
//! ```

pub mod error;
pub mod head;
pub mod loss;
pub mod pairs;
pub mod trainer;
pub mod weights;

pub use error::TrainError;
pub use head::{HeadTrainer, init_head_weights};
pub use loss::Positives;
pub use pairs::CaptionPairs;
pub use trainer::{
    Checkpoint, StepReport, TrainConfig, Trainer, batch_indices, check_collection, compact_weights,
};

/// Held by every test that takes optimisation steps: burn's autodiff graph is shared by the
/// threads of a process, and its clean-up after one thread's backward pass can drop the
/// steps of another thread's graph under way ("graph tape has already been consumed",
/// seen under load). The tools train one model per process; the test threads take turns.
#[cfg(test)]
pub(crate) fn one_training_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static TRAINING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    TRAINING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
