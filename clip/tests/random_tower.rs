//! Towers with seeded random weights, in open_clip's names, for any config: shared by the
//! native tests and the browser benchmark (no file I/O, so it builds for wasm).

use clip::{ClipConfig, RawTensor, TensorMap};
use rand::{Rng, SeedableRng};

/// Seeded tensors, each uniform around a centre with a given standard deviation.
struct RandomTensors {
    rng: rand_chacha::ChaCha8Rng,
    map: TensorMap,
}

impl RandomTensors {
    fn new(seed: u64) -> Self {
        Self {
            rng: rand_chacha::ChaCha8Rng::seed_from_u64(seed),
            map: TensorMap::default(),
        }
    }

    fn add(&mut self, name: String, shape: Vec<usize>, centre: f32, std: f32) {
        // Uniform on [-a, a] has standard deviation a / sqrt(3).
        let a = std * 3f32.sqrt();
        let values = (0..shape.iter().product::<usize>())
            .map(|_| centre + self.rng.random_range(-a..=a))
            .collect();
        self.map.insert(name, RawTensor { shape, values });
    }

    /// A LayerNorm away from the identity.
    fn norm(&mut self, name: &str, width: usize) {
        self.add(format!("{name}.weight"), vec![width], 1.0, 0.1);
        self.add(format!("{name}.bias"), vec![width], 0.0, 0.1);
    }

    /// `layers` residual blocks under `prefix` (`transformer` or `visual.transformer`), scaled
    /// as open_clip initialises them.
    fn blocks(&mut self, prefix: &str, width: usize, mlp: usize, layers: usize) {
        let attn_std = (width as f32).powf(-0.5);
        let proj_std = attn_std * ((2 * layers.max(1)) as f32).powf(-0.5);
        let fc_std = ((2 * width) as f32).powf(-0.5);
        for i in 0..layers {
            let b = format!("{prefix}.resblocks.{i}");
            self.norm(&format!("{b}.ln_1"), width);
            self.norm(&format!("{b}.ln_2"), width);
            let shape = vec![3 * width, width];
            self.add(format!("{b}.attn.in_proj_weight"), shape, 0.0, attn_std);
            self.add(format!("{b}.attn.in_proj_bias"), vec![3 * width], 0.0, 0.01);
            let shape = vec![width, width];
            self.add(format!("{b}.attn.out_proj.weight"), shape, 0.0, proj_std);
            self.add(format!("{b}.attn.out_proj.bias"), vec![width], 0.0, 0.01);
            self.add(
                format!("{b}.mlp.c_fc.weight"),
                vec![mlp, width],
                0.0,
                fc_std,
            );
            self.add(format!("{b}.mlp.c_fc.bias"), vec![mlp], 0.0, 0.01);
            let shape = vec![width, mlp];
            self.add(format!("{b}.mlp.c_proj.weight"), shape, 0.0, proj_std);
            self.add(format!("{b}.mlp.c_proj.bias"), vec![width], 0.0, 0.01);
        }
    }
}

/// `config`'s text tower with weights scaled as open_clip initialises them (so activations
/// stay in a realistic range: no infinities or subnormals to slow the arithmetic down), and
/// LayerNorms away from the identity.
pub fn text_tower(config: &ClipConfig, seed: u64) -> TensorMap {
    let c = &config.text_config;
    let width = c.hidden_size;
    let mut random = RandomTensors::new(seed);
    let shape = vec![c.vocab_size, width];
    random.add("token_embedding.weight".into(), shape, 0.0, 0.02);
    let shape = vec![c.max_position_embeddings, width];
    random.add("positional_embedding".into(), shape, 0.0, 0.01);
    random.blocks(
        "transformer",
        width,
        c.intermediate_size,
        c.num_hidden_layers,
    );
    random.norm("ln_final", width);
    let shape = vec![width, config.projection_dim];
    let std = (width as f32).powf(-0.5);
    random.add("text_projection".into(), shape, 0.0, std);
    random.map
}

/// `config`'s image tower, scaled as [`text_tower`]'s.
pub fn image_tower(config: &ClipConfig, seed: u64) -> TensorMap {
    let c = &config.vision_config;
    let (width, p) = (c.hidden_size, c.patch_size);
    let patches = (c.image_size / p) * (c.image_size / p);
    let std = (width as f32).powf(-0.5);
    let mut random = RandomTensors::new(seed);
    let shape = vec![width, c.num_channels, p, p];
    let patch_std = ((c.num_channels * p * p) as f32).powf(-0.5);
    random.add("visual.conv1.weight".into(), shape, 0.0, patch_std);
    random.add("visual.class_embedding".into(), vec![width], 0.0, std);
    let shape = vec![patches + 1, width];
    random.add("visual.positional_embedding".into(), shape, 0.0, std);
    random.norm("visual.ln_pre", width);
    random.blocks(
        "visual.transformer",
        width,
        c.intermediate_size,
        c.num_hidden_layers,
    );
    random.norm("visual.ln_post", width);
    let shape = vec![width, config.projection_dim];
    random.add("visual.proj".into(), shape, 0.0, std);
    random.map
}
