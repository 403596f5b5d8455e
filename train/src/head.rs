//! The paper's compact heads (spec section 2), trained on frozen CLIP features: per
//! modality, Linear-BatchNorm-ReLU-Linear-BatchNorm-ReLU-Linear to `output` dims, then L2
//! normalisation; the loss is the symmetric InfoNCE of the two heads' outputs (learned
//! logit scale) plus the weighted KoLeo regulariser of each, which spreads the compact
//! features for the kd-trees and the 8-bit grid.
//!
//! Weights travel under the paper's names (`image_head.{0,1,3,4,6}.*`, `text_head.*`, as
//! PyTorch's `nn.Sequential` stores them), so [`clip::load_head`] reads a trained head
//! like the paper's own; checkpoints add AdamW's state and the logit scale.

use burn::module::{Module, Param, RunningState};
use burn::nn::{BatchNorm, BatchNormConfig, Linear};
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor, TensorData};
use clip::export::{insert_linear, insert_param};
use clip::model::l2_normalise;
use clip::tensors::transpose;
use clip::{HeadConfig, RawTensor, TensorMap};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::error::TrainError;
use crate::loss::{Positives, contrastive_loss, koleo};
use crate::trainer::{
    Checkpoint, StepReport, TrainConfig, adamw, checkpoint_of, number_params, restore_optimizer,
    scalar,
};
use crate::weights::{standard_normal, values};

/// The names of the two heads in a weights file.
pub const HEAD_NAMES: [&str; 2] = ["image_head", "text_head"];

/// The name of the logit scale in a head checkpoint.
const LOGIT_SCALE: &str = "head_logit_scale";

/// One modality's head as it trains (BatchNorms in batch mode, running statistics kept).
#[derive(Module, Debug)]
pub struct TrainableHead {
    linear_0: Linear,
    norm_1: BatchNorm,
    linear_3: Linear,
    norm_4: BatchNorm,
    linear_6: Linear,
}

impl TrainableHead {
    /// `[batch, input]` -> L2-normalised `[batch, output]`.
    pub fn forward(&self, features: Tensor<2>) -> Tensor<2> {
        let x = relu(self.norm_1.forward(self.linear_0.forward(features)));
        let x = relu(self.norm_4.forward(self.linear_3.forward(x)));
        l2_normalise(self.linear_6.forward(x))
    }

    fn from_tensors(
        map: &TensorMap,
        name: &str,
        config: &HeadConfig,
        device: &Device,
    ) -> Result<Self, TrainError> {
        let tensor = |part: &str, shape: &[usize]| -> Result<Vec<f32>, TrainError> {
            let key = format!("{name}.{part}");
            let found = map
                .get(&key)
                .ok_or_else(|| clip::LoadError::MissingTensor { name: key.clone() })?;
            if found.shape != shape {
                return Err(clip::LoadError::WrongShape {
                    name: key,
                    expected: shape.to_vec(),
                    found: found.shape.clone(),
                }
                .into());
            }
            Ok(found.values.clone())
        };
        let matrix = |values: Vec<f32>, rows: usize, cols: usize| {
            Param::<Tensor<2>>::from_data(TensorData::new(values, [rows, cols]), device)
        };
        let vector = |values: Vec<f32>| {
            let len = values.len();
            Param::<Tensor<1>>::from_data(TensorData::new(values, [len]), device)
        };
        let linear = |index: usize, d_in: usize, d_out: usize| -> Result<Linear, TrainError> {
            let weight = tensor(&format!("{index}.weight"), &[d_out, d_in])?;
            let bias = tensor(&format!("{index}.bias"), &[d_out])?;
            Ok(Linear {
                weight: matrix(transpose(&weight, d_out, d_in), d_in, d_out),
                bias: Some(vector(bias)),
            })
        };
        let norm = |index: usize, width: usize| -> Result<BatchNorm, TrainError> {
            let mut norm = BatchNormConfig::new(width).init(device);
            let part = |p: &str| tensor(&format!("{index}.{p}"), &[width]);
            norm.gamma = vector(part("weight")?);
            norm.beta = vector(part("bias")?);
            let state = |values| {
                RunningState::new(Tensor::<1>::from_data(
                    TensorData::new(values, [width]),
                    device,
                ))
            };
            norm.running_mean = state(part("running_mean")?);
            norm.running_var = state(part("running_var")?);
            Ok(norm)
        };
        Ok(Self {
            linear_0: linear(0, config.input, config.hidden)?,
            norm_1: norm(1, config.hidden)?,
            linear_3: linear(3, config.hidden, config.hidden)?,
            norm_4: norm(4, config.hidden)?,
            linear_6: linear(6, config.hidden, config.output)?,
        })
    }

    fn put(&self, map: &mut TensorMap, name: &str) -> Result<(), TrainError> {
        insert_linear(map, &format!("{name}.0"), &self.linear_0)?;
        put_batch_norm(map, &format!("{name}.1"), &self.norm_1)?;
        insert_linear(map, &format!("{name}.3"), &self.linear_3)?;
        put_batch_norm(map, &format!("{name}.4"), &self.norm_4)?;
        insert_linear(map, &format!("{name}.6"), &self.linear_6)?;
        Ok(())
    }
}

fn put_batch_norm(map: &mut TensorMap, name: &str, norm: &BatchNorm) -> Result<(), TrainError> {
    insert_param(map, format!("{name}.weight"), &norm.gamma)?;
    insert_param(map, format!("{name}.bias"), &norm.beta)?;
    for (part, state) in [
        ("running_mean", &norm.running_mean),
        ("running_var", &norm.running_var),
    ] {
        // `value` may lag one update behind; a checkpoint needs the latest.
        let values = state
            .value_sync()
            .try_into_data()
            .map_err(|e| TrainError::Readback(format!("{e:?}")))?
            .try_into_vec::<f32>()
            .map_err(|e| TrainError::Readback(format!("{e:?}")))?;
        map.insert(
            format!("{name}.{part}"),
            RawTensor {
                shape: vec![values.len()],
                values,
            },
        );
    }
    Ok(())
}

/// Both heads and the logit scale.
#[derive(Module, Debug)]
pub struct HeadPair {
    image: TrainableHead,
    text: TrainableHead,
    logit_scale: Param<Tensor<1>>,
}

/// Seeded initial weights of both heads under the paper's names, as PyTorch initialises
/// them (Linear: uniform in `±1/sqrt(in)`, here from a bell of that spread; BatchNorm:
/// weight 1, bias 0, running mean 0, running variance 1), with CLIP's initial logit scale.
pub fn init_head_weights(config: &HeadConfig, seed: u64) -> TensorMap {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut map = TensorMap::default();
    let mut put = |name: String, shape: Vec<usize>, values: Vec<f32>| {
        map.insert(name, RawTensor { shape, values });
    };
    for head in HEAD_NAMES {
        for (index, d_in, d_out) in [
            (0, config.input, config.hidden),
            (3, config.hidden, config.hidden),
            (6, config.hidden, config.output),
        ] {
            let std = (1.0 / d_in as f32).sqrt() / 3f32.sqrt();
            let weight = (0..d_in * d_out)
                .map(|_| std * standard_normal(&mut rng))
                .collect();
            let bias = (0..d_out)
                .map(|_| std * standard_normal(&mut rng))
                .collect();
            put(format!("{head}.{index}.weight"), vec![d_out, d_in], weight);
            put(format!("{head}.{index}.bias"), vec![d_out], bias);
        }
        for index in [1, 4] {
            let width = config.hidden;
            for (part, value) in [
                ("weight", 1.0),
                ("bias", 0.0),
                ("running_mean", 0.0),
                ("running_var", 1.0),
            ] {
                put(
                    format!("{head}.{index}.{part}"),
                    vec![width],
                    vec![value; width],
                );
            }
        }
    }
    put(LOGIT_SCALE.into(), vec![1], vec![(1.0f32 / 0.07).ln()]);
    map
}

/// The two heads being trained on frozen features.
pub struct HeadTrainer {
    model: HeadPair,
    config: HeadConfig,
    settings: TrainConfig,
    optimizer: ModuleOptimizer,
    step: u64,
    device: Device,
}

impl std::fmt::Debug for HeadTrainer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeadTrainer")
            .field("config", &self.config)
            .field("settings", &self.settings)
            .field("step", &self.step)
            .finish_non_exhaustive()
    }
}

impl HeadTrainer {
    /// Fresh heads of `config`, initialised from `settings.seed`, on `device` (autodiff is
    /// enabled on it).
    pub fn new(
        config: &HeadConfig,
        settings: TrainConfig,
        device: Device,
    ) -> Result<Self, TrainError> {
        Self::from_weights(
            &init_head_weights(config, settings.seed),
            config,
            settings,
            device,
        )
    }

    /// Heads from weights under the paper's names (and a logit scale, if the map has one).
    pub fn from_weights(
        weights: &TensorMap,
        config: &HeadConfig,
        settings: TrainConfig,
        device: Device,
    ) -> Result<Self, TrainError> {
        settings.validate()?;
        if config.input == 0 || config.hidden == 0 || config.output == 0 {
            return Err(TrainError::Setting {
                field: "widths",
                reason: format!("every width must be positive, not {config:?}"),
            });
        }
        let device = device.autodiff();
        let scale = weights.get(LOGIT_SCALE).map_or((1.0f32 / 0.07).ln(), |t| {
            t.values.first().copied().unwrap_or(0.0)
        });
        let model = number_params(HeadPair {
            image: TrainableHead::from_tensors(weights, HEAD_NAMES[0], config, &device)?,
            text: TrainableHead::from_tensors(weights, HEAD_NAMES[1], config, &device)?,
            logit_scale: Param::from_data(TensorData::new(vec![scale], [1]), &device),
        });
        let optimizer = adamw(&settings);
        Ok(Self {
            model,
            config: *config,
            settings,
            optimizer,
            step: 0,
            device,
        })
    }

    /// Continues from `checkpoint`, taken by a run with the same `config` and `settings`.
    pub fn resume(
        checkpoint: &Checkpoint,
        config: &HeadConfig,
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

    /// One AdamW step on a batch of pairs: `image` and `text` are frozen CLIP features,
    /// `[batch, input]` each, row-major, row `i` of one belonging to row `i` of the other;
    /// `positives` says which other texts also describe an image.
    pub fn step(
        &mut self,
        image: Vec<f32>,
        text: Vec<f32>,
        positives: &Positives,
    ) -> Result<StepReport, TrainError> {
        let width = self.config.input;
        let batch = image.len() / width.max(1);
        if batch < 2
            || image.len() != batch * width
            || text.len() != image.len()
            || positives.batch() != batch
        {
            return Err(TrainError::Setting {
                field: "batch",
                reason: format!(
                    "{} image and {} text values and targets for {} pairs are not two matching batches of {width}-wide rows",
                    image.len(),
                    text.len(),
                    positives.batch()
                ),
            });
        }
        let rows =
            |values| Tensor::<2>::from_data(TensorData::new(values, [batch, width]), &self.device);
        let image = self.model.image.forward(rows(image));
        let text = self.model.text.forward(rows(text));
        let contrastive = contrastive_loss(
            image.clone(),
            text.clone(),
            self.model.logit_scale.val(),
            positives,
        );
        let weight = self.settings.koleo_weight;
        let spread = (koleo(image) + koleo(text)).mul_scalar(0.5);
        let loss = contrastive.clone() + spread.clone().mul_scalar(weight);
        let gradients = GradientsParams::from_grads(loss.backward(), &self.model);
        let learning_rate = self.settings.learning_rate_at(self.step);
        self.model = self
            .optimizer
            .step(learning_rate, self.model.clone(), gradients);
        self.step += 1;
        Ok(StepReport {
            loss: scalar(loss)?,
            contrastive: scalar(contrastive)?,
            koleo: scalar(spread)?,
            learning_rate,
            logit_scale: scalar(self.model.logit_scale.val())?.exp(),
        })
    }

    /// Both heads under the paper's names, with the logit scale.
    pub fn weights(&self) -> Result<TensorMap, TrainError> {
        let mut map = TensorMap::default();
        self.model.image.put(&mut map, HEAD_NAMES[0])?;
        self.model.text.put(&mut map, HEAD_NAMES[1])?;
        map.insert(
            LOGIT_SCALE,
            RawTensor {
                shape: vec![1],
                values: values(&self.model.logit_scale)?,
            },
        );
        Ok(map)
    }

    /// A checkpoint of the current state (f32 weights, AdamW's state).
    pub fn checkpoint(&self) -> Result<Checkpoint, TrainError> {
        checkpoint_of(self.step, &self.weights()?, &self.optimizer)
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::Device;

    use super::*;

    fn tiny() -> HeadConfig {
        HeadConfig {
            input: 8,
            hidden: 16,
            output: 4,
        }
    }

    /// Rows of two clusters, matching text rows a noisy copy of the image rows.
    fn batch(step: u64) -> (Vec<f32>, Vec<f32>) {
        let mut rng = ChaCha8Rng::seed_from_u64(step);
        let mut image = Vec::new();
        let mut text = Vec::new();
        for row in 0..16 {
            for d in 0..8 {
                let centre = if (row % 4) == d % 4 { 1.0 } else { 0.0 };
                let value = centre + 0.1 * standard_normal(&mut rng);
                image.push(value);
                text.push(value + 0.05 * standard_normal(&mut rng));
            }
        }
        (image, text)
    }

    #[test]
    fn training_lowers_the_loss_and_the_heads_load_as_the_papers() {
        let _turn = crate::one_training_at_a_time();
        let settings = TrainConfig {
            batch_size: 16,
            learning_rate: 1e-2,
            warmup_steps: 2,
            total_steps: 60,
            koleo_weight: 0.1,
            ..TrainConfig::default()
        };
        let mut trainer = HeadTrainer::new(&tiny(), settings, Device::flex()).unwrap();
        let (image, text) = batch(0);
        let first = trainer.step(image, text, &Positives::diagonal(16)).unwrap();
        let mut last = first;
        for step in 1..60 {
            let (image, text) = batch(step);
            last = trainer.step(image, text, &Positives::diagonal(16)).unwrap();
        }
        assert!(
            last.contrastive < first.contrastive * 0.8,
            "{first:?} -> {last:?}"
        );
        let weights = trainer.weights().unwrap();
        for name in HEAD_NAMES {
            let head = clip::load_head(&weights, name, &tiny(), &Device::flex()).unwrap();
            let out = head.forward(Tensor::<2>::from_data(
                TensorData::new(batch(99).0, [16, 8]),
                &Device::flex(),
            ));
            assert_eq!(out.dims(), [16, 4]);
        }
    }

    #[test]
    fn a_resumed_run_equals_an_unbroken_one() {
        let _turn = crate::one_training_at_a_time();
        let settings = TrainConfig {
            batch_size: 16,
            total_steps: 6,
            warmup_steps: 1,
            koleo_weight: 0.1,
            ..TrainConfig::default()
        };
        let mut unbroken = HeadTrainer::new(&tiny(), settings.clone(), Device::flex()).unwrap();
        let mut first = HeadTrainer::new(&tiny(), settings.clone(), Device::flex()).unwrap();
        for step in 0..3 {
            let (image, text) = batch(step);
            unbroken
                .step(image.clone(), text.clone(), &Positives::diagonal(16))
                .unwrap();
            first.step(image, text, &Positives::diagonal(16)).unwrap();
        }
        let checkpoint = first.checkpoint().unwrap();
        let mut resumed =
            HeadTrainer::resume(&checkpoint, &tiny(), settings, Device::flex()).unwrap();
        assert_eq!(resumed.step_count(), 3);
        for step in 3..6 {
            let (image, text) = batch(step);
            let a = unbroken
                .step(image.clone(), text.clone(), &Positives::diagonal(16))
                .unwrap();
            let b = resumed.step(image, text, &Positives::diagonal(16)).unwrap();
            assert_eq!(a, b, "step {step}");
        }
        assert_eq!(unbroken.weights().unwrap(), resumed.weights().unwrap());
    }

    #[test]
    fn a_head_file_of_other_widths_names_the_tensor() {
        let weights = init_head_weights(&tiny(), 1);
        let wider = HeadConfig { input: 9, ..tiny() };
        let error =
            HeadTrainer::from_weights(&weights, &wider, TrainConfig::default(), Device::flex())
                .unwrap_err();
        assert!(error.to_string().contains("image_head.0.weight"), "{error}");
    }
}
