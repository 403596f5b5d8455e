//! Queries by an image of the user's own: the browser decodes the file (any format it
//! reads, turned upright by its EXIF orientation), clip's preprocessing (PIL-exact bicubic
//! resize, centre crop) and the dataset's image tower turn it into a feature, and the
//! dataset's head or PCA puts it on the index's grid, as `precompute build` did the
//! collection's images. The tower is fetched on the first image query, not with the page.

use burn::tensor::{Device, Tensor, TensorData};
use clip::packed::PackedImageTower;
use clip::{MlpHead, PreprocessConfig, RgbImage, VisionConfig, VisionTransformer};
use dataset::ImageEncoder;
use js_sys::{Array, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Blob, ImageBitmap, OffscreenCanvas, OffscreenCanvasRenderingContext2d};

use super::Scope;
use super::encoder::{EncoderParts, HINT_DAMAGED, load_parts, through_head};
use crate::net::{self, FileCache};
use crate::projection::QueryProjection;
use crate::protocol::{Backend, Failure};

/// A picture is drawn for the preprocessing at most this many times the model's input side
/// on its short side: the browser's own high-quality downscale takes a camera's 12 MP to a
/// few hundred thousand pixels, and the PIL-exact resize does the rest (as precompute's
/// decoders take a big JPEG to a reduced scale first).
const MAX_SIDE_OVER_INPUT: f64 = 4.0;

/// What an image query that cannot be read says to do.
const HINT_IMAGE: &str = "use a JPEG, PNG, WebP, GIF or BMP file the browser can show";

/// An image tower: burn's on WebGPU, clip's packed kernels on the CPU.
enum Tower {
    Burn(Box<VisionTransformer>),
    Packed(PackedImageTower),
}

/// A loaded image encoder, for the dataset whose tower file is `weights`.
pub(super) struct ImageQueryEncoder {
    weights: String,
    tower: Tower,
    preprocess: PreprocessConfig,
    head: Option<(MlpHead, Device)>,
    projection: QueryProjection,
    /// The tower's device (burn's path).
    device: Device,
}

/// `spec`'s encoder, loaded into `loaded` unless it is the one there (its download
/// reported to the page under `seq`).
pub(super) async fn load_once<'a>(
    cache: &FileCache,
    base: &str,
    spec: &ImageEncoder,
    loaded: &'a mut Option<ImageQueryEncoder>,
    seq: u32,
    scope: &mut Scope,
) -> Result<&'a ImageQueryEncoder, Failure> {
    if loaded
        .as_ref()
        .is_none_or(|e| e.weights != spec.weights.name)
    {
        *loaded = None;
        *loaded = Some(load(cache, base, spec, seq, scope).await?);
    }
    Ok(loaded.as_ref().expect("loaded above"))
}

impl ImageQueryEncoder {
    /// The query of the image file `bytes`.
    pub(super) async fn encode(&self, bytes: &[u8]) -> Result<Vec<u8>, Failure> {
        let what = "searching by the image";
        let (width, height, rgb) = decode(bytes, self.preprocess.image_size).await?;
        let image =
            RgbImage::new(width, height, &rgb).map_err(|e| Failure::new(what, e, HINT_IMAGE))?;
        let pixels = self
            .preprocess
            .preprocess(&image)
            .map_err(|e| Failure::new(what, e, HINT_IMAGE))?;
        let feature = match &self.tower {
            Tower::Burn(tower) => {
                let size = self.preprocess.image_size;
                let input = Tensor::<4>::from_data(
                    TensorData::new(pixels, [1, 3, size, size]),
                    &self.device,
                );
                let features = tower
                    .forward(input)
                    .map_err(|e| Failure::new(what, e, HINT_DAMAGED))?;
                clip::read_rows_async(features)
                    .await
                    .map_err(|e| Failure::new(what, e, "reload the page"))?
            }
            Tower::Packed(tower) => tower
                .forward(&pixels)
                .map_err(|e| Failure::new(what, e, HINT_DAMAGED))?,
        };
        let feature = through_head(self.head.as_ref(), feature, 1, what).await?;
        self.projection
            .project(&feature)
            .map_err(|e| Failure::new(what, e, HINT_DAMAGED))
    }
}

async fn load(
    cache: &FileCache,
    base: &str,
    spec: &ImageEncoder,
    seq: u32,
    scope: &mut Scope,
) -> Result<ImageQueryEncoder, Failure> {
    let EncoderParts {
        config,
        tensors,
        precision,
        device,
        backend,
        head,
        projection,
    } = load_parts::<VisionConfig>(
        cache,
        base,
        "image encoder",
        (&spec.weights, &spec.reduction, &spec.config),
        ("image_head", spec.projection_dim),
        seq,
        scope,
    )
    .await?;
    let what = "loading the image encoder";
    let tower = tensors
        .into_image_tower(&config, spec.projection_dim, &device)
        .map_err(|e| Failure::new(what, e, HINT_DAMAGED))?;
    let tower = if backend == Backend::Cpu {
        let packed = PackedImageTower::new(&tower, config.layer_norm_eps, precision)
            .map_err(|e| Failure::new(what, e, "reload the page"))?;
        Tower::Packed(packed)
    } else {
        Tower::Burn(Box::new(tower))
    };
    Ok(ImageQueryEncoder {
        weights: spec.weights.name.clone(),
        tower,
        preprocess: PreprocessConfig {
            image_size: config.image_size,
            bottom_crop: spec.bottom_crop,
            ..Default::default()
        },
        head,
        projection,
        device,
    })
}

/// The image file `bytes` as interleaved RGB (width, height, bytes), decoded by the
/// browser and, when its short side is over [`MAX_SIDE_OVER_INPUT`] times `input_side`,
/// drawn smaller with the browser's high-quality smoothing.
async fn decode(bytes: &[u8], input_side: usize) -> Result<(usize, usize, Vec<u8>), Failure> {
    let what = "reading the image";
    let fail = |e: JsValue| Failure::new(what, net::describe(&e), HINT_IMAGE);
    let parts = Array::of1(&Uint8Array::from(bytes));
    let blob = Blob::new_with_u8_array_sequence(&parts).map_err(fail)?;
    let scope: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    let bitmap: ImageBitmap =
        JsFuture::from(scope.create_image_bitmap_with_blob(&blob).map_err(fail)?)
            .await
            .map_err(fail)?
            .unchecked_into();
    let (width, height) = (bitmap.width(), bitmap.height());
    let short = f64::from(width.min(height));
    let scale = (MAX_SIDE_OVER_INPUT * input_side as f64 / short).min(1.0);
    let (w, h) = (
        ((f64::from(width) * scale).round() as u32).max(1),
        ((f64::from(height) * scale).round() as u32).max(1),
    );
    let canvas = OffscreenCanvas::new(w, h).map_err(fail)?;
    let context: OffscreenCanvasRenderingContext2d = canvas
        .get_context("2d")
        .map_err(fail)?
        .ok_or_else(|| Failure::new(what, "no 2d canvas in this browser", HINT_IMAGE))?
        .unchecked_into();
    // Not in web-sys for offscreen canvases; a browser without it smooths at its default.
    let _ = js_sys::Reflect::set(&context, &"imageSmoothingQuality".into(), &"high".into());
    context
        .draw_image_with_image_bitmap_and_dw_and_dh(&bitmap, 0.0, 0.0, f64::from(w), f64::from(h))
        .map_err(fail)?;
    bitmap.close();
    let rgba = context
        .get_image_data(0.0, 0.0, f64::from(w), f64::from(h))
        .map_err(fail)?
        .data();
    let rgb = rgba
        .chunks_exact(4)
        .flat_map(|pixel| [pixel[0], pixel[1], pixel[2]])
        .collect();
    Ok((w as usize, h as usize, rgb))
}
