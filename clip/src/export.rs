//! Models back to named tensors, the inverse of [`crate::loader`]: [`model_tensors`] and
//! [`text_tower_tensors`] name every parameter by the table of [`crate::names`] for a
//! [`Layout`]; [`export_text_tower`] writes the text tower as a compact safetensors file for
//! the browser, in f16 or int8.
//!
//! The browser file uses open_clip's names and orientation, so [`crate::load_text_tower`]
//! reads it back like any open_clip checkpoint. In the int8 form every matrix is int8 with
//! per-row scales (see [`crate::tensors`]); vectors (biases, LayerNorms) and the text
//! projection are f16 in both forms.

use burn::module::Param;
use burn::nn::{LayerNorm, Linear};
use burn::tensor::Tensor;

use crate::encoder::read_values;
use crate::model::{ClipModel, ResidualAttentionBlock, TextTransformer, VisionTransformer};
use crate::names::{AttentionInNames, Layout, Names, ProjectionName, Tower};
use crate::tensors::{
    ExportError, Precision, RawTensor, Storage, TensorMap, export_tensors, transpose,
};

// Kept here for the app's text worker, which tells an int8 export by it.
pub use crate::tensors::holds_int8;

/// The text tower as safetensors bytes in open_clip's names (reads parameters
/// synchronously: native only).
pub fn export_text_tower(
    tower: &TextTransformer,
    precision: Precision,
) -> Result<Vec<u8>, ExportError> {
    let tensors = text_tower_tensors(tower, Layout::OpenClip)?;
    export_browser_tower(&tensors, Tower::Text, precision)
}

/// Every tensor of `model` under `layout`'s names (the inverse of [`crate::load_clip`]).
pub fn model_tensors(model: &ClipModel, layout: Layout) -> Result<TensorMap, ExportError> {
    let names = Names::new(layout);
    let mut map = text_tower_tensors(&model.text, layout)?;
    map.extend(vision_tower_tensors(&model.vision, layout)?);
    map.insert(
        names.logit_scale(),
        RawTensor {
            shape: vec![],
            values: read(&model.logit_scale)?,
        },
    );
    Ok(map)
}

/// The image tower as safetensors bytes in open_clip's names, as [`export_text_tower`]
/// writes the text tower (its projection kept in f16; native only).
pub fn export_image_tower(
    tower: &VisionTransformer,
    precision: Precision,
) -> Result<Vec<u8>, ExportError> {
    let tensors = vision_tower_tensors(tower, Layout::OpenClip)?;
    export_browser_tower(&tensors, Tower::Vision, precision)
}

/// One tower's open_clip-named `tensors` in `precision`, its projection in f16: the form
/// the browser loads either tower in.
fn export_browser_tower(
    tensors: &TensorMap,
    tower: Tower,
    precision: Precision,
) -> Result<Vec<u8>, ExportError> {
    let projection = Names::new(Layout::OpenClip).projection(tower).weight();
    export_tensors(tensors, |name, _| {
        // Kept in f16 even in the int8 form: it is small and sets the feature directly.
        if name == projection {
            Storage::Compact(Precision::F16)
        } else {
            Storage::Compact(precision)
        }
    })
}

/// Every tensor of the image tower under `layout`'s names (the inverse of
/// [`crate::load_image_tower`]).
pub fn vision_tower_tensors(
    vision: &VisionTransformer,
    layout: Layout,
) -> Result<TensorMap, ExportError> {
    let names = Names::new(layout);
    let mut map = TensorMap::default();
    // burn's patch matrix `[channels * p * p, width]` is the conv weight `[width, c, p, p]`.
    let [inputs, width] = vision.patch_embedding.weight.shape().dims::<2>();
    let p = vision.patch_size;
    map.insert(
        names.patch_embedding(),
        RawTensor {
            shape: vec![width, inputs / (p * p), p, p],
            values: transpose(&read(&vision.patch_embedding.weight)?, inputs, width),
        },
    );
    insert_param(&mut map, names.class_embedding(), &vision.class_embedding)?;
    insert_param(
        &mut map,
        names.vision_positional_embedding(),
        &vision.positional_embedding,
    )?;
    insert_norm(&mut map, &names.ln_pre(), &vision.ln_pre)?;
    for (i, block) in vision.blocks.iter().enumerate() {
        insert_block(&mut map, &names, Tower::Vision, i, block)?;
    }
    insert_norm(&mut map, &names.ln_post(), &vision.ln_post)?;
    insert_projection(
        &mut map,
        names.projection(Tower::Vision),
        &vision.projection,
    )?;
    Ok(map)
}

/// Every tensor of the text tower under `layout`'s names (the inverse of
/// [`crate::load_text_tower`]).
pub fn text_tower_tensors(
    tower: &TextTransformer,
    layout: Layout,
) -> Result<TensorMap, ExportError> {
    let names = Names::new(layout);
    let mut map = TensorMap::default();
    insert_param(
        &mut map,
        names.text_token_embedding(),
        &tower.token_embedding,
    )?;
    insert_param(
        &mut map,
        names.text_positional_embedding(),
        &tower.positional_embedding,
    )?;
    for (i, block) in tower.blocks.iter().enumerate() {
        insert_block(&mut map, &names, Tower::Text, i, block)?;
    }
    insert_norm(&mut map, &names.text_ln_final(), &tower.ln_final)?;
    insert_projection(&mut map, names.projection(Tower::Text), &tower.projection)?;
    Ok(map)
}

fn insert_block(
    map: &mut TensorMap,
    names: &Names,
    tower: Tower,
    index: usize,
    block: &ResidualAttentionBlock,
) -> Result<(), ExportError> {
    let block_names = names.block(tower, index);
    insert_norm(map, &block_names.ln_1, &block.ln_1)?;
    insert_norm(map, &block_names.ln_2, &block.ln_2)?;
    // burn's fused `[width, 3 * width]` is q, k, v side by side; PyTorch stacks their
    // `[out, in]` weights as rows, which is the transpose.
    let [width, fused] = block.attn_in.weight.shape().dims::<2>();
    let weight = transpose(&read(&block.attn_in.weight)?, width, fused);
    let bias = block.attn_in.bias.as_ref().map(read).transpose()?;
    match block_names.attn_in {
        AttentionInNames::Fused {
            weight: weight_name,
            bias: bias_name,
        } => {
            map.insert(
                weight_name,
                RawTensor {
                    shape: vec![fused, width],
                    values: weight,
                },
            );
            if let Some(bias) = bias {
                map.insert(
                    bias_name,
                    RawTensor {
                        shape: vec![fused],
                        values: bias,
                    },
                );
            }
        }
        AttentionInNames::Split(parts) => {
            for (k, part) in parts.iter().enumerate() {
                map.insert(
                    format!("{part}.weight"),
                    RawTensor {
                        shape: vec![width, width],
                        values: weight[k * width * width..(k + 1) * width * width].to_vec(),
                    },
                );
                if let Some(bias) = &bias {
                    map.insert(
                        format!("{part}.bias"),
                        RawTensor {
                            shape: vec![width],
                            values: bias[k * width..(k + 1) * width].to_vec(),
                        },
                    );
                }
            }
        }
    }
    insert_linear(map, &block_names.attn_out, &block.attn_out)?;
    insert_linear(map, &block_names.mlp_fc, &block.mlp_fc)?;
    insert_linear(map, &block_names.mlp_proj, &block.mlp_proj)
}

/// A projection as its layout stores it (see [`ProjectionName`]).
fn insert_projection(
    map: &mut TensorMap,
    name: ProjectionName,
    projection: &Linear,
) -> Result<(), ExportError> {
    match name {
        ProjectionName::Linear(name) => insert_linear(map, &name, projection),
        // open_clip's matrix is `[in, out]`, like burn's weight: no transpose.
        ProjectionName::Matrix(name) => insert_param(map, name, &projection.weight),
    }
}

/// A burn Linear as PyTorch's `<name>.weight` (`[out, in]`) and, if it has one,
/// `<name>.bias`.
pub fn insert_linear(map: &mut TensorMap, name: &str, linear: &Linear) -> Result<(), ExportError> {
    let [d_in, d_out] = linear.weight.shape().dims::<2>();
    map.insert(
        format!("{name}.weight"),
        RawTensor {
            shape: vec![d_out, d_in],
            values: transpose(&read(&linear.weight)?, d_in, d_out),
        },
    );
    if let Some(bias) = &linear.bias {
        insert_param(map, format!("{name}.bias"), bias)?;
    }
    Ok(())
}

fn insert_norm(map: &mut TensorMap, name: &str, norm: &LayerNorm) -> Result<(), ExportError> {
    insert_param(map, format!("{name}.weight"), &norm.gamma)?;
    if let Some(beta) = &norm.beta {
        insert_param(map, format!("{name}.bias"), beta)?;
    }
    Ok(())
}

/// A parameter as it is, under `name`.
pub fn insert_param<const D: usize>(
    map: &mut TensorMap,
    name: impl Into<String>,
    param: &Param<Tensor<D>>,
) -> Result<(), ExportError> {
    let shape = param.shape().dims::<D>().to_vec();
    map.insert(
        name,
        RawTensor {
            shape,
            values: read(param)?,
        },
    );
    Ok(())
}

fn read<const D: usize>(param: &Param<Tensor<D>>) -> Result<Vec<f32>, ExportError> {
    Ok(read_values(param.val())?)
}
