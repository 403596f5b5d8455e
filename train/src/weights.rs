//! Model weights as Hugging Face-named tensor maps: the demo model's size, seeded random
//! initialisation, and a (trained) [`ClipModel`] read back into a map.
//!
//! Every model the trainer touches goes through a [`TensorMap`] with `CLIPModel`'s names, so
//! [`clip::load_clip`] builds it (on an autodiff device for training, a plain one for
//! inference) and the files written are ordinary Hugging Face `model.safetensors` files.

use burn::module::Param;
use burn::nn::{LayerNorm, Linear};
use burn::tensor::Tensor;
use clip::loader::transpose;
use clip::model::ResidualAttentionBlock;
use clip::{Activation, ClipConfig, ClipModel, RawTensor, TensorMap, TextConfig, VisionConfig};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use seeded::below;

use crate::trainer::TrainError;

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

/// Every tensor of a Hugging Face `CLIPModel` of `config`, with its shape and CLIP's
/// initialisation (OpenAI's `initialize_parameters`: residual projections scaled down with
/// depth, embeddings at 0.02 / 0.01).
fn specs(config: &ClipConfig) -> Vec<(String, Vec<usize>, Init)> {
    let mut specs = Vec::new();
    let t = &config.text_config;
    let v = &config.vision_config;
    let p = config.projection_dim;
    let mut add = |name: String, shape: &[usize], init| specs.push((name, shape.to_vec(), init));
    add(
        "text_model.embeddings.token_embedding.weight".into(),
        &[t.vocab_size, t.hidden_size],
        Init::Normal(0.02),
    );
    add(
        "text_model.embeddings.position_embedding.weight".into(),
        &[t.max_position_embeddings, t.hidden_size],
        Init::Normal(0.01),
    );
    let blocks = |add: &mut dyn FnMut(String, &[usize], Init), tower: &str, w, m, layers| {
        let attention = (w as f32).powf(-0.5);
        let residual = attention * (2.0 * layers as f32).powf(-0.5);
        let fc = (2.0 * w as f32).powf(-0.5);
        for i in 0..layers {
            let b = format!("{tower}.encoder.layers.{i}");
            for norm in ["layer_norm1", "layer_norm2"] {
                add(format!("{b}.{norm}.weight"), &[w], Init::Ones);
                add(format!("{b}.{norm}.bias"), &[w], Init::Zeros);
            }
            for (part, std) in [
                ("q_proj", attention),
                ("k_proj", attention),
                ("v_proj", attention),
                ("out_proj", residual),
            ] {
                add(
                    format!("{b}.self_attn.{part}.weight"),
                    &[w, w],
                    Init::Normal(std),
                );
                add(format!("{b}.self_attn.{part}.bias"), &[w], Init::Zeros);
            }
            add(format!("{b}.mlp.fc1.weight"), &[m, w], Init::Normal(fc));
            add(format!("{b}.mlp.fc1.bias"), &[m], Init::Zeros);
            add(
                format!("{b}.mlp.fc2.weight"),
                &[w, m],
                Init::Normal(residual),
            );
            add(format!("{b}.mlp.fc2.bias"), &[w], Init::Zeros);
        }
    };
    blocks(
        &mut add,
        "text_model",
        t.hidden_size,
        t.intermediate_size,
        t.num_hidden_layers,
    );
    for part in ["weight", "bias"] {
        let init = if part == "weight" {
            Init::Ones
        } else {
            Init::Zeros
        };
        add(
            format!("text_model.final_layer_norm.{part}"),
            &[t.hidden_size],
            init,
        );
    }
    add(
        "text_projection.weight".into(),
        &[p, t.hidden_size],
        Init::Normal((t.hidden_size as f32).powf(-0.5)),
    );
    let w = v.hidden_size;
    let patch_inputs = v.num_channels * v.patch_size * v.patch_size;
    let positions = (v.image_size / v.patch_size).pow(2) + 1;
    let scale = (w as f32).powf(-0.5);
    add(
        "vision_model.embeddings.patch_embedding.weight".into(),
        &[w, v.num_channels, v.patch_size, v.patch_size],
        Init::Normal((patch_inputs as f32).powf(-0.5)),
    );
    add(
        "vision_model.embeddings.class_embedding".into(),
        &[w],
        Init::Normal(scale),
    );
    add(
        "vision_model.embeddings.position_embedding.weight".into(),
        &[positions, w],
        Init::Normal(scale),
    );
    blocks(
        &mut add,
        "vision_model",
        w,
        v.intermediate_size,
        v.num_hidden_layers,
    );
    for norm in ["pre_layrnorm", "post_layernorm"] {
        add(format!("vision_model.{norm}.weight"), &[w], Init::Ones);
        add(format!("vision_model.{norm}.bias"), &[w], Init::Zeros);
    }
    add(
        "visual_projection.weight".into(),
        &[p, w],
        Init::Normal(scale),
    );
    add(
        "logit_scale".into(),
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
    let mut map = TensorMap::default();
    let text = &model.text;
    put_param(
        &mut map,
        "text_model.embeddings.token_embedding.weight",
        &text.token_embedding,
    )?;
    put_param(
        &mut map,
        "text_model.embeddings.position_embedding.weight",
        &text.positional_embedding,
    )?;
    for (i, block) in text.blocks.iter().enumerate() {
        put_block(&mut map, &format!("text_model.encoder.layers.{i}"), block)?;
    }
    put_norm(&mut map, "text_model.final_layer_norm", &text.ln_final)?;
    put_linear(&mut map, "text_projection", &text.projection)?;
    let vision = &model.vision;
    // burn's patch matrix `[channels * p * p, width]` is the conv weight `[width, c, p, p]`.
    let [inputs, width] = vision.patch_embedding.weight.shape().dims::<2>();
    let p = vision.patch_size;
    map.insert(
        "vision_model.embeddings.patch_embedding.weight",
        RawTensor {
            shape: vec![width, inputs / (p * p), p, p],
            values: transpose(&values(&vision.patch_embedding.weight)?, inputs, width),
        },
    );
    put_param(
        &mut map,
        "vision_model.embeddings.class_embedding",
        &vision.class_embedding,
    )?;
    put_param(
        &mut map,
        "vision_model.embeddings.position_embedding.weight",
        &vision.positional_embedding,
    )?;
    put_norm(&mut map, "vision_model.pre_layrnorm", &vision.ln_pre)?;
    for (i, block) in vision.blocks.iter().enumerate() {
        put_block(&mut map, &format!("vision_model.encoder.layers.{i}"), block)?;
    }
    put_norm(&mut map, "vision_model.post_layernorm", &vision.ln_post)?;
    put_linear(&mut map, "visual_projection", &vision.projection)?;
    map.insert(
        "logit_scale",
        RawTensor {
            shape: vec![],
            values: values(&model.logit_scale)?,
        },
    );
    Ok(map)
}

fn put_block(
    map: &mut TensorMap,
    prefix: &str,
    block: &ResidualAttentionBlock,
) -> Result<(), TrainError> {
    put_norm(map, &format!("{prefix}.layer_norm1"), &block.ln_1)?;
    put_norm(map, &format!("{prefix}.layer_norm2"), &block.ln_2)?;
    // The fused `[width, 3 * width]` projection is q, k, v side by side; PyTorch stacks
    // their `[out, in]` weights as rows, which is the transpose.
    let [width, fused] = block.attn_in.weight.shape().dims::<2>();
    let weight = transpose(&values(&block.attn_in.weight)?, width, fused);
    let bias = match &block.attn_in.bias {
        Some(bias) => values(bias)?,
        None => vec![0.0; fused],
    };
    for (k, part) in ["q_proj", "k_proj", "v_proj"].iter().enumerate() {
        map.insert(
            format!("{prefix}.self_attn.{part}.weight"),
            RawTensor {
                shape: vec![width, width],
                values: weight[k * width * width..(k + 1) * width * width].to_vec(),
            },
        );
        map.insert(
            format!("{prefix}.self_attn.{part}.bias"),
            RawTensor {
                shape: vec![width],
                values: bias[k * width..(k + 1) * width].to_vec(),
            },
        );
    }
    put_linear(
        map,
        &format!("{prefix}.self_attn.out_proj"),
        &block.attn_out,
    )?;
    put_linear(map, &format!("{prefix}.mlp.fc1"), &block.mlp_fc)?;
    put_linear(map, &format!("{prefix}.mlp.fc2"), &block.mlp_proj)
}

/// A burn Linear as PyTorch's `<name>.weight` (`[out, in]`) and `<name>.bias`.
pub(crate) fn put_linear(
    map: &mut TensorMap,
    name: &str,
    linear: &Linear,
) -> Result<(), TrainError> {
    let [d_in, d_out] = linear.weight.shape().dims::<2>();
    map.insert(
        format!("{name}.weight"),
        RawTensor {
            shape: vec![d_out, d_in],
            values: transpose(&values(&linear.weight)?, d_in, d_out),
        },
    );
    if let Some(bias) = &linear.bias {
        put_param(map, &format!("{name}.bias"), bias)?;
    }
    Ok(())
}

fn put_norm(map: &mut TensorMap, name: &str, norm: &LayerNorm) -> Result<(), TrainError> {
    put_param(map, &format!("{name}.weight"), &norm.gamma)?;
    if let Some(beta) = &norm.beta {
        put_param(map, &format!("{name}.bias"), beta)?;
    }
    Ok(())
}

pub(crate) fn put_param<const D: usize>(
    map: &mut TensorMap,
    name: &str,
    param: &Param<Tensor<D>>,
) -> Result<(), TrainError> {
    let shape = param.shape().dims::<D>().to_vec();
    map.insert(
        name,
        RawTensor {
            shape,
            values: values(param)?,
        },
    );
    Ok(())
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
