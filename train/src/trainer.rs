//! [`Trainer`]: AdamW steps of the contrastive objective on an autodiff device, with
//! checkpoints a killed run resumes from.
//!
//! Parameter ids are assigned in module order (not burn's random ones), so the optimizer
//! state saved with a checkpoint still matches the parameters of a model rebuilt from its
//! weights. The batch order is a function of `(seed, step)` ([`batch_indices`]), so a resumed
//! run sees exactly the batches the killed one would have.

use burn::grad_clipping::GradientClippingConfig;
use burn::module::{Module, ModuleMapper, Param, ParamId};
use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Bytes, Device, Tensor, TensorData};
use clip::model::l2_normalise;
use clip::tensors::{Precision, Storage, export_tensors};
use clip::{ClipConfig, ClipModel, TensorMap, TokenBatch};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use seeded::below;

use crate::error::TrainError;
use crate::loss::{Positives, contrastive_loss, koleo};
use crate::weights::{init_weights, model_tensors};

/// Optimisation settings.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainConfig {
    /// Image-text pairs per step (the contrastive loss's negatives are the rest of the batch).
    pub batch_size: u32,
    /// Peak AdamW learning rate.
    pub learning_rate: f64,
    /// Steps of linear warm-up to the peak.
    pub warmup_steps: u64,
    /// Length of the run; the rate follows a cosine from the peak to zero at this step.
    pub total_steps: u64,
    /// AdamW's decoupled weight decay.
    pub weight_decay: f32,
    /// Weight of the KoLeo regulariser on both modalities' features; 0 turns it off.
    pub koleo_weight: f32,
    /// Gradients are clipped to this L2 norm.
    pub max_grad_norm: f32,
    /// Seed of the initial weights and of the batch order.
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            batch_size: 128,
            learning_rate: 1e-3,
            warmup_steps: 100,
            total_steps: 2000,
            weight_decay: 0.1,
            koleo_weight: 0.0,
            max_grad_norm: 1.0,
            seed: 1,
        }
    }
}

impl TrainConfig {
    /// The learning rate of step `step`: linear warm-up, then a cosine down to zero.
    pub fn learning_rate_at(&self, step: u64) -> f64 {
        if step < self.warmup_steps {
            return self.learning_rate * (step + 1) as f64 / self.warmup_steps as f64;
        }
        let decay = self.total_steps.saturating_sub(self.warmup_steps).max(1);
        let progress = ((step - self.warmup_steps) as f64 / decay as f64).min(1.0);
        self.learning_rate * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
    }

    pub(crate) fn validate(&self) -> Result<(), TrainError> {
        let invalid = |field, reason: &str| {
            Err(TrainError::Setting {
                field,
                reason: reason.into(),
            })
        };
        if self.batch_size < 2 {
            return invalid(
                "batch_size",
                "must be at least 2 (the loss contrasts pairs)",
            );
        }
        if !(self.learning_rate > 0.0 && self.learning_rate.is_finite()) {
            return invalid("learning_rate", "must be positive");
        }
        if self.total_steps == 0 {
            return invalid("total_steps", "must be positive");
        }
        if !(self.koleo_weight >= 0.0 && self.koleo_weight.is_finite()) {
            return invalid("koleo_weight", "must be zero or positive");
        }
        Ok(())
    }
}

/// Checks that a collection of `items`, `captioned` of them with a caption, can be trained
/// on with batches of `batch_size`.
pub fn check_collection(items: usize, captioned: usize, batch_size: u32) -> Result<(), TrainError> {
    if items == 0 {
        return Err(TrainError::EmptyCollection);
    }
    if captioned == 0 {
        return Err(TrainError::NoCaptions { items });
    }
    if captioned < batch_size as usize {
        return Err(TrainError::TooFewItems {
            captioned,
            batch_size,
        });
    }
    Ok(())
}

/// The items of step `step`'s batch, out of `items` (`items >= batch_size > 0`): each epoch
/// is a seeded permutation (ChaCha8 stream `epoch` of `seed`) cut into whole batches; the
/// remainder waits for a later epoch's shuffle.
pub fn batch_indices(seed: u64, step: u64, batch_size: u32, items: u32) -> Vec<u32> {
    let per_epoch = u64::from((items / batch_size.max(1)).max(1));
    let epoch = step / per_epoch;
    let within = (step % per_epoch) as usize;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(epoch);
    let mut order: Vec<u32> = (0..items).collect();
    for i in (1..order.len()).rev() {
        // i < items <= u32::MAX: the bound fits.
        let j = below(&mut rng, i as u32 + 1) as usize;
        order.swap(i, j);
    }
    let size = batch_size as usize;
    order[within * size..(within + 1) * size].to_vec()
}

/// What one step did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepReport {
    /// The optimised loss (contrastive plus weighted KoLeo).
    pub loss: f32,
    /// The contrastive part.
    pub contrastive: f32,
    /// The KoLeo value (0 when its weight is 0).
    pub koleo: f32,
    /// The learning rate used.
    pub learning_rate: f64,
    /// `exp` of the logit scale after the step.
    pub logit_scale: f32,
}

/// A snapshot to resume from: the weights (f32 Hugging Face safetensors) and AdamW's state
/// (burnpack bytes) after `step` steps.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    /// Steps taken.
    pub step: u64,
    /// `model.safetensors` bytes, exact.
    pub weights: Vec<u8>,
    /// The optimizer's state.
    pub optimizer: Vec<u8>,
}

/// A CLIP model being trained.
pub struct Trainer {
    model: ClipModel,
    config: ClipConfig,
    settings: TrainConfig,
    optimizer: ModuleOptimizer,
    step: u64,
    device: Device,
}

impl std::fmt::Debug for Trainer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trainer")
            .field("config", &self.config)
            .field("settings", &self.settings)
            .field("step", &self.step)
            .finish_non_exhaustive()
    }
}

impl Trainer {
    /// A fresh model of `config`, initialised from `settings.seed`, on `device` (autodiff
    /// is enabled on it).
    pub fn new(
        config: &ClipConfig,
        settings: TrainConfig,
        device: Device,
    ) -> Result<Self, TrainError> {
        let weights = init_weights(config, settings.seed);
        Self::from_weights(&weights, config, settings, device)
    }

    /// Starts from existing weights (fine-tuning), in any layout [`clip::load_clip`] reads.
    pub fn from_weights(
        weights: &TensorMap,
        config: &ClipConfig,
        settings: TrainConfig,
        device: Device,
    ) -> Result<Self, TrainError> {
        config.validate()?;
        settings.validate()?;
        let device = device.autodiff();
        let model = number_params(clip::load_clip(weights, config, &device)?);
        let optimizer = adamw(&settings);
        Ok(Self {
            model,
            config: config.clone(),
            settings,
            optimizer,
            step: 0,
            device,
        })
    }

    /// Continues from `checkpoint`, taken by a run with the same `config` and `settings`.
    pub fn resume(
        checkpoint: &Checkpoint,
        config: &ClipConfig,
        settings: TrainConfig,
        device: Device,
    ) -> Result<Self, TrainError> {
        let weights = TensorMap::from_safetensors(&checkpoint.weights)?;
        let mut trainer = Self::from_weights(&weights, config, settings, device)?;
        trainer.optimizer = restore_optimizer(&trainer.optimizer, checkpoint)?;
        trainer.step = checkpoint.step;
        Ok(trainer)
    }

    /// Steps taken so far.
    pub fn step_count(&self) -> u64 {
        self.step
    }

    /// The optimisation settings.
    pub fn settings(&self) -> &TrainConfig {
        &self.settings
    }

    /// One AdamW step on a batch: `pixels` are preprocessed images `[batch, 3, size, size]`
    /// (row-major), `tokens` their captions, in the same order; `positives` says which
    /// other captions also describe an image.
    pub fn step(
        &mut self,
        pixels: Vec<f32>,
        tokens: &TokenBatch,
        positives: &Positives,
    ) -> Result<StepReport, TrainError> {
        let size = self.config.vision_config.image_size;
        let per_image = 3 * size * size;
        let batch = tokens.batch_size();
        if batch < 2 || pixels.len() != batch * per_image || positives.batch() != batch {
            return Err(TrainError::BatchShape {
                pixels: pixels.len(),
                texts: batch,
                expected: per_image,
            });
        }
        let pixels = Tensor::<4>::from_data(
            TensorData::new(pixels, [batch, 3, size, size]),
            &self.device,
        );
        let image = l2_normalise(self.model.encode_image(pixels)?);
        let text = l2_normalise(self.model.encode_text(tokens)?);
        let contrastive = contrastive_loss(
            image.clone(),
            text.clone(),
            self.model.logit_scale.val(),
            positives,
        );
        let weight = self.settings.koleo_weight;
        let (loss, koleo_value) = if weight > 0.0 {
            let spread = (koleo(image) + koleo(text)).mul_scalar(0.5);
            (
                contrastive.clone() + spread.clone().mul_scalar(weight),
                Some(spread),
            )
        } else {
            (contrastive.clone(), None)
        };
        let gradients = GradientsParams::from_grads(loss.backward(), &self.model);
        let learning_rate = self.settings.learning_rate_at(self.step);
        self.model = self
            .optimizer
            .step(learning_rate, self.model.clone(), gradients);
        self.step += 1;
        Ok(StepReport {
            loss: scalar(loss)?,
            contrastive: scalar(contrastive)?,
            koleo: koleo_value.map(scalar).transpose()?.unwrap_or(0.0),
            learning_rate,
            logit_scale: scalar(self.model.logit_scale.val())?.exp(),
        })
    }

    /// The current weights under Hugging Face names.
    pub fn weights(&self) -> Result<TensorMap, TrainError> {
        model_tensors(&self.model)
    }

    /// A checkpoint of the current state.
    pub fn checkpoint(&self) -> Result<Checkpoint, TrainError> {
        checkpoint_of(self.step, &self.weights()?, &self.optimizer)
    }
}

/// The shipped form of trained weights: the token embedding (most of a small model's
/// parameters: 49408 rows) in int8 with per-row scales, everything else in f16. A demo
/// model of [`crate::weights::demo_config`] is about 9 MB instead of 30 MB in f32.
pub fn compact_weights(weights: &TensorMap) -> Result<Vec<u8>, TrainError> {
    Ok(export_tensors(weights, |name, _| {
        if name.ends_with("token_embedding.weight") {
            Storage::Compact(Precision::Int8)
        } else {
            Storage::Compact(Precision::F16)
        }
    })?)
}

/// AdamW as every trainer here runs it (CLIP's betas and epsilon, clipped gradients).
pub(crate) fn adamw(settings: &TrainConfig) -> ModuleOptimizer {
    AdamWConfig::new()
        .with_weight_decay(settings.weight_decay)
        .with_beta_2(0.98)
        .with_epsilon(1e-6)
        .with_grad_clipping(Some(GradientClippingConfig::Norm(settings.max_grad_norm)))
        .init()
}

/// `optimizer` with the state saved in `checkpoint`.
pub(crate) fn restore_optimizer(
    optimizer: &ModuleOptimizer,
    checkpoint: &Checkpoint,
) -> Result<ModuleOptimizer, TrainError> {
    let state = Bytes::from_bytes_vec(checkpoint.optimizer.clone());
    optimizer
        .clone()
        .from_bytes(state)
        .map_err(|e| TrainError::OptimizerState(format!("{e:?}")))
}

/// A checkpoint of `weights` (f32) and `optimizer`'s state after `step` steps.
pub(crate) fn checkpoint_of(
    step: u64,
    weights: &TensorMap,
    optimizer: &ModuleOptimizer,
) -> Result<Checkpoint, TrainError> {
    let weights = export_tensors(weights, |_, _| Storage::F32)?;
    let optimizer = optimizer
        .into_bytes()
        .map_err(|e| TrainError::OptimizerState(format!("{e:?}")))?;
    Ok(Checkpoint {
        step,
        weights,
        optimizer: optimizer.to_vec(),
    })
}

/// Gives every parameter its position in module order as id.
pub(crate) fn number_params<M: Module>(model: M) -> M {
    struct Numbering(u64);
    impl ModuleMapper for Numbering {
        fn map_float<const D: usize>(&mut self, mut param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            param.id = ParamId::from(self.0);
            self.0 += 1;
            param
        }
    }
    model.map(&mut Numbering(0))
}

pub(crate) fn scalar(tensor: Tensor<1>) -> Result<f32, TrainError> {
    tensor
        .try_into_data()
        .map_err(|e| TrainError::Readback(format!("{e:?}")))?
        .try_into_vec::<f32>()
        .map_err(|e| TrainError::Readback(format!("{e:?}")))?
        .first()
        .copied()
        .ok_or_else(|| TrainError::Readback("an empty loss tensor".into()))
}

#[cfg(test)]
mod tests {
    use clip::Tokenizer;

    use super::*;
    use crate::weights::tiny_config;

    /// `n` synthetic scenes as a batch for `config`.
    fn batch(config: &ClipConfig, n: u64) -> (Vec<f32>, TokenBatch) {
        let side = config.vision_config.image_size;
        let scenes = synth::generate(9, 0..n);
        let rendered: Vec<Vec<u8>> = scenes
            .iter()
            .map(|s| synth::render(s, side as u32).unwrap())
            .collect();
        let images: Vec<clip::RgbImage<'_>> = rendered
            .iter()
            .map(|p| clip::RgbImage::new(side, side, p).unwrap())
            .collect();
        let preprocess = clip::PreprocessConfig {
            image_size: side,
            ..Default::default()
        };
        let pixels = preprocess.preprocess_batch(&images).unwrap();
        let captions: Vec<String> = scenes.iter().map(synth::caption).collect();
        let tokens = Tokenizer::new().unwrap().tokenize_batch(&captions, 77);
        (pixels, TokenBatch::new(tokens, 77).unwrap())
    }

    fn settings() -> TrainConfig {
        TrainConfig {
            batch_size: 8,
            learning_rate: 3e-3,
            warmup_steps: 2,
            total_steps: 40,
            ..TrainConfig::default()
        }
    }

    #[test]
    fn steps_on_a_batch_lower_the_loss() {
        let _turn = crate::one_training_at_a_time();
        let config = tiny_config();
        let (pixels, tokens) = batch(&config, 8);
        let mut trainer = Trainer::new(&config, settings(), Device::flex()).unwrap();
        let first = trainer
            .step(
                pixels.clone(),
                &tokens,
                &Positives::diagonal(tokens.batch_size()),
            )
            .unwrap();
        let mut last = first;
        for _ in 0..24 {
            last = trainer
                .step(
                    pixels.clone(),
                    &tokens,
                    &Positives::diagonal(tokens.batch_size()),
                )
                .unwrap();
        }
        assert_eq!(trainer.step_count(), 25);
        assert!(last.loss < 0.5 * first.loss, "{first:?} -> {last:?}");
    }

    #[test]
    fn a_resumed_run_continues_exactly() {
        let _turn = crate::one_training_at_a_time();
        let config = tiny_config();
        let (pixels, tokens) = batch(&config, 8);
        let mut trainer = Trainer::new(&config, settings(), Device::flex()).unwrap();
        for _ in 0..3 {
            trainer
                .step(
                    pixels.clone(),
                    &tokens,
                    &Positives::diagonal(tokens.batch_size()),
                )
                .unwrap();
        }
        let checkpoint = trainer.checkpoint().unwrap();
        let mut resumed =
            Trainer::resume(&checkpoint, &config, settings(), Device::flex()).unwrap();
        assert_eq!(resumed.step_count(), 3);
        for _ in 0..2 {
            let a = trainer
                .step(
                    pixels.clone(),
                    &tokens,
                    &Positives::diagonal(tokens.batch_size()),
                )
                .unwrap();
            let b = resumed
                .step(
                    pixels.clone(),
                    &tokens,
                    &Positives::diagonal(tokens.batch_size()),
                )
                .unwrap();
            assert!((a.loss - b.loss).abs() < 1e-5, "{a:?} vs {b:?}");
        }
        // A run that lost its optimizer state (fresh AdamW moments) takes other steps.
        let weights = TensorMap::from_safetensors(&checkpoint.weights).unwrap();
        let mut amnesiac =
            Trainer::from_weights(&weights, &config, settings(), Device::flex()).unwrap();
        amnesiac.step = 3;
        amnesiac
            .step(
                pixels.clone(),
                &tokens,
                &Positives::diagonal(tokens.batch_size()),
            )
            .unwrap();
        let resumed_weights = resumed.weights().unwrap();
        let amnesiac_weights = amnesiac.weights().unwrap();
        let trained_weights = trainer.weights().unwrap();
        let name = "visual_projection.weight";
        let differ = |a: &TensorMap, b: &TensorMap| {
            let (a, b) = (&a.get(name).unwrap().values, &b.get(name).unwrap().values);
            a.iter()
                .zip(b)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0, f32::max)
        };
        assert!(differ(&resumed_weights, &trained_weights) < 1e-5);
        assert!(differ(&amnesiac_weights, &trained_weights) > 1e-4);
    }

    #[test]
    fn koleo_is_reported_only_when_weighted() {
        let _turn = crate::one_training_at_a_time();
        let config = tiny_config();
        let (pixels, tokens) = batch(&config, 4);
        let mut plain = Trainer::new(&config, settings(), Device::flex()).unwrap();
        assert_eq!(
            plain
                .step(
                    pixels.clone(),
                    &tokens,
                    &Positives::diagonal(tokens.batch_size())
                )
                .unwrap()
                .koleo,
            0.0
        );
        let spread = TrainConfig {
            koleo_weight: 0.1,
            ..settings()
        };
        let mut regularised = Trainer::new(&config, spread, Device::flex()).unwrap();
        let report = regularised
            .step(pixels, &tokens, &Positives::diagonal(tokens.batch_size()))
            .unwrap();
        assert!(
            report.koleo != 0.0 && report.loss > report.contrastive,
            "{report:?}"
        );
    }

    #[test]
    fn mismatched_batches_and_settings_are_refused() {
        let config = tiny_config();
        let (pixels, tokens) = batch(&config, 4);
        let mut trainer = Trainer::new(&config, settings(), Device::flex()).unwrap();
        let short = pixels[..pixels.len() - 3].to_vec();
        assert!(matches!(
            trainer.step(short, &tokens, &Positives::diagonal(tokens.batch_size())),
            Err(TrainError::BatchShape { texts: 4, .. })
        ));
        let one = TrainConfig {
            batch_size: 1,
            ..settings()
        };
        let error = Trainer::new(&config, one, Device::flex()).unwrap_err();
        assert!(error.to_string().contains("batch_size"), "{error}");
    }

    #[test]
    fn collections_too_small_to_train_are_refused_with_the_reason() {
        assert!(matches!(
            check_collection(0, 0, 8),
            Err(TrainError::EmptyCollection)
        ));
        let error = check_collection(30, 0, 8).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("none of the 30 items has a caption"),
            "{error}"
        );
        let error = check_collection(30, 5, 8).unwrap_err();
        assert!(
            error.to_string().contains("only 5 captioned items"),
            "{error}"
        );
        assert!(check_collection(30, 8, 8).is_ok());
    }

    #[test]
    fn the_learning_rate_warms_up_then_decays_to_zero() {
        let s = TrainConfig {
            learning_rate: 1.0,
            warmup_steps: 10,
            total_steps: 110,
            ..TrainConfig::default()
        };
        assert!((s.learning_rate_at(0) - 0.1).abs() < 1e-12);
        assert!((s.learning_rate_at(9) - 1.0).abs() < 1e-12);
        assert!((s.learning_rate_at(60) - 0.5).abs() < 1e-9);
        assert!(s.learning_rate_at(110).abs() < 1e-12);
    }
}

#[cfg(all(test, not(target_family = "wasm")))]
mod properties {
    use std::collections::HashSet;

    use proptest::prelude::*;

    use super::batch_indices;

    proptest! {
        #[test]
        fn an_epoch_s_batches_are_disjoint_and_in_range(
            seed: u64, items in 2u32..300, batch in 1u32..40, epoch in 0u64..3,
        ) {
            prop_assume!(batch <= items);
            let per_epoch = u64::from(items / batch);
            let mut seen = HashSet::new();
            for step in epoch * per_epoch..(epoch + 1) * per_epoch {
                let indices = batch_indices(seed, step, batch, items);
                prop_assert_eq!(indices.len(), batch as usize);
                prop_assert_eq!(&indices, &batch_indices(seed, step, batch, items));
                for index in indices {
                    prop_assert!(index < items);
                    prop_assert!(seen.insert(index), "index {} twice in an epoch", index);
                }
            }
        }
    }
}
