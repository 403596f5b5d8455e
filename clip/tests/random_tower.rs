//! A text tower with seeded random weights, in open_clip's names, for any config: shared by
//! the native tests and the browser benchmark (no file I/O, so it builds for wasm).

use clip::{ClipConfig, RawTensor, TensorMap};
use rand::{Rng, SeedableRng};

/// `config`'s text tower with weights scaled as open_clip initialises them (so activations
/// stay in a realistic range: no infinities or subnormals to slow the arithmetic down), and
/// LayerNorms away from the identity.
pub fn text_tower(config: &ClipConfig, seed: u64) -> TensorMap {
    let c = &config.text_config;
    let (width, mlp, layers) = (c.hidden_size, c.intermediate_size, c.num_hidden_layers);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut map = TensorMap::default();
    // Uniform on [-a, a] has standard deviation a / sqrt(3).
    let mut add = |name: String, shape: Vec<usize>, centre: f32, std: f32| {
        let a = std * 3f32.sqrt();
        let values = (0..shape.iter().product::<usize>())
            .map(|_| centre + rng.random_range(-a..=a))
            .collect();
        map.insert(name, RawTensor { shape, values });
    };
    let attn_std = (width as f32).powf(-0.5);
    let proj_std = attn_std * ((2 * layers.max(1)) as f32).powf(-0.5);
    let fc_std = ((2 * width) as f32).powf(-0.5);
    add(
        "token_embedding.weight".into(),
        vec![c.vocab_size, width],
        0.0,
        0.02,
    );
    add(
        "positional_embedding".into(),
        vec![c.max_position_embeddings, width],
        0.0,
        0.01,
    );
    for i in 0..layers {
        let b = format!("transformer.resblocks.{i}");
        for norm in ["ln_1", "ln_2"] {
            add(format!("{b}.{norm}.weight"), vec![width], 1.0, 0.1);
            add(format!("{b}.{norm}.bias"), vec![width], 0.0, 0.1);
        }
        add(
            format!("{b}.attn.in_proj_weight"),
            vec![3 * width, width],
            0.0,
            attn_std,
        );
        add(format!("{b}.attn.in_proj_bias"), vec![3 * width], 0.0, 0.01);
        add(
            format!("{b}.attn.out_proj.weight"),
            vec![width, width],
            0.0,
            proj_std,
        );
        add(format!("{b}.attn.out_proj.bias"), vec![width], 0.0, 0.01);
        add(
            format!("{b}.mlp.c_fc.weight"),
            vec![mlp, width],
            0.0,
            fc_std,
        );
        add(format!("{b}.mlp.c_fc.bias"), vec![mlp], 0.0, 0.01);
        add(
            format!("{b}.mlp.c_proj.weight"),
            vec![width, mlp],
            0.0,
            proj_std,
        );
        add(format!("{b}.mlp.c_proj.bias"), vec![width], 0.0, 0.01);
    }
    add("ln_final.weight".into(), vec![width], 1.0, 0.1);
    add("ln_final.bias".into(), vec![width], 0.0, 0.1);
    add(
        "text_projection".into(),
        vec![width, config.projection_dim],
        0.0,
        attn_std,
    );
    map
}
