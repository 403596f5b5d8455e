//! One error test per loader failure mode, and the browser export round trip.

use burn::tensor::Device;
use clip::export::export_text_tower;
use clip::tensors::{Precision, holds_int8};
use clip::{ClipConfig, LoadError, RawTensor, TensorMap, load_clip, load_text_tower};

use crate::common::{fixture, hf_fixture, min_row_cosine, read_map, reference_tokens, rows};

fn open_clip_config() -> ClipConfig {
    ClipConfig::from_open_clip_json(&std::fs::read_to_string(fixture("open_clip.json")).unwrap())
        .unwrap()
}

#[test]
fn missing_tensor_is_named() {
    let mut weights = read_map("open_clip.safetensors");
    weights
        .remove("transformer.resblocks.1.mlp.c_fc.bias")
        .unwrap();
    let err = load_clip(&weights, &open_clip_config(), &Device::flex()).unwrap_err();
    assert!(
        matches!(&err, LoadError::MissingTensor { name } if name == "transformer.resblocks.1.mlp.c_fc.bias"),
        "{err}"
    );
}

#[test]
fn wrong_shape_is_named_with_both_shapes() {
    let mut weights = read_map("open_clip.safetensors");
    weights.insert(
        "visual.ln_post.weight",
        RawTensor {
            shape: vec![5],
            values: vec![1.0; 5],
        },
    );
    let err = load_clip(&weights, &open_clip_config(), &Device::flex()).unwrap_err();
    match err {
        LoadError::WrongShape {
            name,
            expected,
            found,
        } => {
            assert_eq!(name, "visual.ln_post.weight");
            assert_eq!(expected, vec![24]);
            assert_eq!(found, vec![5]);
        }
        other => panic!("expected WrongShape, got {other}"),
    }
}

#[test]
fn config_that_disagrees_with_weights_is_a_shape_error() {
    let weights = read_map("hf/model.safetensors");
    let err = load_clip(&weights, &ClipConfig::vit_b_32(), &Device::flex()).unwrap_err();
    assert!(
        matches!(&err, LoadError::WrongShape { name, .. } if name == "text_model.embeddings.token_embedding.weight"),
        "{err}"
    );
}

#[test]
fn wrong_files_are_refused() {
    assert!(matches!(
        TensorMap::from_safetensors(b"definitely not safetensors"),
        Err(LoadError::Safetensors(_))
    ));
    let reference = read_map("preprocess.safetensors");
    assert!(matches!(
        load_clip(&reference, &open_clip_config(), &Device::flex()),
        Err(LoadError::UnknownLayout { .. })
    ));
    assert!(matches!(
        TensorMap::from_pytorch_file(&fixture("open_clip.json"), None),
        Err(LoadError::Pytorch(_))
    ));
}

#[test]
fn prefixed_keys_load() {
    let weights = read_map("open_clip.safetensors");
    let mut prefixed = TensorMap::default();
    for name in weights.names() {
        prefixed.insert(format!("module.{name}"), weights.get(name).unwrap().clone());
    }
    load_clip(&prefixed, &open_clip_config(), &Device::flex()).unwrap();
}

/// f16 and int8 exports load back and stay within 1e-2 cosine of the f32 tower.
#[test]
fn exported_text_tower_round_trips() {
    let device = Device::flex();
    let fixture = hf_fixture(&device);
    let tokens = reference_tokens(&fixture.reference);
    let f32_features = rows(fixture.model.text.forward(&tokens).unwrap());
    let width = fixture.config.projection_dim;
    for precision in [Precision::F16, Precision::Int8] {
        let bytes = export_text_tower(&fixture.model.text, precision).unwrap();
        assert_eq!(holds_int8(&bytes).unwrap(), precision == Precision::Int8);
        let weights = TensorMap::from_safetensors(&bytes).unwrap();
        let tower = load_text_tower(&weights, &fixture.config.text_config, width, &device).unwrap();
        let features = rows(tower.forward(&tokens).unwrap());
        let cosine = min_row_cosine(&features, &f32_features, width);
        eprintln!(
            "{precision:?} export: {} bytes, min cosine to f32 {cosine:.6}",
            bytes.len()
        );
        assert!(cosine >= 0.99, "{precision:?}: min cosine {cosine}");
    }
}

/// `TensorMap::into_text_tower` (tensors moved, not copied) builds the same tower as
/// `load_text_tower`, in both layouts, and names a missing or mis-shaped tensor the same way.
#[test]
fn text_tower_from_an_owned_map_equals_the_borrowed_load() {
    let device = Device::flex();
    for (file, config) in [
        (
            "hf/model.safetensors",
            ClipConfig::from_hf_json(&std::fs::read_to_string(fixture("hf/config.json")).unwrap())
                .unwrap(),
        ),
        ("open_clip.safetensors", open_clip_config()),
    ] {
        let weights = read_map(file);
        let width = config.projection_dim;
        let tokens = reference_tokens(&read_map(if file.starts_with("hf") {
            "hf.reference.safetensors"
        } else {
            "open_clip.reference.safetensors"
        }));
        let borrowed = load_text_tower(&weights, &config.text_config, width, &device).unwrap();
        let owned = weights
            .into_text_tower(&config.text_config, width, &device)
            .unwrap();
        assert_eq!(
            rows(owned.forward(&tokens).unwrap()),
            rows(borrowed.forward(&tokens).unwrap()),
            "{file}"
        );
    }

    let mut weights = read_map("open_clip.safetensors");
    weights
        .remove("transformer.resblocks.1.ln_2.weight")
        .unwrap();
    let err = weights
        .into_text_tower(&open_clip_config().text_config, 10, &device)
        .unwrap_err();
    assert!(
        matches!(&err, LoadError::MissingTensor { name } if name == "transformer.resblocks.1.ln_2.weight"),
        "{err}"
    );
    let mut weights = read_map("open_clip.safetensors");
    weights.insert(
        "ln_final.bias",
        RawTensor {
            shape: vec![3],
            values: vec![0.0; 3],
        },
    );
    let err = weights
        .into_text_tower(&open_clip_config().text_config, 10, &device)
        .unwrap_err();
    assert!(
        matches!(&err, LoadError::WrongShape { name, .. } if name == "ln_final.bias"),
        "{err}"
    );
}
