//! Preprocessing against PIL + torchvision (`preprocess.safetensors`, size 224) and against
//! the exact model input open_clip computed for the feature fixtures.

use clip::{PreprocessConfig, RgbImage};

use crate::common::{max_abs_diff, read_map, tensor};

fn as_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().map(|&v| v as u8).collect()
}

/// PIL's resize + centre crop, reproduced to the byte (tolerance 0 u8 levels).
#[test]
fn resize_and_crop_equals_pil() {
    let map = read_map("preprocess.safetensors");
    let cases: Vec<(usize, usize, &str)> = vec![
        (0, 0, "output.0"),
        (1, 0, "output.1"),
        (2, 0, "output.2"),
        (0, 30, "output_bottom_crop_30.0"),
    ];
    for (index, bottom_crop, output) in cases {
        let input = tensor(&map, &format!("input.{index}"));
        let pixels = as_bytes(&input.values);
        let image = RgbImage::new(input.shape[1], input.shape[0], &pixels).unwrap();
        let config = PreprocessConfig {
            bottom_crop,
            ..Default::default()
        };
        let ours = config.resize_and_crop(&image).unwrap();
        let theirs = as_bytes(&tensor(&map, output).values);
        let differing = ours.iter().zip(&theirs).filter(|(a, b)| a != b).count();
        assert_eq!(
            differing,
            0,
            "{output}: {differing} of {} bytes differ from PIL",
            theirs.len()
        );
    }
}

/// The model input from raw RGB equals open_clip's transform output (f32, 1e-6).
#[test]
fn model_input_equals_open_clip_transform() {
    let reference = read_map("open_clip.reference.safetensors");
    let pixels = tensor(&reference, "image_pixels");
    let [count, _, size, _]: [usize; 4] = pixels.shape.clone().try_into().unwrap();
    let config = PreprocessConfig {
        image_size: size,
        ..Default::default()
    };
    let mut ours = Vec::new();
    for i in 0..count {
        let rgb = tensor(&reference, &format!("image_rgb.{i}"));
        let bytes = as_bytes(&rgb.values);
        ours.extend(
            config
                .preprocess(&RgbImage::new(rgb.shape[1], rgb.shape[0], &bytes).unwrap())
                .unwrap(),
        );
    }
    let diff = max_abs_diff(&ours, &pixels.values);
    assert!(diff <= 1e-6, "max abs diff {diff}");
}

proptest::proptest! {
    /// Any image size and bottom crop that leaves pixels gives `size² * 3` bytes, and a
    /// single-colour image stays that colour (the filter weights sum to one).
    #[test]
    fn any_size_gives_a_square_of_the_same_colour(
        width in 20usize..300, height in 50usize..300, size in 1usize..64, colour in proptest::array::uniform3(0u8..),
    ) {
        let pixels: Vec<u8> = (0..width * height).flat_map(|_| colour).collect();
        let image = RgbImage::new(width, height, &pixels).unwrap();
        let config = PreprocessConfig { image_size: size, bottom_crop: 30, ..Default::default() };
        let out = config.resize_and_crop(&image).unwrap();
        proptest::prop_assert_eq!(out.len(), size * size * 3);
        proptest::prop_assert!(out.chunks(3).all(|p| p == colour));
    }
}
