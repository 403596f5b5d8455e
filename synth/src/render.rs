//! Scenes to RGB pixels.
//!
//! The background is sampled once per pixel centre; each shape instance is sampled 4x4
//! times per pixel inside its bounding box and blended by coverage in integers, so a pixel
//! fully inside a shape has exactly the shape's colour.

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::scene::{Count, Position, Scene, Shape, Size, Texture};

/// The smallest image side [`render`] draws (shapes need a few pixels to be told apart).
pub const MIN_SIZE: u32 = 16;
/// The largest image side [`render`] draws.
pub const MAX_SIZE: u32 = 4096;

/// Samples per pixel side for shape coverage.
const SUPERSAMPLING: u32 = 4;

/// Why a scene could not be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RenderError {
    /// The requested side is outside `MIN_SIZE..=MAX_SIZE`.
    #[error("image size {size} is outside {MIN_SIZE}..={MAX_SIZE}")]
    Size {
        /// The requested side.
        size: u32,
    },
}

/// The scene as a `size` x `size` RGB image: rows top to bottom, `RGBRGB...`.
pub fn render(scene: &Scene, size: u32) -> Result<Vec<u8>, RenderError> {
    if !(MIN_SIZE..=MAX_SIZE).contains(&size) {
        return Err(RenderError::Size { size });
    }
    let d = &scene.description;
    let side = size as usize;
    let mut pixels = vec![0u8; side * side * 3];
    let base = d.background.colour.rgb();
    let shade = shade_of(base);
    let period = (size / 8).max(2);
    for y in 0..size {
        for x in 0..size {
            let patterned = match d.background.texture {
                Texture::Plain => false,
                Texture::Striped => ((x + y) / (period / 2).max(1)) % 2 == 1,
                Texture::Checkered => ((x / period) + (y / period)) % 2 == 1,
                Texture::Dotted => {
                    // Distance from the centre of this pixel's period cell, in doubled units.
                    let dx = 2 * (x % period) + 1;
                    let dy = 2 * (y % period) + 1;
                    let dx = dx.abs_diff(period);
                    let dy = dy.abs_diff(period);
                    4 * (dx * dx + dy * dy) <= period * period
                }
            };
            let colour = if patterned { shade } else { base };
            let at = (y as usize * side + x as usize) * 3;
            pixels[at..at + 3].copy_from_slice(&colour);
        }
    }
    let fill = d.colour.rgb();
    for instance in instances(scene) {
        draw(&mut pixels, size, &instance, d.shape, fill);
    }
    Ok(pixels)
}

/// The pattern's colour: the base colour 45% of the way to black (light bases) or white.
fn shade_of(base: [u8; 3]) -> [u8; 3] {
    let luma =
        (299 * u32::from(base[0]) + 587 * u32::from(base[1]) + 114 * u32::from(base[2])) / 1000;
    let target: u32 = if luma > 150 { 0 } else { 255 };
    base.map(|c| ((u32::from(c) * 55 + target * 45) / 100) as u8)
}

/// One drawn shape: centre and radius, as fractions of the image side.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Instance {
    centre: [f32; 2],
    radius: f32,
}

/// The instances of a scene: its region split into equal cells, one instance per cell,
/// offset inside the cell by the scene's jitter.
fn instances(scene: &Scene) -> Vec<Instance> {
    let d = &scene.description;
    let radius = match d.size {
        Size::Small => 0.075,
        Size::Large => 0.15,
    };
    // Region as [x0, y0, width, height] and its grid as (columns, rows).
    let n = d.count.get();
    let (region, grid) = match d.position {
        Position::Left => ([0.0, 0.0, 0.5, 1.0], (1, n)),
        Position::Right => ([0.5, 0.0, 0.5, 1.0], (1, n)),
        Position::Top => ([0.0, 0.0, 1.0, 0.5], (n, 1)),
        Position::Bottom => ([0.0, 0.5, 1.0, 0.5], (n, 1)),
        Position::Centre => {
            let grid = match d.count {
                Count::One => (1, 1),
                Count::Two => (2, 1),
                Count::Three | Count::Four => (2, 2),
            };
            ([0.175, 0.175, 0.65, 0.65], grid)
        }
    };
    let cell = [region[2] / grid.0 as f32, region[3] / grid.1 as f32];
    let mut rng = ChaCha8Rng::seed_from_u64(scene.jitter);
    (0..n)
        .map(|i| {
            let (column, row) = (i % grid.0, i / grid.0);
            let centre = [0, 1].map(|axis| {
                let start = region[axis] + cell[axis] * [column, row][axis] as f32;
                // Up to half the slack between the shape and its cell's border.
                let slack = (cell[axis] / 2.0 - radius).max(0.0) * 0.5;
                let offset = (rng.next_u32() >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0;
                start + cell[axis] / 2.0 + offset * slack
            });
            Instance { centre, radius }
        })
        .collect()
}

/// Blends one instance into the image by its 4x4 coverage of each pixel.
fn draw(pixels: &mut [u8], size: u32, instance: &Instance, shape: Shape, fill: [u8; 3]) {
    let side = size as f32;
    let [cx, cy] = instance.centre.map(|c| c * side);
    let r = instance.radius * side;
    let span = |c: f32| {
        let low = (c - r).floor().max(0.0) as u32;
        let high = ((c + r).ceil() as u32).min(size);
        low..high
    };
    let samples = SUPERSAMPLING * SUPERSAMPLING;
    for y in span(cy) {
        for x in span(cx) {
            let mut covered = 0u32;
            for sy in 0..SUPERSAMPLING {
                for sx in 0..SUPERSAMPLING {
                    let px = x as f32 + (sx as f32 + 0.5) / SUPERSAMPLING as f32;
                    let py = y as f32 + (sy as f32 + 0.5) / SUPERSAMPLING as f32;
                    if contains(shape, (px - cx) / r, (py - cy) / r) {
                        covered += 1;
                    }
                }
            }
            if covered > 0 {
                let at = (y as usize * size as usize + x as usize) * 3;
                for (channel, &f) in pixels[at..at + 3].iter_mut().zip(&fill) {
                    let blended = (u32::from(*channel) * (samples - covered)
                        + u32::from(f) * covered
                        + samples / 2)
                        / samples;
                    *channel = blended as u8;
                }
            }
        }
    }
}

/// The star's outline: outer points at radius 1, inner corners at 0.42, first point up.
const STAR: [[f32; 2]; 10] = [
    [0.0, -1.0],
    [0.246_87, -0.339_787],
    [0.951_057, -0.309_017],
    [0.399_444, 0.129_787],
    [0.587_785, 0.809_017],
    [0.0, 0.42],
    [-0.587_785, 0.809_017],
    [-0.399_444, 0.129_787],
    [-0.951_057, -0.309_017],
    [-0.246_87, -0.339_787],
];

/// An upward triangle inscribed in the unit circle.
const TRIANGLE: [[f32; 2]; 3] = [[0.0, -1.0], [0.866_025, 0.5], [-0.866_025, 0.5]];

/// Whether `(u, v)` (shape coordinates: unit radius, `v` downwards) is inside `shape`.
fn contains(shape: Shape, u: f32, v: f32) -> bool {
    match shape {
        Shape::Circle => u * u + v * v <= 1.0,
        Shape::Square => u.abs() <= 0.8 && v.abs() <= 0.8,
        Shape::Triangle => inside_polygon(&TRIANGLE, u, v),
        Shape::Star => inside_polygon(&STAR, u, v),
        Shape::Cross => (u.abs() <= 0.3 && v.abs() <= 0.9) || (v.abs() <= 0.3 && u.abs() <= 0.9),
        Shape::Heart => {
            // (x² + y² - 1)³ - x² y³ <= 0, y upwards, scaled to fit the unit circle.
            let x = u * 1.2;
            let y = -v * 1.2 + 0.15;
            let q = x * x + y * y - 1.0;
            q * q * q - x * x * y * y * y <= 0.0
        }
    }
}

/// Even-odd point-in-polygon test.
fn inside_polygon(vertices: &[[f32; 2]], u: f32, v: f32) -> bool {
    let mut inside = false;
    let mut previous = vertices[vertices.len() - 1];
    for &current in vertices {
        let crosses = (current[1] > v) != (previous[1] > v);
        if crosses {
            let x_at = current[0]
                + (v - current[1]) * (previous[0] - current[0]) / (previous[1] - current[1]);
            if u < x_at {
                inside = !inside;
            }
        }
        previous = current;
    }
    inside
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scene::{Background, Colour, Description, generate};

    fn pixel(pixels: &[u8], size: u32, x: u32, y: u32) -> [u8; 3] {
        let at = ((y * size + x) * 3) as usize;
        [pixels[at], pixels[at + 1], pixels[at + 2]]
    }

    fn single(shape: Shape, position: Position, texture: Texture) -> Scene {
        Scene {
            description: Description {
                shape,
                colour: Colour::Red,
                size: Size::Large,
                position,
                count: Count::One,
                background: Background {
                    texture,
                    colour: Colour::Blue,
                },
            },
            jitter: 7,
            wording: 0,
        }
    }

    #[test]
    fn the_centre_of_each_instance_has_the_shape_colour() {
        for scene in generate(5, 0..300) {
            let pixels = render(&scene, 64).unwrap();
            for instance in instances(&scene) {
                let [x, y] = instance.centre.map(|c| (c * 64.0) as u32);
                assert_eq!(
                    pixel(&pixels, 64, x, y),
                    scene.description.colour.rgb(),
                    "{scene:?}"
                );
            }
        }
    }

    #[test]
    fn position_puts_the_shape_in_its_half() {
        let red = Colour::Red.rgb();
        let count_red = |pixels: &[u8], xs: std::ops::Range<u32>, ys: std::ops::Range<u32>| {
            let mut n = 0;
            for y in ys {
                for x in xs.clone() {
                    n += u32::from(pixel(pixels, 64, x, y) == red);
                }
            }
            n
        };
        let left = render(&single(Shape::Square, Position::Left, Texture::Plain), 64).unwrap();
        assert!(count_red(&left, 0..32, 0..64) > 200);
        assert_eq!(count_red(&left, 32..64, 0..64), 0);
        let bottom = render(&single(Shape::Circle, Position::Bottom, Texture::Plain), 64).unwrap();
        assert!(count_red(&bottom, 0..64, 32..64) > 200);
        assert_eq!(count_red(&bottom, 0..64, 0..32), 0);
    }

    #[test]
    fn shapes_differ_in_their_pixels() {
        let images: Vec<Vec<u8>> = Shape::ALL
            .iter()
            .map(|&shape| render(&single(shape, Position::Centre, Texture::Plain), 64).unwrap())
            .collect();
        for (i, a) in images.iter().enumerate() {
            for b in &images[i + 1..] {
                let differing = a.chunks(3).zip(b.chunks(3)).filter(|(p, q)| p != q).count();
                assert!(differing > 40, "{differing} pixels differ");
            }
        }
    }

    #[test]
    fn textures_use_two_shades_and_plain_one() {
        let corner_colours = |texture| {
            let pixels = render(&single(Shape::Circle, Position::Right, texture), 64).unwrap();
            let mut colours: Vec<[u8; 3]> = (0..16)
                .flat_map(|y| (0..16).map(move |x| (x, y)))
                .map(|(x, y)| pixel(&pixels, 64, x, y))
                .collect();
            colours.sort_unstable();
            colours.dedup();
            colours.len()
        };
        assert_eq!(corner_colours(Texture::Plain), 1);
        for texture in [Texture::Striped, Texture::Dotted, Texture::Checkered] {
            assert_eq!(corner_colours(texture), 2, "{texture:?}");
        }
    }

    #[test]
    fn sizes_outside_the_range_are_refused() {
        let scene = single(Shape::Star, Position::Top, Texture::Dotted);
        assert_eq!(render(&scene, 0), Err(RenderError::Size { size: 0 }));
        assert_eq!(
            render(&scene, MAX_SIZE + 1),
            Err(RenderError::Size { size: MAX_SIZE + 1 })
        );
        assert_eq!(render(&scene, MIN_SIZE).unwrap().len(), 16 * 16 * 3);
    }
}
