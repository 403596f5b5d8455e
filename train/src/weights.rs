//! Model weights as Hugging Face-named tensor maps: the demo model's size, seeded random
//! initialisation, and a (trained) [`ClipModel`] read back into a map.
//!
//! Every model the trainer touches goes through a [`TensorMap`] with `CLIPModel`'s names, so
//! [`clip::load_clip`] builds it (on an autodiff device for training, a plain one for
//! inference) and the files written are ordinary Hugging Face `model.safetensors` files.

use burn::module::Param;
use burn::tensor::Tensor;
use clip::names::{AttentionInNames, Layout, Names, ProjectionName, Tower};
use clip::{Activation, ClipConfig, ClipModel, RawTensor, TensorMap, TextConfig, VisionConfig};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use seeded::below;

use crate::error::TrainError;

/// The demo model: a 64 px ViT with 16 px patches (17 tokens: fast enough to train on a CPU) and a 3-layer text transformer, both 128
/// wide, with the full CLIP BPE vocabulary (so the standard tokenizer works) and a 32-d joint
/// space (the index's width, so no reduction is needed after it).
pub fn demo_config() -> ClipConfig {
    let width = 128;
    ClipConfig {
        text_config: TextConfig {
            vocab_size: 49408,
            hidden_size: width,
            intermediate_size: 4 * width,
            num_attention_heads: 4,
            num_hidden_layers: 3,
            max_position_embeddings: clip::CONTEXT_LENGTH,
            hidden_act: Activation::QuickGelu,
            layer_norm_eps: 1e-5,
        },
        vision_config: VisionConfig {
            image_size: 64,
            patch_size: 16,
            num_channels: 3,
            hidden_size: width,
            intermediate_size: 4 * width,
            num_attention_heads: 4,
            num_hidden_layers: 3,
            hidden_act: Activation::QuickGelu,
            layer_norm_eps: 1e-5,
        },
        projection_dim: 32,
    }
}

/// `config` as a Hugging Face `config.json` that [`ClipConfig::from_hf_json`] reads back.
pub fn hf_config_json(config: &ClipConfig) -> String {
    let activation = |a: Activation| match a {
        Activation::QuickGelu => "quick_gelu",
        Activation::Gelu => "gelu",
    };
    let t = &config.text_config;
    let v = &config.vision_config;
    let json = serde_json::json!({
        "architectures": ["CLIPModel"],
        "model_type": "clip",
        "projection_dim": config.projection_dim,
        "logit_scale_init_value": INITIAL_LOGIT_SCALE,
        "text_config": {
            "vocab_size": t.vocab_size,
            "hidden_size": t.hidden_size,
            "intermediate_size": t.intermediate_size,
            "num_attention_heads": t.num_attention_heads,
            "num_hidden_layers": t.num_hidden_layers,
            "max_position_embeddings": t.max_position_embeddings,
            "hidden_act": activation(t.hidden_act),
            "layer_norm_eps": t.layer_norm_eps,
            "bos_token_id": clip::START_OF_TEXT,
            "eos_token_id": clip::END_OF_TEXT,
        },
        "vision_config": {
            "image_size": v.image_size,
            "patch_size": v.patch_size,
            "num_channels": v.num_channels,
            "hidden_size": v.hidden_size,
            "intermediate_size": v.intermediate_size,
            "num_attention_heads": v.num_attention_heads,
            "num_hidden_layers": v.num_hidden_layers,
            "hidden_act": activation(v.hidden_act),
            "layer_norm_eps": v.layer_norm_eps,
        },
    });
    serde_json::to_string_pretty(&json).expect("a JSON value always serialises")
}

/// CLIP's initial logit scale, `ln(1 / 0.07)`.
pub const INITIAL_LOGIT_SCALE: f32 = 2.659_26;

/// How one tensor starts.
#[derive(Debug, Clone, Copy)]
enum Init {
    /// Zero-mean, roughly normal with this standard deviation.
    Normal(f32),
    /// All ones (LayerNorm gains).
    Ones,
    /// All zeros (biases).
    Zeros,
    /// One value (the logit scale).
    Constant(f32),
}

/// Every tensor of a Hugging Face `CLIPModel` of `config` (named by [`clip::names`]), with
/// its shape and CLIP's initialisation (OpenAI's `initialize_parameters`: residual
/// projections scaled down with depth, embeddings at 0.02 / 0.01). The order is the order
/// of the random draws, so it fixes the weights a seed gives.
fn specs(config: &ClipConfig) -> Vec<(String, Vec<usize>, Init)> {
    let names = Names::new(Layout::HuggingFace);
    let mut specs = Vec::new();
    let t = &config.text_config;
    let v = &config.vision_config;
    let p = config.projection_dim;
    let mut add = |name: String, shape: &[usize], init| specs.push((name, shape.to_vec(), init));
    let norm = |add: &mut dyn FnMut(String, &[usize], Init), name: &str, width: usize| {
        add(format!("{name}.weight"), &[width], Init::Ones);
        add(format!("{name}.bias"), &[width], Init::Zeros);
    };
    let linear =
        |add: &mut dyn FnMut(String, &[usize], Init), name: &str, shape: [usize; 2], std| {
            add(format!("{name}.weight"), &shape, Init::Normal(std));
            add(format!("{name}.bias"), &shape[..1], Init::Zeros);
        };
    let projection = |add: &mut dyn FnMut(String, &[usize], Init), tower, width: usize, std| {
        let name = names.projection(tower);
        let shape = match name {
            ProjectionName::Linear(_) => [p, width],
            ProjectionName::Matrix(_) => [width, p],
        };
        add(name.weight(), &shape, Init::Normal(std));
    };
    add(
        names.text_token_embedding(),
        &[t.vocab_size, t.hidden_size],
        Init::Normal(0.02),
    );
    add(
        names.text_positional_embedding(),
        &[t.max_position_embeddings, t.hidden_size],
        Init::Normal(0.01),
    );
    let blocks = |add: &mut dyn FnMut(String, &[usize], Init), tower, w, m, layers| {
        let attention = (w as f32).powf(-0.5);
        let residual = attention * (2.0 * layers as f32).powf(-0.5);
        let fc = (2.0 * w as f32).powf(-0.5);
        for i in 0..layers {
            let block = names.block(tower, i);
            norm(add, &block.ln_1, w);
            norm(add, &block.ln_2, w);
            match &block.attn_in {
                AttentionInNames::Split(parts) => {
                    for part in parts {
                        linear(add, part, [w, w], attention);
                    }
                }
                AttentionInNames::Fused { weight, bias } => {
                    add(weight.clone(), &[3 * w, w], Init::Normal(attention));
                    add(bias.clone(), &[3 * w], Init::Zeros);
                }
            }
            linear(add, &block.attn_out, [w, w], residual);
            linear(add, &block.mlp_fc, [m, w], fc);
            linear(add, &block.mlp_proj, [w, m], residual);
        }
    };
    blocks(
        &mut add,
        Tower::Text,
        t.hidden_size,
        t.intermediate_size,
        t.num_hidden_layers,
    );
    norm(&mut add, &names.text_ln_final(), t.hidden_size);
    projection(
        &mut add,
        Tower::Text,
        t.hidden_size,
        (t.hidden_size as f32).powf(-0.5),
    );
    let w = v.hidden_size;
    let patch_inputs = v.num_channels * v.patch_size * v.patch_size;
    let positions = (v.image_size / v.patch_size).pow(2) + 1;
    let scale = (w as f32).powf(-0.5);
    add(
        names.patch_embedding(),
        &[w, v.num_channels, v.patch_size, v.patch_size],
        Init::Normal((patch_inputs as f32).powf(-0.5)),
    );
    add(names.class_embedding(), &[w], Init::Normal(scale));
    add(
        names.vision_positional_embedding(),
        &[positions, w],
        Init::Normal(scale),
    );
    blocks(
        &mut add,
        Tower::Vision,
        w,
        v.intermediate_size,
        v.num_hidden_layers,
    );
    norm(&mut add, &names.ln_pre(), w);
    norm(&mut add, &names.ln_post(), w);
    projection(&mut add, Tower::Vision, w, scale);
    add(
        names.logit_scale(),
        &[],
        Init::Constant(INITIAL_LOGIT_SCALE),
    );
    specs
}

/// A randomly initialised `CLIPModel` of `config`, every tensor drawn from `seed` alone.
pub fn init_weights(config: &ClipConfig, seed: u64) -> TensorMap {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut map = TensorMap::default();
    for (name, shape, init) in specs(config) {
        let len = shape.iter().product::<usize>();
        let values = match init {
            Init::Normal(std) => (0..len).map(|_| std * standard_normal(&mut rng)).collect(),
            Init::Ones => vec![1.0; len],
            Init::Zeros => vec![0.0; len],
            Init::Constant(value) => vec![value; len],
        };
        map.insert(name, RawTensor { shape, values });
    }
    map
}

/// Irwin-Hall: the sum of 12 uniforms minus 6 has mean 0, variance 1 and a bell shape
/// (bounded at ±6), from integer draws only, so it is the same on every target.
pub(crate) fn standard_normal(rng: &mut ChaCha8Rng) -> f32 {
    const STEPS: u32 = 1 << 16;
    let sum: u32 = (0..12).map(|_| below(rng, STEPS)).sum();
    sum as f32 / STEPS as f32 - 6.0
}

/// The tensors of `model` under Hugging Face `CLIPModel` names (the inverse of
/// [`clip::load_clip`] for that layout).
pub fn model_tensors(model: &ClipModel) -> Result<TensorMap, TrainError> {
    Ok(clip::export::model_tensors(model, Layout::HuggingFace)?)
}

pub(crate) fn values<const D: usize>(param: &Param<Tensor<D>>) -> Result<Vec<f32>, TrainError> {
    param
        .val()
        .try_into_data()
        .map_err(|e| TrainError::Readback(format!("{e:?}")))?
        .try_into_vec::<f32>()
        .map_err(|e| TrainError::Readback(format!("{e:?}")))
}

/// A model small enough to train in a test: 16 px images, 16-wide towers.
#[cfg(test)]
pub(crate) fn tiny_config() -> ClipConfig {
    let mut config = demo_config();
    config.text_config.hidden_size = 16;
    config.text_config.intermediate_size = 32;
    config.text_config.num_attention_heads = 2;
    config.text_config.num_hidden_layers = 1;
    config.vision_config.image_size = 16;
    config.vision_config.hidden_size = 16;
    config.vision_config.intermediate_size = 32;
    config.vision_config.num_attention_heads = 2;
    config.vision_config.num_hidden_layers = 2;
    config.projection_dim = 8;
    config
}

#[cfg(test)]
mod tests {
    use burn::tensor::Device;

    use super::*;

    #[test]
    fn initial_weights_load_and_read_back_unchanged() {
        let config = tiny_config();
        let weights = init_weights(&config, 1);
        let model = clip::load_clip(&weights, &config, &Device::flex()).unwrap();
        assert_eq!(model_tensors(&model).unwrap(), weights);
    }

    #[test]
    fn initialisation_is_seeded_and_scaled() {
        let config = tiny_config();
        assert_eq!(init_weights(&config, 1), init_weights(&config, 1));
        assert_ne!(init_weights(&config, 1), init_weights(&config, 2));
        let weights = init_weights(&config, 1);
        let embedding = &weights
            .get("text_model.embeddings.token_embedding.weight")
            .unwrap()
            .values;
        let n = embedding.len() as f32;
        let mean = embedding.iter().sum::<f32>() / n;
        let std = (embedding.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / n).sqrt();
        assert!(mean.abs() < 0.002, "{mean}");
        assert!((std - 0.02).abs() < 0.001, "{std}");
    }

    #[test]
    fn config_json_reads_back() {
        let config = demo_config();
        assert_eq!(
            ClipConfig::from_hf_json(&hf_config_json(&config)).unwrap(),
            config
        );
    }
}
